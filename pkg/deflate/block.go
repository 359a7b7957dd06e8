package deflate

import (
	"encoding/binary"
	"math/bits"
)

// The RFC 1951 tables: length codes 257-285 and distance codes 0-29, their
// extra bits and bases.
var (
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}

	// lengthCode[n-3] is match length n's code less 257.
	lengthCode [256]uint8

	// The code lengths' order in a dynamic block's header.
	clOrder = [numCodeLen]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	fixedLit, fixedDist code
)

func init() {
	for c := range 28 {
		for n := lengthBase[c]; n < lengthBase[c+1] && n < 258; n++ {
			lengthCode[n-3] = uint8(c)
		}
	}
	lengthCode[258-3] = 28
	for s := range numFixedLit {
		switch {
		case s < 144:
			fixedLit.lens[s] = 8
		case s < 256:
			fixedLit.lens[s] = 9
		case s < 280:
			fixedLit.lens[s] = 7
		default:
			fixedLit.lens[s] = 8
		}
	}
	fixedLit.n = numFixedLit
	fixedLit.assign()
	for s := range numDist {
		fixedDist.lens[s] = 5
	}
	fixedDist.n = numDist
	fixedDist.assign()
}

// distCode is the code of distance d+1.
func distCode(d uint32) uint8 {
	if d < 4 {
		return uint8(d)
	}
	l := bits.Len32(d) // at least 3
	return uint8(2*(l-1) + int(d>>(l-2))&1)
}

// writeBlock writes the tokens of e.toks, which code in, as one block:
// dynamic, fixed or stored, whichever is shortest.
func (e *Encoder) writeBlock(in []byte, final bool) {
	nlit := numLitLen
	for nlit > 257 && e.litFreq[nlit-1] == 0 {
		nlit--
	}
	ndist := numDist
	for ndist > 1 && e.distFreq[ndist-1] == 0 {
		ndist--
	}
	e.lit.build(e.litFreq[:nlit], 15, &e.sc)
	e.dist.build(e.distFreq[:ndist], 15, &e.sc)

	// The code-length code: the literal/length and distance lengths as one
	// run-length coded sequence.
	var clFreq [numCodeLen]uint32
	seq := append(append(e.seq[:0], e.lit.lens[:nlit]...), e.dist.lens[:ndist]...)
	rle := e.rle[:]
	nrle := runLengths(seq, rle, &clFreq)
	e.cl.build(clFreq[:], 7, &e.sc)
	ncl := numCodeLen
	for ncl > 4 && e.cl.lens[clOrder[ncl-1]] == 0 {
		ncl--
	}

	extra := 0 // extra bits of lengths and distances: the same in every code
	for c := 0; c < 29 && 257+c < nlit; c++ {
		extra += int(e.litFreq[257+c]) * int(lengthExtra[c])
	}
	for c := range ndist {
		extra += int(e.distFreq[c]) * int(distExtra[c])
	}
	dynamic := 3 + 5 + 5 + 4 + 3*ncl + extra
	for _, r := range rle[:nrle] {
		s := r & 0xff
		dynamic += int(e.cl.lens[s]) + int(repeatBits[s])
	}
	fixed := 3 + extra
	for s, f := range e.litFreq[:nlit] {
		dynamic += int(f) * int(e.lit.lens[s])
		fixed += int(f) * int(fixedLit.lens[s])
	}
	for s, f := range e.distFreq[:ndist] {
		dynamic += int(f) * int(e.dist.lens[s])
		fixed += int(f) * 5
	}
	stored := (e.w.n+3+7)&^7 - e.w.n + 32 + 8*len(in)

	var head uint64
	if final {
		head = 1
	}
	switch {
	case stored <= dynamic && stored <= fixed:
		e.w.write(head, 3)
		e.w.align()
		e.w.write(uint64(len(in))|uint64(^uint16(len(in)))<<16, 32)
		e.w.bytes(in)
		return
	case fixed <= dynamic:
		e.w.write(head|1<<1, 3)
		e.writeTokens(&fixedLit, &fixedDist)
		return
	}
	e.w.write(head|2<<1, 3)
	e.w.write(uint64(nlit-257)|uint64(ndist-1)<<5|uint64(ncl-4)<<10, 14)
	for _, s := range clOrder[:ncl] {
		e.w.write(uint64(e.cl.lens[s]), 3)
	}
	for _, r := range rle[:nrle] {
		s := r & 0xff
		e.w.write(uint64(e.cl.codes[s]), uint(e.cl.lens[s]))
		if rb := repeatBits[s]; rb != 0 {
			e.w.write(uint64(r>>8), uint(rb))
		}
	}
	e.writeTokens(&e.lit, &e.dist)
}

// repeatBits: the extra bits after code-length symbols 16, 17 and 18.
var repeatBits = [numCodeLen]uint8{16: 2, 17: 3, 18: 7}

// runLengths codes the code lengths seq with the code-length alphabet
// (RFC 1951 3.2.7) into out, counting its symbols, and returns how many it
// wrote. Each entry is the symbol, with its extra bits' value << 8.
func runLengths(seq []uint8, out []uint16, freq *[numCodeLen]uint32) int {
	n := 0
	emit := func(sym uint8, rep int) {
		out[n] = uint16(sym) | uint16(rep)<<8
		freq[sym]++
		n++
	}
	for i := 0; i < len(seq); {
		l := seq[i]
		run := 1
		for i+run < len(seq) && seq[i+run] == l {
			run++
		}
		i += run
		if l == 0 {
			for run >= 11 {
				r := min(run, 138)
				emit(18, r-11)
				run -= r
			}
			if run >= 3 {
				emit(17, run-3)
				run = 0
			}
		} else {
			emit(l, 0)
			run--
			for run >= 3 {
				r := min(run, 6)
				emit(16, r-3)
				run -= r
			}
		}
		for ; run > 0; run-- {
			emit(l, 0)
		}
	}
	return n
}

// writeTokens writes e.toks with the given codes, then the end of block.
func (e *Encoder) writeTokens(lit, dist *code) {
	w := &e.w
	for _, t := range e.toks {
		if t < matchFlag {
			w.write(uint64(lit.codes[t]), uint(lit.lens[t]))
			continue
		}
		n := uint32(t>>15) & 0xff // length - 3
		d := uint32(t) & 0x7fff   // distance - 1
		lc := lengthCode[n]
		bitsOut := uint64(lit.codes[257+int(lc)])
		nbits := uint(lit.lens[257+int(lc)])
		bitsOut |= uint64(uint16(n+3)-lengthBase[lc]) << nbits
		nbits += uint(lengthExtra[lc])
		w.write(bitsOut, nbits) // at most 15+5 bits
		dc := distCode(d)
		bitsOut = uint64(dist.codes[dc]) | uint64(uint16(d+1)-distBase[dc])<<dist.lens[dc]
		w.write(bitsOut, uint(dist.lens[dc])+uint(distExtra[dc])) // at most 15+13
	}
	w.write(uint64(lit.codes[endBlock]), uint(lit.lens[endBlock]))
}

// A bitWriter appends bits, least significant first, to a byte slice.
type bitWriter struct {
	out  []byte
	acc  uint64
	nacc uint // bits in acc: under 32 between writes
	n    int  // bits written in all
}

func (w *bitWriter) reset(dst []byte) { *w = bitWriter{out: dst} }

// write appends the low n bits of v (n <= 32; v has no other bits set).
func (w *bitWriter) write(v uint64, n uint) {
	w.acc |= v << w.nacc
	w.nacc += n
	w.n += int(n)
	if w.nacc >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.acc))
		w.acc >>= 32
		w.nacc -= 32
	}
}

// align pads with zero bits to a byte boundary and moves whole bytes out of
// the accumulator.
func (w *bitWriter) align() {
	if r := w.nacc % 8; r != 0 {
		w.write(0, 8-r)
	}
	for ; w.nacc > 0; w.nacc -= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
	}
}

// bytes appends b at a byte boundary (after align).
func (w *bitWriter) bytes(b []byte) {
	w.out = append(w.out, b...)
	w.n += 8 * len(b)
}

// flush pads the last byte and returns the output.
func (w *bitWriter) flush() []byte {
	w.align()
	return w.out
}
