package build

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// The documents' JSON strings are written by appendJSONString, by hand (on
// the hot path of every build). These tests hold it to encoding/json: the
// bytes must decode to the input, and match encoding/json's encoding except
// where both forms are standard (\u0008 and \u000c for \b and \f).

func encodingJSON(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // <, > and & need no escape in an API body
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	in := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	var out []byte
	for i := 0; i < len(in); i++ {
		if in[i] != '\\' || i+1 == len(in) {
			out = append(out, in[i])
			continue
		}
		i++
		switch in[i] {
		case 'b':
			out = append(out, `\u0008`...)
		case 'f':
			out = append(out, `\u000c`...)
		default:
			out = append(out, '\\', in[i])
		}
	}
	return out
}

func checkEscape(t testing.TB, s string) {
	t.Helper()
	got := appendJSONString(nil, []byte(s))
	var back string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%q: not a JSON string: %s (%v)", s, got, err)
	}
	if back != s {
		t.Fatalf("%q encodes to %s, which decodes to %q", s, got, back)
	}
	if want := encodingJSON(t, s); !bytes.Equal(got, want) {
		t.Fatalf("%q: got %s, encoding/json gives %s", s, got, want)
	}
	for _, r := range string(got) {
		if r < 0x20 || r == '\u2028' || r == '\u2029' {
			t.Fatalf("%q: raw %U in the output %s", s, r, got)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	var controls strings.Builder
	for c := rune(0); c < 0x20; c++ {
		controls.WriteRune(c)
	}
	for _, s := range []string{
		"", "plain", `say "hi"`, `back\slash`, `\"`, `""`, `\\`,
		"tab\there", "new\nline", "cr\rlf\n", "\x00", "\x7f del", controls.String(),
		"line\u2028sep", "para\u2029sep", "\u2028\u2029",
		"é à ü ß 漢字", "emoji 😀 🇫🇷", "\U0010FFFF", "ÉLIER",
		"<script>&amp;</script>", "/slash/", strings.Repeat(`a"b\c`+"\n", 10000),
		"https://images.unsplash.com/photo-1501088430049-71c79fa3283e?ixlib=rb-1.2.1&auto=format&fit=crop&w=668&q=80",
	} {
		checkEscape(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\\", "\x01\x1f", "\u2028", "😀", "Forest Green & Black"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("the loader rejects invalid UTF-8 before it reaches a document")
		}
		checkEscape(t, s)
	})
}

func TestNeedsEscape(t *testing.T) {
	// Every byte value in every position of an otherwise plain word.
	for pos := range 8 {
		for c := range 256 {
			w := []byte("abcdefgh")
			w[pos] = byte(c)
			want := c < 0x20 || c == '"' || c == '\\' || c >= 0x80
			got := needsEscape(binary.LittleEndian.Uint64(w)) != 0
			if got != want {
				t.Fatalf("byte %#x at %d: needsEscape %v, want %v", c, pos, got, want)
			}
		}
	}
}

func BenchmarkAppendJSONString(b *testing.B) {
	s := []byte("https://images.unsplash.com/photo-1501088430049-71c79fa3283e?ixlib=rb-1.2.1&auto=format&fit=crop&w=668&q=80")
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = appendJSONString(buf[:0], s)
	}
}
