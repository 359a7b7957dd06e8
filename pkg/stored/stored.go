// Package stored is the form in which a build keeps each served document,
// and how a reader gets the response body back from it.
//
// A document is stored in the coding clients take, gzip, computed once when
// the build writes it, so that the API sends the stored bytes as they are
// and never compresses a document per request. Product documents, too
// short for gzip to pay, are packed with a dictionary instead (pack.go);
// readers unpack them. A body that gzip would not
// make smaller, or too small to be worth a decoder (MinCoded), is stored as
// it is. The two are told apart by their first bytes: a gzip member starts
// with 0x1f 0x8b, a JSON document with '{', '[' or a space, never 0x1f.
//
// Why gzip only (measured on 20,000 documents of a generated export, one
// document at a time, docs/BENCHMARKS.md "Stored coding"): every browser
// and CDN sends Accept-Encoding with gzip; brotli makes styles documents
// about 15% smaller again but costs 4-5 times the CPU at build time
// (brotli 5: 29 MB/s against gzip 3's 135 MB/s here), and a second stored
// coding would double what the catalogue holds. A client that takes brotli
// but not gzip gets a brotli copy made once by the API and cached.
package stored

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/elier/catalogue/pkg/deflate"
	"github.com/klauspost/compress/gzip"
)

const (
	// MinCoded: smaller bodies are stored as they are. Coding is paid once
	// per document at build time, on a build's two cores, and what it saves
	// grows with the body: a styles document (median 1.9 KB) loses 1.5 KB
	// for 14-17 µs, a product document (median 387 B) only about 110 B for
	// 9-12 µs, under the response's own headers (times of klauspost's
	// level 3, which coded them when this was decided). At 1,000,011 products,
	// coding every body over 200 bytes made the full build 1.18x as long
	// (scripts/bench-build-ab.sh, docs/BENCHMARKS.md "Stored documents");
	// from 1 KiB, the bodies that matter are coded and most product and
	// related documents are sent as they are.
	MinCoded = 1024
)

// Coded tells whether b, a stored document, is gzip-coded (else it is the
// body itself).
func Coded(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// An Encoder writes documents in their stored form. It is not safe for
// concurrent use; each goroutine that encodes keeps its own.
//
// The gzip is pkg/deflate's, written for exactly this: short documents
// coded one at a time. On the styles documents of a 1M-product export it
// codes as small as klauspost/compress's level 3 (0.231x of the plain
// bytes) in 0.62x of its time (docs/BENCHMARKS.md, "A deflate encoder for
// short documents"), where most of klauspost's time went to choosing each
// document's Huffman codes.
type Encoder struct {
	d   deflate.Encoder
	buf []byte
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder { return new(Encoder) }

// Append appends body's stored form to dst: its gzip coding when that is
// smaller and body is at least MinCoded bytes long, else body. The same
// body always gives the same bytes (no name, no time in the header). A
// body that itself starts as gzip or a packed document does (never a JSON
// document) is always coded, so that every body reads back as it was.
func (e *Encoder) Append(dst, body []byte) []byte {
	magic := Coded(body) || Packed(body) // would read back as what it is not
	if len(body) < MinCoded && !magic {
		return append(dst, body...)
	}
	e.buf = e.d.AppendGzip(e.buf[:0], body)
	if len(e.buf) >= len(body) && !magic {
		return append(dst, body...)
	}
	return append(dst, e.buf...)
}

// ErrCorrupt: a stored document that says it is coded does not decode.
var ErrCorrupt = errors.New("stored: corrupt document")

var readers sync.Pool // *gzip.Reader

// Decode appends the body of the stored document b to dst: b itself when
// it is not coded, else its gzip decoding. A packed document (pack.go) is
// an error, ErrPacked: only its dictionary reads it (Dicts.Body).
func Decode(dst, b []byte) ([]byte, error) {
	if Packed(b) {
		return dst, ErrPacked
	}
	if !Coded(b) {
		return append(dst, b...), nil
	}
	r, _ := readers.Get().(*gzip.Reader)
	var err error
	if r == nil {
		r, err = gzip.NewReader(bytes.NewReader(b))
	} else {
		err = r.Reset(bytes.NewReader(b))
	}
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer readers.Put(r)
	r.Multistream(false)
	w := bytes.NewBuffer(dst)
	if _, err := io.Copy(w, r); err != nil {
		return dst, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return w.Bytes(), nil
}
