// Package deflate writes DEFLATE (RFC 1951) and gzip (RFC 1952) streams,
// tuned for what a build stores: many short documents (a styles document's
// median is about 1.9 KB), each coded on its own, once.
//
// Why not klauspost/compress or compress/flate: at that size their time
// goes less to finding matches than to choosing each block's Huffman codes.
// A CPU profile of a full build at 1,000,011 products (docs/BENCHMARKS.md,
// "A deflate encoder for short documents") had klauspost's level 3 at 44%
// of the loader's CPU, and within it the package-merge that limits code
// lengths to 15 bits (huffmanEncoder.bitCounts) at 5.5 s of 12.5 s: it runs
// whatever the block, though a short block's plain Huffman code almost
// never needs a limit. This encoder computes plain Huffman code lengths in
// place in linear time (Moffat and Katajainen) and limits them only when
// they exceed 15 bits (or 7, for the code-length code), by the simple
// redistribution of counts that miniz uses.
//
// The matcher is a greedy one over a hash table of 4-byte sequences whose
// entries are invalidated by an offset rather than cleared, so that an
// Encoder reused for millions of short documents never clears its table.
//
// The output is deterministic: the same input gives the same bytes, with
// no name and no time in the gzip header.
package deflate

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

const (
	hashBits    = 13
	hashShift   = 32 - hashBits
	minMatch    = 4 // the matcher's; deflate allows 3
	maxMatch    = 258
	maxDistance = 1 << 15

	// blockInput: a block codes at most this much input, so that its tokens
	// stay in a bounded buffer and a stored block (at most 65,535 bytes)
	// is always possible.
	blockInput = 1 << 15

	// segment: inputs are matched in segments of at most this size, so
	// that positions plus the table's offset stay within an int32.
	segment = 1 << 28

	endBlock  = 256
	numLitLen = 286
	// numFixedLit: the fixed code has two more literal/length symbols,
	// never used but counted in its canonical codes.
	numFixedLit = 288
	numDist     = 30
	numCodeLen  = 19
)

// token: a literal byte (< 256), or a match: matchFlag | (length-3)<<15 |
// (distance-1).
type token uint32

const matchFlag = 1 << 31

// An Encoder codes inputs one at a time. Its zero value is ready to use;
// it is not safe for concurrent use. Reusing one Encoder for many inputs
// saves its tables' allocation and clearing.
type Encoder struct {
	table  [1 << hashBits]int32 // position + offset of the last 4-byte sequence with that hash
	offset int32

	toks     []token
	litFreq  [numLitLen]uint32
	distFreq [numDist]uint32

	lit  code // literal/length code
	dist code // distance code
	cl   code // code-length code

	sc  scratch
	seq [numLitLen + numDist]uint8  // a dynamic block's code lengths
	rle [numLitLen + numDist]uint16 // and their run-length coding

	w bitWriter
}

// AppendGzip appends src's gzip member (one member, no name, no time,
// operating system "unknown") to dst.
func (e *Encoder) AppendGzip(dst, src []byte) []byte {
	dst = append(dst, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255)
	dst = e.AppendDeflate(dst, src)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(src))
	return binary.LittleEndian.AppendUint32(dst, uint32(len(src)))
}

// AppendDeflate appends src's raw DEFLATE stream, ending in a final block,
// to dst.
func (e *Encoder) AppendDeflate(dst, src []byte) []byte {
	e.w.reset(dst)
	if len(src) == 0 {
		e.w.write(1|1<<1, 3) // final, fixed codes
		e.w.write(0, 7)      // end of block: code 256 is 7 zero bits
		return e.w.flush()
	}
	for seg := 0; seg < len(src); seg += segment {
		e.encodeSegment(src[seg:min(len(src), seg+segment)], seg+segment >= len(src))
	}
	return e.w.flush()
}

// encodeSegment codes s in blocks of at most blockInput bytes.
func (e *Encoder) encodeSegment(s []byte, last bool) {
	if e.offset > 1<<30 {
		clear(e.table[:])
		e.offset = 0
	}
	// Entries of earlier inputs are below this input's offset minus the
	// window: never a match.
	base := e.offset + maxDistance
	e.offset = base + int32(len(s))
	for start := 0; start < len(s); start += blockInput {
		end := min(len(s), start+blockInput)
		e.tokenize(s, start, end, base)
		e.writeBlock(s[start:end], last && end == len(s))
	}
}

// tokenize turns s[start:end] into tokens, matching against all of s
// before end within the window, and counts their symbols.
func (e *Encoder) tokenize(s []byte, start, end int, base int32) {
	e.toks = e.toks[:0]
	clear(e.litFreq[:])
	clear(e.distFreq[:])
	lit := start // the first byte not yet in a token
	i := start
	for limit := end - minMatch; i <= limit; {
		v := binary.LittleEndian.Uint32(s[i:])
		h := (v * 0x1e35a7bd) >> hashShift
		cand := int(e.table[h] - base)
		e.table[h] = int32(i) + base
		if cand < 0 || i-cand > maxDistance || binary.LittleEndian.Uint32(s[cand:]) != v {
			i += 1 + (i-lit)>>6 // skip faster through input that does not match
			continue
		}
		// Extend backwards over pending literals, then forwards.
		for i > lit && cand > 0 && s[i-1] == s[cand-1] {
			i--
			cand--
		}
		n := minMatch + matchLen(s[cand+minMatch:], s[i+minMatch:min(end, i+maxMatch)])
		for ; lit < i; lit++ {
			e.toks = append(e.toks, token(s[lit]))
			e.litFreq[s[lit]]++
		}
		e.addMatch(n, i-cand)
		i += n
		lit = i
		// The positions just before the match's end are good candidates
		// for what comes next.
		if i <= limit {
			for _, p := range [2]int{i - 2, i - 1} {
				e.table[(binary.LittleEndian.Uint32(s[p:])*0x1e35a7bd)>>hashShift] = int32(p) + base
			}
		}
	}
	for ; lit < end; lit++ {
		e.toks = append(e.toks, token(s[lit]))
		e.litFreq[s[lit]]++
	}
	e.litFreq[endBlock] = 1
}

func (e *Encoder) addMatch(n, d int) {
	e.toks = append(e.toks, token(matchFlag|(n-3)<<15|(d-1)))
	e.litFreq[257+int(lengthCode[n-3])]++
	e.distFreq[distCode(uint32(d-1))]++
}

// matchLen is how many leading bytes a and b share (b no longer than a).
func matchLen(a, b []byte) int {
	n := 0
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b)
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
		b = b[8:]
	}
	for i := range b {
		if a[n+i] != b[i] {
			return n + i
		}
	}
	return n + len(b)
}
