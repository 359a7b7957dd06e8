package api

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		h    string
		want encoding
	}{
		{"", encIdentity},
		{"gzip", encGzip},
		{"x-gzip", encGzip},
		{"br", encBrotli},
		{"BR", encBrotli},
		{"gzip, deflate, br", encGzip}, // what browsers send: the stored coding
		{" gzip ;q=1 , br ; q=0.9", encGzip},
		{"br;q=0.9, gzip;q=0.9", encGzip},
		{"br;q=1, gzip;q=0.1", encGzip}, // acceptable: stored, so preferred
		{"br, gzip;q=0", encBrotli},
		{"br, identity;q=0", encBrotli},
		{"identity;q=0", encIdentity}, // nothing acceptable: no coding (RFC 9110 §12.5.3)
		{"br;q=0, gzip;q=0", encIdentity},
		{"br;q=0.000, gzip;q=0.001", encGzip},
		{"br;q=1.000", encBrotli},
		{"br;q=1.5", encIdentity},
		{"br;q=0.1234", encIdentity},
		{"br;q=abc, gzip", encGzip},
		{"br;level=1", encBrotli},
		{"*", encGzip},
		{"*, gzip;q=0", encBrotli},
		{"*;q=0", encIdentity},
		{"*;q=0.5, br;q=0.1", encGzip},
		{"identity", encIdentity},
		{"deflate, zstd", encIdentity},
		{"brotli", encIdentity},
		{",,,", encIdentity},
		{"gzip;", encGzip},
		{"gzip;q=", encIdentity},
	} {
		if got := negotiate([]byte(tc.h)); got != tc.want {
			t.Errorf("negotiate(%q) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

func TestETagMatches(t *testing.T) {
	tag := []byte(`"b1-s-1"`)
	for _, tc := range []struct {
		h    string
		want bool
	}{
		{`"b1-s-1"`, true},
		{`W/"b1-s-1"`, true},
		{`"b1-s-1-gz"`, true},
		{`"b1-s-1-br"`, true},
		{`"a", "b1-s-1"`, true},
		{`"a",W/"b1-s-1"`, true},
		{`*`, true},
		{`"b1-s-10"`, false},
		{`"b1-s-1-xx"`, false},
		{`"b1-s-"`, false},
		{`"b11-s-1"`, false},
		{`b1-s-1`, false},
		{`"b1-s-1`, false},
		{`W/`, false},
		{``, false},
		{`junk, "b1-s-1"`, true},
	} {
		if got := etagMatches([]byte(tc.h), tag); got != tc.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

func FuzzNegotiate(f *testing.F) {
	f.Add("gzip, br;q=0.5")
	f.Fuzz(func(t *testing.T, h string) {
		if e := negotiate([]byte(h)); e >= numEncodings {
			t.Fatalf("negotiate(%q) = %d", h, e)
		}
		etagMatches([]byte(h), []byte(`"b1-s-1"`))
	})
}

// TestAcceptedFastPath: the Accept-Encoding values accepted answers
// without parsing get what negotiate gives them.
func TestAcceptedFastPath(t *testing.T) {
	for _, ae := range []string{"", "gzip, deflate, br", "gzip, deflate, br, zstd", "gzip, deflate", "gzip", "br, gzip", "br", "identity", "gzip;q=0, br"} {
		var ctx fasthttp.RequestCtx
		if ae != "" {
			ctx.Request.Header.Set(fasthttp.HeaderAcceptEncoding, ae)
		}
		want := encIdentity
		if ae != "" {
			want = negotiate([]byte(ae))
		}
		if got := accepted(&ctx); got != want {
			t.Errorf("accepted(%q) = %v, negotiate says %v", ae, got, want)
		}
	}
}
