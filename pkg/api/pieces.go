package api

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/flate"
)

// A list page (GET /products?page&count) is assembled from pieces instead
// of being compressed per request: each product's list item is deflated
// once, on its own, into a piece that ends on a byte boundary with no final
// block (a sync flush), so that pieces concatenate into one valid deflate
// stream. A page in gzip is then a fixed header, the piece of "[", the
// items' pieces with the piece of "," between them, the piece of "]", an
// empty final block, and the trailer: the CRC-32 of the page's bytes, put
// together from the items' own CRC-32s (zlib's crc32_combine: piece.combine,
// multModP, x2nModP), and its length.
// Nothing of the page is compressed when it is asked for. The pieces come
// from the prefill (prefill.go), in the product documents' split entries
// (below), and the list order
// of the live build is held whole (4 bytes a product), so a page costs a
// cache lookup per item and no database round trip.
//
// The page's ETag is built from the same two numbers (CRC-32 and length of
// its plain bytes; pageHash): a page has one ETag however it was made.

// pieceLevel: list items are 200-400 bytes of JSON; level 5 makes them
// about 0.79x, level 1 0.87x (docs/BENCHMARKS.md, "Stored coding").
const pieceLevel = 5

// piece is a deflated list item: its deflate bytes, and the CRC-32 and
// length of the plain bytes, and x^(8 n) modulo the CRC polynomial: the
// operator that appends a piece's CRC to the CRC of what comes before it
// in one multiplication (combine), worked out once, when the piece is made,
// rather than per request (a page of five items appends fourteen pieces).
type piece struct {
	deflate []byte
	crc     uint32
	n       uint32
	op      uint32
}

// pieceTrailer is what follows a piece's deflate bytes in its cache entry:
// CRC-32, length and operator.
const pieceTrailer = 12

// combine is the CRC-32 of what crc was taken of, followed by p.
func (p piece) combine(crc uint32) uint32 { return multModP(p.op, crc) ^ p.crc }

var deflaters = sync.Pool{New: func() any {
	w, err := flate.NewWriter(nil, pieceLevel)
	if err != nil {
		panic(err)
	}
	return w
}}

// appendPiece appends plain's piece to dst as the cache keeps it: the
// deflate bytes (sync-flushed, no final block), then CRC-32 and length,
// big-endian.
func appendPiece(dst, plain []byte) []byte {
	return appendTrailer(appendDeflate(dst, plain), plain)
}

// appendTrailer appends plain's CRC-32, length and operator.
func appendTrailer(dst, plain []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(plain))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(plain)))
	return binary.BigEndian.AppendUint32(dst, x2nModP(int64(len(plain)), 3))
}

// trailerOf reads what appendTrailer wrote.
func trailerOf(deflate, t []byte) piece {
	return piece{deflate: deflate, crc: binary.BigEndian.Uint32(t), n: binary.BigEndian.Uint32(t[4:]), op: binary.BigEndian.Uint32(t[8:])}
}

// appendDeflate appends plain's deflate bytes, sync-flushed, no final
// block.
func appendDeflate(dst, plain []byte) []byte {
	w := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(w)
	buf := bytes.NewBuffer(dst)
	w.Reset(buf)
	if _, err := w.Write(plain); err != nil {
		panic(err) // a bytes.Buffer does not fail
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// A product document is its list item without the closing brace, then
// `,"features":[...]}` (pkg/build writes the document, readers cut the
// item out: readmodel.ListItem). The
// prefill keeps it as those two pieces (a split entry), which serve both
// routes from one copy: the product document in gzip is the header, both
// pieces and a trailer; the list item is the first piece and the piece of
// "}". Kept so, a million products' documents and list items take about
// 0.3 GB less than a document and a separate item each.
//
// Layout: splitMark, the first piece's deflate length (4 bytes), both
// pieces' deflate bytes, then each piece's trailer (appendTrailer). No stored document starts with 0: JSON starts with
// '{' or '[', gzip with 0x1f.
const splitMark = 0

// appendSplit appends product's split entry to dst; false (dst as it was)
// when product is not item's document.
func appendSplit(dst, item, product []byte) ([]byte, bool) {
	if len(item) == 0 || item[len(item)-1] != '}' {
		return dst, false
	}
	head := item[:len(item)-1]
	tail, ok := bytes.CutPrefix(product, head)
	if !ok || !bytes.HasPrefix(tail, []byte(`,"features":[`)) {
		return dst, false
	}
	start := len(dst)
	out := append(dst, splitMark, 0, 0, 0, 0)
	out = appendDeflate(out, head)
	binary.BigEndian.PutUint32(out[start+1:], uint32(len(out)-start-5))
	out = appendDeflate(out, tail)
	return appendTrailer(appendTrailer(out, head), tail), true
}

// isSplit tells a split entry from a stored document.
func isSplit(v []byte) bool { return len(v) > 0 && v[0] == splitMark }

// splitOf reads a split entry: the product document's two pieces.
func splitOf(v []byte) (head, tail piece, ok bool) {
	if len(v) < 5+2*pieceTrailer || v[0] != splitMark {
		return head, tail, false
	}
	na := int(binary.BigEndian.Uint32(v[1:]))
	body, t := v[5:len(v)-2*pieceTrailer], v[len(v)-2*pieceTrailer:]
	if na > len(body) {
		return head, tail, false
	}
	return trailerOf(body[:na], t), trailerOf(body[na:], t[pieceTrailer:]), true
}

// splitToGzip turns split entry v into the product document in gzip in
// v's own bytes (a gzip header, the two pieces, the end): the member is 6 bytes
// shorter than the entry (a 10-byte header and 13 bytes of end for the
// entry's 5-byte header and two 12-byte trailers), and the two pieces are
// already side by side, so a hit costs one move and no allocation.
func splitToGzip(v []byte) ([]byte, bool) {
	head, tail, ok := splitOf(v)
	if !ok {
		return v, false
	}
	n := len(head.deflate) + len(tail.deflate) // at v[5:], head then tail
	crc, size := tail.combine(head.crc), head.n+tail.n
	copy(v[len(gzipHeader):], v[5:5+n])
	copy(v, gzipHeader)
	return endGzip(v[:len(gzipHeader)+n], crc, size), true
}

// pieceOf reads a cache entry appendPiece wrote.
func pieceOf(v []byte) (piece, bool) {
	if len(v) < pieceTrailer {
		return piece{}, false
	}
	return trailerOf(v[:len(v)-pieceTrailer], v[len(v)-pieceTrailer:]), true
}

// The pieces of the page's punctuation, and of a list item's last byte.
var pOpen, pComma, pClose, pBrace = mustPiece("["), mustPiece(","), mustPiece("]"), mustPiece("}")

func mustPiece(s string) piece {
	p, _ := pieceOf(appendPiece(nil, []byte(s)))
	return p
}

// gzipHeader is a gzip member's header: deflate, no flags, no time, no
// extra flags, unknown OS.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// finalBlock ends a deflate stream that is on a byte boundary: an empty
// stored block with BFINAL set.
var finalBlock = []byte{1, 0, 0, 0xff, 0xff}

// pageBuilder puts a list page together in gzip from its items' pieces.
type pageBuilder struct {
	out     []byte
	scratch []byte // a piece's cache entry, read
	crc     uint32
	n       uint32
	k       int
}

func (b *pageBuilder) start(dst []byte) {
	b.out, b.crc, b.n, b.k = append(dst[:0], gzipHeader...), 0, 0, 0
	b.append(pOpen)
}

// append appends p's deflate bytes and brings CRC and length along.
func (b *pageBuilder) append(p piece) {
	b.out = append(b.out, p.deflate...)
	b.crc, b.n = p.combine(b.crc), b.n+p.n
}

// add adds a list item.
func (b *pageBuilder) add(p piece) {
	if b.k > 0 {
		b.append(pComma)
	}
	b.append(p)
	b.k++
}

// addHead adds a list item made of a split entry's first piece and "}".
func (b *pageBuilder) addHead(head piece) {
	b.add(head)
	b.append(pBrace)
}

// finish returns the gzip body and the page's hash.
func (b *pageBuilder) finish() ([]byte, int64) {
	b.append(pClose)
	b.out = endGzip(b.out, b.crc, b.n)
	return b.out, hashOfPage(b.crc, b.n)
}

// endGzip ends a gzip member whose deflate stream is on a byte boundary:
// the final block, then the CRC-32 and length of the plain bytes.
func endGzip(out []byte, crc, n uint32) []byte {
	out = append(out, finalBlock...)
	out = binary.LittleEndian.AppendUint32(out, crc)
	return binary.LittleEndian.AppendUint32(out, n)
}

// pageHash is a list page's hash (its ETag): CRC-32 and length of its
// plain bytes. A page's URL names a page of one build's list; two versions
// of it differ in length or, with odds of 2^-32, not in CRC.
func pageHash(plain []byte) int64 { return hashOfPage(crc32.ChecksumIEEE(plain), uint32(len(plain))) }

func hashOfPage(crc, n uint32) int64 { return int64(uint64(crc)<<32 | uint64(n)) }

const crcPoly = 0xedb88320 // reflected IEEE polynomial

// multModP is a(x) b(x) modulo p(x), bit-reflected.
func multModP(a, b uint32) uint32 {
	m := uint32(1) << 31
	var p uint32
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// x2nTable[k] is x^(2^k) modulo p(x).
var x2nTable = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < 32; k++ {
		p = multModP(p, p)
		t[k] = p
	}
	return t
}()

// x2nModP is x^(n 2^k) modulo p(x).
func x2nModP(n int64, k uint) uint32 {
	p := uint32(1) << 31 // x^0
	for n != 0 {
		if n&1 != 0 {
			p = multModP(x2nTable[k&31], p)
		}
		n >>= 1
		k++
	}
	return p
}
