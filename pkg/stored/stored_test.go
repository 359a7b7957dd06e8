package stored

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"strings"
	"testing"
)

// decodeStd decodes with the standard library's gzip, independently of
// the package's own decoder.
func decodeStd(t testing.TB, b []byte) []byte {
	t.Helper()
	r, err := stdgzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppend(t *testing.T) {
	e := NewEncoder()
	long := []byte(`{"product_id":"1","results":[` + strings.Repeat(`{"url":"https://images.example/photo-1542272604-787c3835535d?w=1000","thumbnail_url":"x"},`, 20) + `{}]}`)
	for _, tc := range []struct {
		name  string
		body  []byte
		coded bool
	}{
		{"empty", []byte{}, false},
		{"short", []byte(`{"product_id":"1","results":[]}`), false},
		{"repetitive", long, true},
		{"incompressible", incompressible(2000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.Append([]byte("prefix"), tc.body)
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatalf("Append did not append: %q", got[:min(len(got), 10)])
			}
			s := got[len("prefix"):]
			if Coded(s) != tc.coded {
				t.Fatalf("Coded = %v, want %v (%d bytes from %d)", Coded(s), tc.coded, len(s), len(tc.body))
			}
			if tc.coded {
				if len(s) >= len(tc.body) {
					t.Fatalf("coded %d bytes into %d", len(tc.body), len(s))
				}
				if d := decodeStd(t, s); !bytes.Equal(d, tc.body) {
					t.Fatalf("standard gzip decodes to %q, want %q", d, tc.body)
				}
			} else if !bytes.Equal(s, tc.body) {
				t.Fatalf("stored %q, want the body as it is", s)
			}
			d, err := Decode([]byte("x"), s)
			if err != nil || !bytes.Equal(d, append([]byte("x"), tc.body...)) {
				t.Fatalf("Decode = %q, %v", d, err)
			}
			if again := e.Append(nil, tc.body); !bytes.Equal(again, s) {
				t.Fatal("the same body stored twice differs")
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	b := NewEncoder().Append(nil, bytes.Repeat([]byte(`{"a":"bbbbbbbb"},`), 100))
	if !Coded(b) {
		t.Fatal("not coded")
	}
	for _, bad := range [][]byte{b[:10], b[:len(b)-4], append(append([]byte{}, b[:len(b)-1]...), b[len(b)-1]^1)} {
		if _, err := Decode(nil, bad); err == nil {
			t.Fatalf("Decode of %d corrupt bytes: no error", len(bad))
		}
	}
}

// incompressible is n bytes that gzip cannot shrink.
func incompressible(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	b[0] = '"'
	return b
}

// FuzzDecode: any stored bytes decode to something or fail with an error,
// never a panic; an encoded body always decodes back to itself.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"a":1}`))
	f.Add(NewEncoder().Append(nil, bytes.Repeat([]byte(`{"url":"https://x"}`), 80)))
	f.Add([]byte{0x1f, 0x8b})
	e := NewEncoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Decode(nil, b)
		s := e.Append(nil, b)
		d, err := Decode(nil, s)
		if err != nil {
			t.Fatalf("Decode of an encoded body: %v", err)
		}
		if !bytes.Equal(d, b) {
			t.Fatalf("round trip: %q became %q", b, d)
		}
	})
}
