package deflate

import "math/bits"

// A code is a canonical Huffman code: each symbol's length in bits (0: not
// used) and its bits, reversed for the LSB-first writer.
type code struct {
	lens  [numFixedLit]uint8
	codes [numFixedLit]uint16
	n     int // symbols [0, n) may be used
}

// scratch is what building a code works in, kept by the Encoder so that
// nothing is allocated or cleared per block.
type scratch struct {
	keys, tmp [numLitLen]uint32 // frequency << 16 | symbol
	w         [numLitLen]uint32
	count     [256]uint16
}

// build makes c a length-limited Huffman code for freq (len(freq) symbols,
// each frequency under 1 << 16).
func (c *code) build(freq []uint32, limit int, sc *scratch) {
	c.n = len(freq)
	clear(c.lens[:c.n])
	// Symbols in use, by ascending frequency (then symbol): the key is
	// frequency << 16 | symbol.
	sorted := sc.keys[:0]
	for s, f := range freq {
		if f != 0 {
			sorted = append(sorted, f<<16|uint32(s))
		}
	}
	switch len(sorted) {
	case 0:
		// A distance code with no distances: one code of one bit, which
		// every inflater accepts.
		c.lens[0] = 1
		c.assign()
		return
	case 1:
		c.lens[sorted[0]&0xffff] = 1
		c.assign()
		return
	}
	sc.sort(sorted)
	var counts [32]int // counts[l]: symbols of length l
	lengths(sorted, sc.w[:len(sorted)], &counts)
	limitLengths(&counts, limit)
	// The longest codes go to the rarest symbols.
	i := 0
	for l := limit; l > 0; l-- {
		for k := 0; k < counts[l]; k++ {
			c.lens[sorted[i]&0xffff] = uint8(l)
			i++
		}
	}
	c.assign()
}

// sort orders keys ascending: an LSD radix sort on the frequency's two
// bytes (the symbols are already in order, and the sort is stable), skipping
// the high byte's pass when no frequency reaches 256. For a block's 30-286
// symbols it is about four times as fast as slices.Sort.
func (sc *scratch) sort(keys []uint32) {
	var high uint32
	for _, k := range keys {
		high |= k
	}
	src, dst := keys, sc.tmp[:len(keys)]
	for shift := uint(16); shift < 32; shift += 8 {
		if shift == 24 && high>>24 == 0 {
			break
		}
		clear(sc.count[:])
		for _, k := range src {
			sc.count[byte(k>>shift)]++
		}
		sum := uint16(0)
		for i, c := range sc.count {
			sc.count[i] = sum
			sum += c
		}
		for _, k := range src {
			b := byte(k >> shift)
			dst[sc.count[b]] = k
			sc.count[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}

// lengths computes the Huffman code lengths of the weights in a (sorted
// ascending, weight in the high bits) and counts them by length into
// counts. It works in place on w (Moffat and Katajainen, "In-place
// calculation of minimum-redundancy codes", 1995): linear time, no heap.
func lengths(a, w []uint32, counts *[32]int) {
	n := len(a)
	for i, k := range a {
		w[i] = uint32(k >> 16)
	}
	// Phase 1: combine, leaving each internal node's parent index.
	leaf, root := 0, 0
	for next := 0; next < n-1; next++ {
		if leaf >= n || (root < next && w[root] < w[leaf]) {
			w[next] = w[root]
			w[root] = uint32(next)
			root++
		} else {
			w[next] = w[leaf]
			leaf++
		}
		if leaf >= n || (root < next && w[root] < w[leaf]) {
			w[next] += w[root]
			w[root] = uint32(next)
			root++
		} else {
			w[next] += w[leaf]
			leaf++
		}
	}
	// Phase 2: internal nodes' depths.
	w[n-2] = 0
	for next := n - 3; next >= 0; next-- {
		w[next] = w[w[next]] + 1
	}
	// Phase 3: leaves' depths, counted.
	avail, used, depth := 1, 0, 0
	root = n - 2
	for avail > 0 {
		for root >= 0 && int(w[root]) == depth {
			used++
			root--
		}
		if avail > used {
			counts[min(depth, len(counts)-1)] += avail - used
		}
		avail = 2 * used
		depth++
		used = 0
	}
}

// limitLengths makes the counts a complete code with no length over limit:
// longer codes are cut to limit, then codes are lengthened, from the
// longest under limit, until Kraft's sum is one again (miniz's
// tdefl_huffman_enforce_max_code_size). It is not optimal, but it is needed
// only when a plain Huffman code is deeper than limit, which the inputs of
// a build seldom make.
func limitLengths(counts *[32]int, limit int) {
	over := false
	for l := limit + 1; l < len(counts); l++ {
		if counts[l] != 0 {
			counts[limit] += counts[l]
			counts[l] = 0
			over = true
		}
	}
	if !over {
		return
	}
	total := 0
	for l := limit; l > 0; l-- {
		total += counts[l] << (limit - l)
	}
	for total != 1<<limit {
		counts[limit]--
		for l := limit - 1; l > 0; l-- {
			if counts[l] != 0 {
				counts[l]--
				counts[l+1] += 2
				break
			}
		}
		total--
	}
}

// assign gives each used symbol its canonical code (RFC 1951 3.2.2),
// bit-reversed.
func (c *code) assign() {
	var count [16]uint16
	for _, l := range c.lens[:c.n] {
		count[l]++
	}
	count[0] = 0
	var next [16]uint16
	v := uint16(0)
	for l := 1; l < 16; l++ {
		v = (v + count[l-1]) << 1
		next[l] = v
	}
	for s, l := range c.lens[:c.n] {
		if l != 0 {
			c.codes[s] = bits.Reverse16(next[l]) >> (16 - l)
			next[l]++
		}
	}
}
