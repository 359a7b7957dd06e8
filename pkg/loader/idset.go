package loader

import "math/bits"

// Ids are positive int32s that may skip and come in any order, and a hostile
// file may hold a 2-billion id. Paged structures keep memory proportional to
// the id ranges actually present (a 64 Ki-id page at a time) instead of to the
// largest id.
const (
	pageBits = 16
	pageSize = 1 << pageBits
	numPages = 1 << (31 - pageBits)
)

// IDSet is a set of positive int32 ids. The zero value is empty and ready.
type IDSet struct {
	pages [][]uint64
	n     int
}

// Add inserts id and reports whether it was new.
func (s *IDSet) Add(id int32) bool {
	if s.pages == nil {
		s.pages = make([][]uint64, numPages)
	}
	p := &s.pages[id>>pageBits]
	if *p == nil {
		*p = make([]uint64, pageSize/64)
	}
	off := uint32(id) & (pageSize - 1)
	w, bit := off>>6, uint64(1)<<(off&63)
	if (*p)[w]&bit != 0 {
		return false
	}
	(*p)[w] |= bit
	s.n++
	return true
}

// Has reports whether id is in the set.
func (s *IDSet) Has(id int32) bool {
	if s.pages == nil || id <= 0 {
		return false
	}
	p := s.pages[id>>pageBits]
	if p == nil {
		return false
	}
	off := uint32(id) & (pageSize - 1)
	return p[off>>6]&(uint64(1)<<(off&63)) != 0
}

// Len returns the number of ids in the set.
func (s *IDSet) Len() int { return s.n }

// Ascending calls fn for each id in increasing order until fn returns false.
func (s *IDSet) Ascending(fn func(id int32) bool) {
	for pi, p := range s.pages {
		if p == nil {
			continue
		}
		for wi, w := range p {
			for w != 0 {
				b := bits.TrailingZeros64(w)
				if !fn(int32(pi<<pageBits | wi<<6 | b)) {
					return
				}
				w &= w - 1
			}
		}
	}
}

// ParentMap maps a positive int32 id to a positive int32 parent id (styles to
// their product). Zero means absent.
type ParentMap struct {
	pages [][]int32
	n     int
}

// Set records id's parent; it reports false if id already had one.
func (m *ParentMap) Set(id, parent int32) bool {
	if m.pages == nil {
		m.pages = make([][]int32, numPages)
	}
	p := &m.pages[id>>pageBits]
	if *p == nil {
		*p = make([]int32, pageSize)
	}
	off := uint32(id) & (pageSize - 1)
	if (*p)[off] != 0 {
		return false
	}
	(*p)[off] = parent
	m.n++
	return true
}

// Get returns id's parent, or 0 when id is absent.
func (m *ParentMap) Get(id int32) int32 {
	if m.pages == nil || id <= 0 {
		return 0
	}
	p := m.pages[id>>pageBits]
	if p == nil {
		return 0
	}
	return p[uint32(id)&(pageSize-1)]
}

// Len returns the number of ids mapped.
func (m *ParentMap) Len() int { return m.n }
