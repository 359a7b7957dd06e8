package stored

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/s2"
)

// Packed documents (storage format 6). A product document is short (median
// about 390 bytes at a million products): gzip saves only about 110 bytes
// of it, and PostgreSQL never compresses a row under its 2 KB TOAST
// threshold. But a catalogue's product documents say the same things over
// and over (the keys, the categories, the features, the sentences their
// descriptions are made of), so a dictionary learnt from a build's first
// documents takes each to about a third. The packed form is S2 (a Snappy
// extension) with that dictionary: 0.33x at about 1.5 µs a document, 0.8
// µs to unpack, where zstd's fastest level with the same samples' dictionary
// packs 14% smaller for five times the CPU (measured at a million products:
// docs/BENCHMARKS.md, "Product documents packed").
//
// A packed document is not a coding clients take: a reader unpacks it to
// the body, with its lineage's dictionary (pkg/readmodel does, so that the
// API never sees one). Its bytes are:
//
//	0x00                      PackMark: never the first byte of JSON or gzip
//	uvarint dictionary id     the Dict it needs (elier.dicts)
//	S2 block                  the body, with the dictionary
const PackMark = 0x00

const (
	// DictSamples is how many documents a dictionary is learnt from; a
	// build takes its first ones. At a million products, 1,024 documents
	// make a 7 KB dictionary that packs to 0.34x, as 5,000 do.
	DictSamples = 1024

	// minSamples: from fewer documents no dictionary is learnt. Even a
	// handful teaches one the keys and the shared words: the contract's
	// nine sample products pack to about 0.65x with a 716-byte one.
	minSamples = 2

	// maxDictSize bounds what the learner keeps (S2 allows 64 KiB).
	maxDictSize = 16 << 10

	// MaxPacked bounds the body a packed document may claim, so that a
	// corrupt length never allocates more (a product document is a few
	// hundred bytes; PostgreSQL's own limit on a value is 1 GB).
	MaxPacked = 64 << 20
)

// Errors of the packed form.
var (
	// ErrNoDict: a packed document's dictionary is not the one given.
	ErrNoDict = errors.New("stored: packed with another dictionary")
	// ErrPacked: Decode was given a packed document; only a Dict unpacks it.
	ErrPacked = errors.New("stored: a packed document needs its dictionary")
)

// Packed tells whether b, a stored document, is packed.
func Packed(b []byte) bool { return len(b) > 0 && b[0] == PackMark }

// PackedDict returns the id of the dictionary the packed document b needs.
func PackedDict(b []byte) (int64, error) {
	if !Packed(b) {
		return 0, fmt.Errorf("%w: not a packed document", ErrCorrupt)
	}
	id, n := binary.Uvarint(b[1:])
	if n <= 0 || id == 0 || id > 1<<62 {
		return 0, fmt.Errorf("%w: no dictionary id", ErrCorrupt)
	}
	return int64(id), nil
}

// A Dict packs and unpacks documents; it is safe for concurrent use.
type Dict struct {
	id  int64
	raw []byte
	d   *s2.Dict
}

// TrainDict learns the dictionary id from samples (documents of one
// build). With too few samples, or none that repeat, it returns nil and no
// error: the documents are then stored as Encoder stores them.
func TrainDict(id int64, samples [][]byte) (*Dict, error) {
	if len(samples) < minSamples {
		return nil, nil
	}
	raw, err := dict.BuildS2Dict(samples, dict.Options{MaxDictSize: maxDictSize, HashBytes: 6})
	if err != nil || len(raw) < 64 {
		return nil, nil // nothing repeats enough to learn from
	}
	return NewDict(id, raw)
}

// NewDict returns dictionary id from its bytes (Dict.Bytes).
func NewDict(id int64, raw []byte) (*Dict, error) {
	if id <= 0 || id > 1<<62 {
		return nil, fmt.Errorf("stored: dictionary id %d out of range", id)
	}
	d := s2.NewDict(raw)
	if d == nil {
		return nil, fmt.Errorf("%w: dictionary %d does not read", ErrCorrupt, id)
	}
	return &Dict{id: id, raw: raw, d: d}, nil
}

// ID is the dictionary's id, which each document it packs names.
func (d *Dict) ID() int64 { return d.id }

// Bytes is the dictionary as it is stored (NewDict reads it back).
func (d *Dict) Bytes() []byte { return d.raw }

// Append appends body's packed form to dst, or body as it is when packing
// would not make it smaller. A body that itself starts with PackMark
// (never a JSON document) is always packed, so that every body reads back
// as it was.
func (d *Dict) Append(dst, body []byte) []byte {
	start := len(dst)
	dst = append(dst, PackMark)
	dst = binary.AppendUvarint(dst, uint64(d.id))
	head := len(dst)
	need := head + s2.MaxEncodedLen(len(body))
	dst = slices.Grow(dst, need-head)
	block := d.d.Encode(dst[head:need], body)
	if len(block)+head-start >= len(body) && !Packed(body) {
		return append(dst[:start], body...)
	}
	return dst[:head+len(block)]
}

// Unpack appends the body of the packed document b to dst.
func (d *Dict) Unpack(dst, b []byte) ([]byte, error) {
	id, err := PackedDict(b)
	if err != nil {
		return dst, err
	}
	if id != d.id {
		return dst, fmt.Errorf("%w: document of dictionary %d, given %d", ErrNoDict, id, d.id)
	}
	_, n := binary.Uvarint(b[1:])
	block := b[1+n:]
	size, err := s2.DecodedLen(block)
	if err != nil || size > MaxPacked {
		return dst, fmt.Errorf("%w: packed length", ErrCorrupt)
	}
	start := len(dst)
	dst = slices.Grow(dst, size)
	out, err := d.d.Decode(dst[start:start:start+size], block)
	if err != nil || len(out) != size {
		return dst[:start], fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return dst[:start+size], nil
}

// Dicts is a set of dictionaries by id, safe for concurrent use: a
// reader's, filled as it meets packed documents. It keeps the newest
// dictionaries only (a full build makes one; a reader needs its live
// build's, and for a moment the one before).
type Dicts struct {
	mu sync.RWMutex
	m  map[int64]*Dict
}

// keepDicts is how many dictionaries a Dicts keeps.
const keepDicts = 8

// Get returns dictionary id, or nil.
func (s *Dicts) Get(id int64) *Dict {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[id]
}

// Add keeps d, forgetting the oldest dictionary (the lowest id: ids are
// build ids) beyond keepDicts.
func (s *Dicts) Add(d *Dict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int64]*Dict{}
	}
	s.m[d.id] = d
	for len(s.m) > keepDicts {
		oldest := int64(-1)
		for id := range s.m {
			if oldest < 0 || id < oldest {
				oldest = id
			}
		}
		delete(s.m, oldest)
	}
}
