package stored

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// productDocs makes n product documents of the shape a build writes, from
// a small vocabulary, as a catalogue's are.
func productDocs(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 1))
	names := []string{"Camo Onesie", "Morning Joggers", "Heir Force Ones", "Slacker's Slacks", "Bright Future Sunglasses"}
	sentences := []string{
		"The So Fatigues will wake you up and fit you in.",
		"Whether you're a morning person or not.",
		"Touch down in the land of the Delta Blues in the middle of the pouring rain.",
		"Where you're going you might not need roads, but you definitely need some shades.",
	}
	cats := []string{"Jackets", "Pants", "Kicks", "Accessories", "Dress Shoes"}
	feats := []string{`{"feature":"Fabric","value":"Canvas"}`, `{"feature":"Sole","value":"Rubber"}`, `{"feature":"Buttons","value":"Brass"}`}
	docs := make([][]byte, n)
	for i := range docs {
		desc := ""
		for range 1 + r.IntN(3) {
			desc += sentences[r.IntN(len(sentences))] + " "
		}
		docs[i] = fmt.Appendf(nil, `{"id":%d,"name":%q,"slogan":"A sneaker dynasty","description":%q,"category":%q,"default_price":"%d.00","features":[%s]}`,
			i+1, names[r.IntN(len(names))], desc, cats[r.IntN(len(cats))], 10+r.IntN(900), feats[r.IntN(len(feats))])
	}
	return docs
}

func trained(t *testing.T, id int64) *Dict {
	t.Helper()
	d, err := TrainDict(id, productDocs(DictSamples, 1))
	if err != nil || d == nil {
		t.Fatalf("TrainDict = %v, %v", d, err)
	}
	return d
}

func TestPackRoundTrip(t *testing.T) {
	d := trained(t, 7)
	if again, err := NewDict(7, d.Bytes()); err != nil || !bytes.Equal(again.Bytes(), d.Bytes()) {
		t.Fatalf("NewDict(Bytes()) = %v, %v", again, err)
	}
	var plain, packed int
	for _, body := range productDocs(2000, 2) { // not the documents learnt from
		p := d.Append([]byte("prefix"), body)
		if !bytes.HasPrefix(p, []byte("prefix")) {
			t.Fatalf("Append did not append: %q", p[:10])
		}
		p = p[len("prefix"):]
		if !Packed(p) {
			t.Fatalf("not packed: %q", p)
		}
		if id, err := PackedDict(p); err != nil || id != 7 {
			t.Fatalf("PackedDict = %d, %v", id, err)
		}
		got, err := d.Unpack([]byte("x"), p)
		if err != nil || !bytes.Equal(got, append([]byte("x"), body...)) {
			t.Fatalf("Unpack = %q, %v; want x%q", got, err, body)
		}
		if _, err := Decode(nil, p); !errors.Is(err, ErrPacked) {
			t.Fatalf("Decode of a packed document: %v, want ErrPacked", err)
		}
		plain, packed = plain+len(body), packed+len(p)
	}
	// What the dictionary is for: well under half (gzip takes such a
	// document to about 0.7x).
	if r := float64(packed) / float64(plain); r > 0.5 {
		t.Errorf("packed to %.2fx of the plain bytes", r)
	}
}

func TestPackKeepsWhatDoesNotShrink(t *testing.T) {
	d := trained(t, 3)
	for _, body := range [][]byte{{}, []byte(`{}`), incompressible(300)} {
		if got := d.Append(nil, body); !bytes.Equal(got, body) {
			t.Errorf("Append(%q) = %q, want the body as it is", body[:min(len(body), 8)], got[:min(len(got), 8)])
		}
	}
	// A body that starts as a packed document does is packed however
	// little it shrinks; Encoder codes it: both read back as the body.
	for _, body := range [][]byte{{PackMark}, append([]byte{PackMark}, incompressible(50)...)} {
		p := d.Append(nil, body)
		if got, err := d.Unpack(nil, p); err != nil || !bytes.Equal(got, body) {
			t.Errorf("Unpack(Append(%q)) = %q, %v", body, got, err)
		}
		c := NewEncoder().Append(nil, body)
		if got, err := Decode(nil, c); err != nil || !bytes.Equal(got, body) {
			t.Errorf("Decode(Encoder.Append(%q)) = %q, %v", body, got, err)
		}
	}
}

func TestTrainDictNeedsSamples(t *testing.T) {
	if d, err := TrainDict(1, productDocs(minSamples-1, 1)); d != nil || err != nil {
		t.Errorf("TrainDict from %d documents = %v, %v; want nil, nil", minSamples-1, d, err)
	}
	if _, err := NewDict(0, trained(t, 1).Bytes()); err == nil {
		t.Error("NewDict accepted id 0")
	}
	if _, err := NewDict(1, []byte{1, 2, 3}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("NewDict of junk: %v, want ErrCorrupt", err)
	}
}

func TestUnpackRejects(t *testing.T) {
	d := trained(t, 5)
	p := d.Append(nil, productDocs(1, 9)[0])
	huge := binary.AppendUvarint([]byte{PackMark, 5}, MaxPacked+1) // a block claiming too much
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"another dictionary", trained(t, 6).Append(nil, productDocs(1, 9)[0]), ErrNoDict},
		{"truncated", p[:len(p)-3], ErrCorrupt},
		{"no id", []byte{PackMark}, ErrCorrupt},
		{"id 0", []byte{PackMark, 0, 1, 0}, ErrCorrupt},
		{"a huge length", huge, ErrCorrupt},
		{"not packed", []byte(`{}`), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Unpack([]byte("x"), tc.b)
			if !errors.Is(err, tc.want) || string(got) != "x" {
				t.Errorf("Unpack = %q, %v; want x, %v", got, err, tc.want)
			}
		})
	}
}

func TestDicts(t *testing.T) {
	var s Dicts
	body := productDocs(1, 4)[0]
	d := trained(t, 11)
	p := d.Append(nil, body)
	if s.Get(11) != nil {
		t.Fatal("Get before the dictionary is added")
	}
	s.Add(d)
	if got, err := s.Get(11).Unpack(nil, p); err != nil || !bytes.Equal(got, body) {
		t.Errorf("Unpack with the added dictionary = %.40q, %v", got, err)
	}
	// It keeps the newest keepDicts.
	for id := int64(12); id < 12+keepDicts; id++ {
		s.Add(trained(t, id))
	}
	if s.Get(11) != nil || s.Get(12) == nil || s.Get(11+keepDicts) == nil {
		t.Errorf("after %d more, kept 11: %v, 12: %v", keepDicts, s.Get(11) != nil, s.Get(12) != nil)
	}
}

// FuzzUnpack: any bytes unpack to something or fail with an error, never
// a panic nor an allocation past MaxPacked; a packed body unpacks to
// itself.
func FuzzUnpack(f *testing.F) {
	d, err := TrainDict(1, productDocs(DictSamples, 1))
	if err != nil || d == nil {
		f.Fatal(err)
	}
	f.Add(d.Append(nil, productDocs(1, 3)[0]))
	f.Add([]byte{PackMark, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := d.Unpack(nil, b); err == nil && len(got) > MaxPacked {
			t.Fatalf("unpacked %d bytes", len(got))
		}
		p := d.Append(nil, b)
		got, err := d.Unpack(nil, p)
		if !Packed(p) {
			got, err = p, nil
		}
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip of %q: %q, %v", b, got, err)
		}
	})
}
