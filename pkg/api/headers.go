package api

import (
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Response headers are set with SetCanonical and these names: fasthttp's
// Set and SetBytesV normalize the name on every call (about 5% of a cached
// product document's CPU in the handler, BenchmarkProductHandler's
// profile). SetCanonical copies the value; the names are fasthttp's
// canonical spellings.
var (
	hdrVary            = []byte(fasthttp.HeaderVary)
	hdrCacheControl    = []byte(fasthttp.HeaderCacheControl)
	hdrETag            = []byte(fasthttp.HeaderETag)
	hdrContentEncoding = []byte(fasthttp.HeaderContentEncoding)
	hdrAllowOrigin     = []byte(fasthttp.HeaderAccessControlAllowOrigin)
	valueAnyOrigin     = []byte("*")
	valueOrigin        = []byte(fasthttp.HeaderOrigin)
)

// bytesOf is s's bytes, not copied: for a header value, which fasthttp
// copies (never written through).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// nameBytes is the Content-Encoding value, as bytes.
func (e encoding) nameBytes() []byte { return bytesOf(e.name()) }
