package deflate

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"container/heap"
	"io"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The decoder of every test is the standard library's, independent of the
// encoder under test.
func inflate(t testing.TB, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip header: %v", err)
	}
	r.Multistream(false)
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

// inputs covers each kind of block and each path of the matcher: empty and
// tiny inputs, text, the contract's own documents, long runs (matches
// longer than 258 bytes, overlapping their source), incompressible bytes
// (stored blocks), inputs over one block (matches across blocks) and over
// the window.
func inputs(t testing.TB) map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 70_000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	words := strings.Fields("the quick brown fox jumps over a lazy dog photo url thumbnail style sku size quantity")
	var text strings.Builder
	for text.Len() < 200_000 {
		text.WriteString(words[rng.IntN(len(words))])
		text.WriteByte(" ,.\n"[rng.IntN(4)])
	}
	in := map[string][]byte{
		"empty":      {},
		"one byte":   {'x'},
		"three":      []byte("abc"),
		"four same":  []byte("aaaa"),
		"short json": []byte(`{"product_id":"1","results":[]}`),
		"zeros":      make([]byte, 100_000),
		"run":        []byte(strings.Repeat("ab", 5000)),
		"random":     random,
		"text":       []byte(text.String()),
		"mixed":      append(append(append([]byte{}, random[:3000]...), text.String()[:40_000]...), random[:3000]...),
	}
	files, _ := filepath.Glob("../../testdata/atelier-sample/upstream/*.json")
	if len(files) == 0 {
		t.Fatal("no documents in testdata/atelier-sample/upstream")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in[f] = b
	}
	return in
}

func TestRoundTrip(t *testing.T) {
	var e Encoder // one Encoder for every input: reuse must not leak state
	for name, b := range inputs(t) {
		d := e.AppendDeflate([]byte("prefix"), b)
		if !bytes.HasPrefix(d, []byte("prefix")) {
			t.Fatalf("%s: AppendDeflate did not append", name)
		}
		if got := inflate(t, d[len("prefix"):]); !bytes.Equal(got, b) {
			t.Fatalf("%s: inflates to %d bytes, want %d", name, len(got), len(b))
		}
		g := e.AppendGzip(nil, b)
		if got := gunzip(t, g); !bytes.Equal(got, b) {
			t.Fatalf("%s: gunzips to %d bytes, want %d", name, len(got), len(b))
		}
		var fresh Encoder
		if g2 := fresh.AppendGzip(nil, b); !bytes.Equal(g, g2) {
			t.Fatalf("%s: a reused Encoder wrote other bytes than a fresh one", name)
		}
	}
}

// TestCompresses: repetitive inputs get smaller (matches and a dynamic
// code are used), random ones grow by a stored block's few bytes only.
func TestCompresses(t *testing.T) {
	var e Encoder
	in := inputs(t)
	for _, name := range []string{"zeros", "run"} {
		if n := len(e.AppendDeflate(nil, in[name])); n*100 > len(in[name]) {
			t.Errorf("%s: %d bytes coded into %d", name, len(in[name]), n)
		}
	}
	for _, name := range []string{"text", "mixed"} {
		n := len(e.AppendDeflate(nil, in[name]))
		var std bytes.Buffer
		w, _ := flate.NewWriter(&std, flate.BestSpeed)
		w.Write(in[name])
		w.Close()
		t.Logf("%s: %d bytes coded into %d, compress/flate's BestSpeed %d", name, len(in[name]), n, std.Len())
		if float64(n) > 1.05*float64(std.Len()) {
			t.Errorf("%s: %d bytes coded into %d, compress/flate's BestSpeed %d", name, len(in[name]), n, std.Len())
		}
	}
	r := in["random"]
	if n := len(e.AppendDeflate(nil, r)); n > len(r)+5*(len(r)/blockInput+1) {
		t.Errorf("random: %d bytes coded into %d, more than stored blocks", len(r), n)
	}
}

// TestCodes checks build against its definition: a complete prefix code
// (Kraft's sum exactly one), no length over the limit, and, when the plain
// Huffman code fits the limit, exactly its cost (computed here with a
// heap, the textbook way).
func TestCodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fib := make([]uint32, 30)
	fib[0], fib[1] = 1, 1
	for i := 2; i < len(fib); i++ {
		fib[i] = fib[i-1] + fib[i-2]
	}
	cases := map[string][]uint32{
		"fibonacci, 30 symbols (depth 29 unlimited)": fib,
		"fibonacci, 19 symbols":                      fib[:19],
		"two":                                        {5, 0, 7},
		"equal":                                      {3, 3, 3, 3, 3, 3, 3, 3},
	}
	for i := range 50 {
		f := make([]uint32, 2+rng.IntN(numLitLen-2))
		for s := range f {
			if rng.IntN(3) > 0 {
				f[s] = uint32(rng.IntN(1 + rng.IntN(30000)))
			}
		}
		cases[string(rune('A'+i))] = f
	}
	var sc scratch
	for name, freq := range cases {
		for _, limit := range []int{15, 7} {
			if limit == 7 && len(freq) > numCodeLen {
				continue // limit 7 is the code-length code's, of 19 symbols
			}
			var c code
			c.build(freq, limit, &sc)
			used, kraft, cost := 0, 0.0, 0
			for s, f := range freq {
				l := int(c.lens[s])
				if f == 0 {
					if l != 0 {
						t.Fatalf("%s: unused symbol %d has length %d", name, s, l)
					}
					continue
				}
				used++
				if l < 1 || l > limit {
					t.Fatalf("%s, limit %d: symbol %d has length %d", name, limit, s, l)
				}
				kraft += 1 / float64(uint64(1)<<l)
				cost += int(f) * l
			}
			if used >= 2 && kraft != 1 {
				t.Fatalf("%s, limit %d: Kraft sum %v, want 1", name, limit, kraft)
			}
			if want, depth := huffmanCost(freq); depth <= limit && cost != want {
				t.Fatalf("%s, limit %d: cost %d, want the Huffman code's %d", name, limit, cost, want)
			}
		}
	}
}

// huffmanCost is the cost (sum of frequency times length) of a Huffman
// code for freq and its depth, by repeatedly merging the two lightest.
func huffmanCost(freq []uint32) (cost, depth int) {
	h := &nodes{}
	for _, f := range freq {
		if f != 0 {
			*h = append(*h, node{int(f), 0})
		}
	}
	if len(*h) < 2 {
		return int(freq[0]), 1
	}
	heap.Init(h)
	for h.Len() > 1 {
		a, b := heap.Pop(h).(node), heap.Pop(h).(node)
		cost += a.w + b.w
		heap.Push(h, node{a.w + b.w, max(a.d, b.d) + 1})
	}
	return cost, (*h)[0].d
}

type node struct{ w, d int }
type nodes []node

func (h nodes) Len() int           { return len(h) }
func (h nodes) Less(i, j int) bool { return h[i].w < h[j].w }
func (h nodes) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nodes) Push(x any)        { *h = append(*h, x.(node)) }
func (h *nodes) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// TestDeepCode: an input whose plain Huffman code is deeper than 15 bits
// (symbol frequencies in a Fibonacci sequence) still round-trips.
func TestDeepCode(t *testing.T) {
	var b []byte
	a, c := 1, 1
	for s := range 22 {
		for range a {
			b = append(b, byte('A'+s))
		}
		a, c = c, a+c
	}
	rng := rand.New(rand.NewPCG(5, 6))
	rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	b = b[:min(len(b), blockInput)]
	var e Encoder
	if got := inflate(t, e.AppendDeflate(nil, b)); !bytes.Equal(got, b) {
		t.Fatal("a deep code does not round-trip")
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, b := range inputs(f) {
		if len(b) < 4096 {
			f.Add(b)
		}
	}
	var e Encoder
	f.Fuzz(func(t *testing.T, b []byte) {
		g := e.AppendGzip(nil, b)
		if got := gunzip(t, g); !bytes.Equal(got, b) {
			t.Fatalf("gunzips to %q, want %q", got, b)
		}
	})
}

// TestFixedCode: the fixed code's codes are RFC 1951 3.2.6's table.
func TestFixedCode(t *testing.T) {
	for _, tc := range []struct {
		sym       int
		code, len uint16
	}{
		{0, 0b00110000, 8}, {143, 0b10111111, 8}, {144, 0b110010000, 9}, {255, 0b111111111, 9},
		{256, 0b0000000, 7}, {279, 0b0010111, 7}, {280, 0b11000000, 8}, {287, 0b11000111, 8},
	} {
		l := uint16(fixedLit.lens[tc.sym])
		got := bits.Reverse16(fixedLit.codes[tc.sym]) >> (16 - l)
		if l != tc.len || got != tc.code {
			t.Errorf("symbol %d: code %b (%d bits), want %b (%d bits)", tc.sym, got, l, tc.code, tc.len)
		}
	}
}

// TestBlockTypes: each kind of block is chosen where it is the shortest,
// and read back.
func TestBlockTypes(t *testing.T) {
	in := inputs(t)
	var e Encoder
	for _, tc := range []struct {
		name  string
		b     []byte
		btype byte
	}{
		{"incompressible: stored", in["random"][:2000], 0},
		{"one byte over 143: fixed", []byte{0xc5}, 1},
		{"text: dynamic", in["text"][:5000], 2},
	} {
		d := e.AppendDeflate(nil, tc.b)
		if got := d[0] >> 1 & 3; got != tc.btype {
			t.Errorf("%s: block type %d, want %d", tc.name, got, tc.btype)
		}
		if !bytes.Equal(inflate(t, d), tc.b) {
			t.Errorf("%s: does not round-trip", tc.name)
		}
	}
}
