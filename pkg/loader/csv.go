package loader

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"unicode/utf8"
)

// Limits of the record reader. They bound memory whatever the input: a
// Scanner holds the 1 MiB read buffer plus at most one record's worth of
// copies (a broken first line and its look-ahead lines).
const (
	// MaxLineBytes is the longest physical line accepted, line end included.
	// A longer line is rejected ("line_too_long") and skipped without being
	// held in memory; the lines after it are read as usual.
	MaxLineBytes = 1 << 20

	// MaxExtraLines and MaxExtraBytes bound a record that spans several
	// physical lines (a quoted field holding line breaks): at most this many
	// lines after the first, together at most this many bytes. Past that a
	// line ending inside a quoted field is repaired or rejected on its own.
	MaxExtraLines = 16
	MaxExtraBytes = 64 << 10

	// maxRawBytes is how much of a too-long line an Issue keeps in Raw.
	maxRawBytes = 64 << 10

	// queueCap is the look-ahead ring's size: more than MaxExtraLines, so a
	// look-ahead never overwrites the line being processed.
	queueCap = 32
)

// physLine is one physical line of input without its line end ("\n",
// "\r\n", or a lone "\r" before the end of input).
type physLine struct {
	text    []byte // aliases the read buffer or a queue slot
	num     int64  // 1-based line number
	tooLong bool   // longer than MaxLineBytes: text holds its first maxRawBytes
	size    int64  // the whole line's length in bytes, line end included
}

// lineReader hands out physical lines, numbering them, and keeps a small
// queue of lines read ahead (a record that might span several lines is
// resolved by looking at the lines after it; when it does not, those lines
// are handed out again one by one).
//
// A line returned by next aliases the read buffer and is valid until the
// next call to next or peek.
type lineReader struct {
	br    *bufio.Reader
	q     [queueCap]physLine // ring of lines read ahead; text owned by the slot
	head  int
	n     int
	read  int64 // physical lines taken from br
	bytes int64 // bytes taken from br
	eof   bool
	err   error // first read error other than io.EOF
	long  []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, MaxLineBytes)}
}

// fetch takes the next physical line from br; ok is false at the end of the
// input or on a read error (then lr.err is set).
func (lr *lineReader) fetch() (ln physLine, ok bool) {
	if lr.eof || lr.err != nil {
		return physLine{}, false
	}
	b, err := lr.br.ReadSlice('\n')
	lr.bytes += int64(len(b))
	switch {
	case err == nil:
	case errors.Is(err, bufio.ErrBufferFull):
		return lr.skipLong(b)
	case err == io.EOF:
		lr.eof = true
		if len(b) == 0 {
			return physLine{}, false
		}
	default:
		lr.err = err
		return physLine{}, false
	}
	lr.read++
	size := int64(len(b))
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return physLine{text: b, num: lr.read, size: size}, true
}

// skipLong keeps the start of a line longer than the read buffer and
// discards the rest of it.
func (lr *lineReader) skipLong(first []byte) (physLine, bool) {
	lr.read++
	lr.long = append(lr.long[:0], first[:min(len(first), maxRawBytes)]...)
	size := int64(len(first))
	for {
		b, err := lr.br.ReadSlice('\n')
		lr.bytes += int64(len(b))
		size += int64(len(b))
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			lr.eof = true
		} else if err != nil {
			lr.err = err
			return physLine{}, false
		}
		break
	}
	return physLine{text: lr.long, num: lr.read, tooLong: true, size: size}, true
}

// next returns the next physical line, from the look-ahead queue first.
func (lr *lineReader) next() (physLine, bool) {
	if lr.n > 0 {
		ln := lr.q[lr.head]
		lr.head = (lr.head + 1) % queueCap
		lr.n--
		return ln, true
	}
	return lr.fetch()
}

// peek returns the k-th line after the last one handed out by next (k from
// 0), reading ahead as needed; nil at the end of the input or on an error.
// The line stays queued: next hands it out later.
func (lr *lineReader) peek(k int) *physLine {
	for lr.n <= k {
		ln, ok := lr.fetch()
		if !ok {
			return nil
		}
		slot := &lr.q[(lr.head+lr.n)%queueCap]
		slot.text = append(slot.text[:0], ln.text...)
		slot.num, slot.tooLong, slot.size = ln.num, ln.tooLong, ln.size
		lr.n++
	}
	return &lr.q[(lr.head+k)%queueCap]
}

// drop discards the first k queued lines (consumed by a multi-line record).
func (lr *lineReader) drop(k int) {
	lr.head = (lr.head + k) % queueCap
	lr.n -= k
}

// splitStatus is the outcome of splitting a record into fields.
type splitStatus uint8

const (
	splitOK        splitStatus = iota
	splitOpenQuote             // the input ends inside a quoted field
	splitBadQuote              // a quote inside an unquoted field, or text after a closing quote
)

// field is one field of a record. b aliases the record's input, or the
// record's scratch buffer when a quoted field held doubled quotes.
type field struct {
	b      []byte
	quoted bool
}

// record splits one record (one physical line, or several joined by "\n")
// into fields, by RFC 4180 with strict quotes: a quoted field's closing
// quote must be followed by a comma or the end of the record, and an
// unquoted field holds no quote. The fields are valid until the next split.
type record struct {
	f       []field
	scratch []byte
	badAt   int // for splitBadQuote: byte offset of the offending quote
}

func (r *record) split(in []byte) splitStatus {
	r.f = r.f[:0]
	r.scratch = r.scratch[:0]
	i := 0
	for {
		if i < len(in) && in[i] == '"' {
			// Quoted field: find the closing quote, skipping doubled ones.
			start := i + 1
			j := start
			escaped := false
			for {
				k := indexQuote(in[j:])
				if k < 0 {
					return splitOpenQuote
				}
				j += k
				if j+1 < len(in) && in[j+1] == '"' {
					escaped = true
					j += 2
					continue
				}
				break
			}
			v := in[start:j]
			if escaped {
				v = r.unescape(v)
			}
			r.f = append(r.f, field{b: v, quoted: true})
			i = j + 1
			if i == len(in) {
				return splitOK
			}
			if in[i] != ',' {
				r.badAt = j
				return splitBadQuote
			}
			i++
			continue
		}
		// Unquoted field: up to the next comma. Short fields dominate
		// (ids, sizes, quantities), where a plain loop beats IndexByte.
		j := i
		for j < len(in) {
			c := in[j]
			if c == ',' {
				break
			}
			if c == '"' {
				r.badAt = j
				return splitBadQuote
			}
			j++
		}
		r.f = append(r.f, field{b: in[i:j]})
		if j == len(in) {
			return splitOK
		}
		i = j + 1
	}
}

// indexQuote is bytes.IndexByte(b, '"'), quicker on short fields.
func indexQuote(b []byte) int {
	if len(b) > 16 {
		return bytes.IndexByte(b, '"')
	}
	for i, c := range b {
		if c == '"' {
			return i
		}
	}
	return -1
}

// unescape turns the doubled quotes of v into single ones, in scratch.
func (r *record) unescape(v []byte) []byte {
	if r.scratch == nil || cap(r.scratch)-len(r.scratch) < len(v) {
		// Growing would move the fields already unescaped: start a new
		// buffer instead and leave the old one to them.
		r.scratch = make([]byte, 0, max(2*len(v), 256))
	}
	start := len(r.scratch)
	for len(v) > 0 {
		k := bytes.IndexByte(v, '"')
		if k < 0 {
			r.scratch = append(r.scratch, v...)
			break
		}
		r.scratch = append(r.scratch, v[:k+1]...)
		v = v[k+2:] // skip the second quote of the pair
	}
	return r.scratch[start:len(r.scratch):len(r.scratch)]
}

// checkText reports where a line is not valid UTF-8 or holds a NUL byte
// (PostgreSQL text accepts neither); -1 when it is clean. ASCII without NUL,
// nearly every line, is checked a word at a time.
func checkText(b []byte) int {
	rest := b
	for len(rest) >= 32 {
		if suspect(le64(rest[0:8]))|suspect(le64(rest[8:16]))|suspect(le64(rest[16:24]))|suspect(le64(rest[24:32])) != 0 {
			break
		}
		rest = rest[32:]
	}
	for len(rest) >= 8 {
		if suspect(le64(rest[0:8])) != 0 {
			break
		}
		rest = rest[8:]
	}
	if len(rest) < 8 && len(b) >= 8 && suspect(le64(b[len(b)-8:])) == 0 {
		return -1 // the tail, read as the last 8 bytes
	}
	for i, c := range rest {
		if c == 0 || c >= utf8.RuneSelf {
			return checkRunes(b, len(b)-len(rest)+i)
		}
	}
	return -1
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// suspect is non-zero when one of the 8 bytes of w is >= 0x80 or zero
// (exactly: for bytes 1..0x7f, w-0x01.. borrows nowhere).
func suspect(w uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	return (w | (w-lo)&^w) & hi
}

// checkRunes is checkText from b[i], a rune boundary, on.
func checkRunes(b []byte, i int) int {
	for i < len(b) {
		c := b[i]
		if c == 0 {
			return i
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}
