package api

import (
	"bytes"
	"compress/gzip"
	"hash/crc32"
	"io"
	"testing"
)

// TestCRC32Combine: the CRC of A followed by B from the CRCs of A and B and
// B's length (zlib's crc32_combine), as x2nModP and multModP work it out,
// and as a piece's own operator does.
func TestCRC32Combine(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"", ""}, {"a", ""}, {"", "b"}, {"[", `{"id":1}`},
		{`{"id":1,"name":"Camo Onesie"}`, `,{"id":2,"name":"Bright Future Sunglasses","slogan":"You've got to wear shades"}`},
		{string(bytes.Repeat([]byte("x"), 100000)), string(bytes.Repeat([]byte("y"), 70000))},
	} {
		want := crc32.ChecksumIEEE([]byte(tc.a + tc.b))
		if got := multModP(x2nModP(int64(len(tc.b)), 3), crc32.ChecksumIEEE([]byte(tc.a))) ^ crc32.ChecksumIEEE([]byte(tc.b)); got != want {
			t.Errorf("combining %.20q and %.20q: %08x, want %08x", tc.a, tc.b, got, want)
		}
		// A piece's own operator, worked out when it was made.
		if got := mustPiece(tc.b).combine(crc32.ChecksumIEEE([]byte(tc.a))); got != want {
			t.Errorf("piece(%.20q).combine(crc of %.20q) = %08x, want %08x", tc.b, tc.a, got, want)
		}
	}
}

// assemble puts a page together from items as servePieces does.
func assemble(t testing.TB, items [][]byte) ([]byte, int64) {
	t.Helper()
	var b pageBuilder
	b.start(nil)
	for _, it := range items {
		p, ok := pieceOf(appendPiece(nil, it))
		if !ok {
			t.Fatal("pieceOf")
		}
		b.add(p)
	}
	return b.finish()
}

// gunzipStrict decodes with the standard library's gzip (one member),
// which checks the CRC-32 and the length in the trailer.
func gunzipStrict(t testing.TB, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip header: %v", err)
	}
	r.Multistream(false)
	p, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	return p
}

func TestPageFromPieces(t *testing.T) {
	items := [][]byte{
		[]byte(`{"id":1,"name":"Camo Onesie","slogan":"Blend in to your crowd","description":"The So Fatigues will wake you up and fit you in.","category":"Jackets","default_price":"140.00"}`),
		[]byte(`{"id":2,"name":"Bright Future Sunglasses","slogan":"You've got to wear shades","description":"Where you're going you might not need roads, but you definitely need some shades.","category":"Accessories","default_price":"69.00"}`),
		[]byte(`{"id":3,"name":"é \u2028 \"quoted\"","slogan":"","description":"","category":"","default_price":"0.00"}`),
	}
	for n := 1; n <= len(items); n++ {
		want := append([]byte("["), bytes.Join(items[:n], []byte(","))...)
		want = append(want, ']')
		gz, hash := assemble(t, items[:n])
		if got := gunzipStrict(t, gz); !bytes.Equal(got, want) {
			t.Fatalf("%d items: decodes to %q, want %q", n, got, want)
		}
		if hash != pageHash(want) {
			t.Errorf("%d items: hash %x, want pageHash %x", n, hash, pageHash(want))
		}
		if n == len(items) && len(gz) >= len(want) {
			t.Errorf("%d items: %d bytes in gzip, %d plain", n, len(gz), len(want))
		}
	}
}

// FuzzPieces: any items put together decode (strict gzip) to the page
// "[" + items joined by "," + "]", with the page's hash.
func FuzzPieces(f *testing.F) {
	f.Add([]byte(`{"id":1}`), []byte(`{"id":2,"name":"x"}`), uint8(2))
	f.Add([]byte{}, bytes.Repeat([]byte("ab"), 5000), uint8(1))
	f.Fuzz(func(t *testing.T, a, b []byte, n uint8) {
		items := [][]byte{a, b, a}[:1+int(n)%3]
		want := append([]byte("["), bytes.Join(items, []byte(","))...)
		want = append(want, ']')
		gz, hash := assemble(t, items)
		if got := gunzipStrict(t, gz); !bytes.Equal(got, want) {
			t.Fatalf("decodes to %q, want %q", got, want)
		}
		if hash != pageHash(want) {
			t.Fatalf("hash %x, want %x", hash, pageHash(want))
		}
	})
}

// appendSplitGzip appends the product document of a split entry in gzip,
// into a buffer of its own: what splitToGzip must write in place.
func appendSplitGzip(dst []byte, head, tail piece) []byte {
	out := append(append(append(dst, gzipHeader...), head.deflate...), tail.deflate...)
	return endGzip(out, tail.combine(head.crc), head.n+tail.n)
}

func TestSplitEntry(t *testing.T) {
	item := []byte(`{"id":1,"name":"Camo Onesie","slogan":"Blend in","description":"The So Fatigues.","category":"Jackets","default_price":"140.00"}`)
	product := append(append([]byte{}, item[:len(item)-1]...), `,"features":[{"feature":"Fabric","value":"Canvas"},{"feature":"Buttons","value":null}]}`...)
	v, ok := appendSplit([]byte("x"), item, product)
	if !ok || !isSplit(v[1:]) {
		t.Fatalf("appendSplit: %v", ok)
	}
	head, tail, ok := splitOf(v[1:])
	if !ok {
		t.Fatal("splitOf")
	}
	member := appendSplitGzip(nil, head, tail)
	if got := gunzipStrict(t, member); !bytes.Equal(got, product) {
		t.Fatalf("the product document decodes to %q", got)
	}
	// In place, in the entry's own bytes: the same member, no new array.
	entry := append([]byte(nil), v[1:]...)
	inPlace, ok := splitToGzip(entry)
	if !ok || !bytes.Equal(inPlace, member) || &inPlace[0] != &entry[0] {
		t.Fatalf("splitToGzip = %x, %v (in place %v); want %x", inPlace, ok, ok && &inPlace[0] == &entry[0], member)
	}
	if _, ok := splitToGzip(entry[:10]); ok {
		t.Error("splitToGzip took a truncated entry")
	}
	var b pageBuilder
	b.start(nil)
	b.addHead(head)
	b.addHead(head)
	gz, hash := b.finish()
	want := append(append(append(append([]byte("["), item...), ','), item...), ']')
	if got := gunzipStrict(t, gz); !bytes.Equal(got, want) || hash != pageHash(want) {
		t.Fatalf("a page of the item twice decodes to %q (hash %x, want %x)", got, hash, pageHash(want))
	}
	// Not one another's: no split entry.
	for _, bad := range [][]byte{[]byte(`{"id":2}`), item, append(append([]byte{}, item[:len(item)-1]...), `,"other":1}`...)} {
		if _, ok := appendSplit(nil, item, bad); ok {
			t.Errorf("appendSplit(%q) made a split entry", bad)
		}
	}
}
