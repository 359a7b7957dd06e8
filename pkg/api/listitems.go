package api

import (
	"context"
	"runtime/debug"
	"time"
	"unsafe"
)

// listItems is one build's list items side by side, in list order: each
// item's piece (pieces.go) with the piece of its closing brace already
// joined to it, packed into chunks of a few MiB. A list page is then a
// run of neighbouring items in memory, read at once, where the cache
// costs a lookup per item: a hash, a bucket's lock, a map probe and a copy
// of the whole product document, each a random read over the whole
// catalogue's gigabyte. Measured at 1,000,011 products: uniform pages
// 1.39x the requests a second (docs/BENCHMARKS.md, "List pages from
// packed items").
//
// It is made from the cache's split entries once a prefill has put the
// whole build in (packItems), and never changes. After a swap that
// dropped only the products the new build changed, the new build's items
// are the old ones' references, but for those products, read from the
// cache (repackItems: 0.18-0.25 s at a million products with 1% changed,
// where reading every item from the cache takes 2.2 s of a core); the two
// share their chunks. Otherwise a build change drops them and the next
// whole prefill packs the new build's. A page uses it only for its
// own build, and not once a row of a newer build has been seen: pages
// then go back to the cache's entries, from which that row's product was
// dropped, so that no page shows an older item after a newer body.
//
// It lives on the Go heap (about 0.25 KB an item: 260 MB at a million
// products), in a few hundred pointer-free chunks that the garbage
// collector does not scan; the soft memory limit is raised by its size
// (setItems), so that the collector keeps the rest of the heap where it
// was.
type listItems struct {
	build  int64
	ids    []int32 // the list order they were packed in
	chunks [][]byte
	items  []itemRef // by list position
}

// itemRef is where an item's piece is, and its CRC-32, length and
// operator (piece).
type itemRef struct {
	chunk, off, len uint32
	crc, n, op      uint32
}

// itemChunk is the size of the chunks the items are packed into.
const itemChunk = 4 << 20

func (it *listItems) piece(i int64) piece {
	r := &it.items[i]
	return piece{deflate: it.chunks[r.chunk][r.off : r.off+r.len], crc: r.crc, n: r.n, op: r.op}
}

// size is the memory it holds.
func (it *listItems) size() int64 {
	if it == nil {
		return 0
	}
	n := int64(cap(it.items)) * int64(unsafe.Sizeof(itemRef{}))
	for _, c := range it.chunks {
		n += int64(cap(c))
	}
	return n
}

// buildListItems makes build's list items from the cache, in order, in
// chunks of chunk bytes; nil when an item is not there (the prefill
// stopped short of the whole catalogue, a drop since) or ctx ends.
func (s *server) buildListItems(ctx context.Context, build int64, order []int32, chunk int) *listItems {
	return s.repackItems(ctx, nil, nil, build, order, chunk)
}

// repackItems makes build's list items in order: an item of base (another
// build's items) whose product is not in changed is base's, any other is
// read from the cache, packed into new chunks of chunk bytes. nil when an
// item to read is not in the cache or ctx ends. With base nil, every item
// is read.
func (s *server) repackItems(ctx context.Context, base *listItems, changed []int32, build int64, order []int32, chunk int) *listItems {
	it := &listItems{build: build, ids: order, items: make([]itemRef, 0, len(order))}
	var at positions
	if base != nil {
		it.chunks = base.chunks[:len(base.chunks):len(base.chunks)]
		at = newPositions(base.ids, changed)
	}
	var cur, scratch []byte
	for i, id := range order {
		if i&0xfff == 0 && ctx.Err() != nil {
			return nil
		}
		if p := at.get(id); p > 0 {
			it.items = append(it.items, base.items[p-1])
			continue
		}
		h, ok := s.cache.get(scratch, cacheKey{res: docKey(routeProduct, id)}, encGzip, 0)
		scratch = h.buf
		head, _, sok := splitOf(h.body)
		if !ok || !sok {
			return nil
		}
		n := len(head.deflate) + len(pBrace.deflate)
		if len(cur)+n > cap(cur) {
			if cur != nil {
				it.chunks = append(it.chunks, cur)
			}
			cur = make([]byte, 0, max(chunk, n))
		}
		off := len(cur)
		cur = append(append(cur, head.deflate...), pBrace.deflate...)
		it.items = append(it.items, itemRef{
			chunk: uint32(len(it.chunks)), off: uint32(off), len: uint32(n),
			crc: pBrace.combine(head.crc), n: head.n + pBrace.n, op: multModP(head.op, pBrace.op),
		})
	}
	if cur != nil {
		it.chunks = append(it.chunks, cur)
	}
	return it
}

// positions maps a product id to 1 + the position of its item in a
// build's list items, 0 for none: an array indexed by id when the ids are
// dense enough (4 MB at a million products), else a map (an id is any
// positive 32-bit integer: an array over a sparse export's ids could take
// gigabytes).
type positions struct {
	dense []int32
	m     map[int32]int32
}

// newPositions maps ids (a list order) but for the products of changed.
func newPositions(ids, changed []int32) positions {
	top := int32(0)
	for _, id := range ids {
		top = max(top, id)
	}
	var p positions
	if int64(top) <= 2*int64(len(ids))+1<<16 {
		p.dense = make([]int32, int64(top)+1)
	} else {
		p.m = make(map[int32]int32, len(ids))
	}
	for i, id := range ids {
		p.set(id, int32(i)+1)
	}
	for _, id := range changed {
		p.set(id, 0)
	}
	return p
}

func (p positions) set(id, v int32) {
	switch {
	case p.m != nil && v == 0:
		delete(p.m, id)
	case p.m != nil:
		p.m[id] = v
	case id >= 0 && int(id) < len(p.dense):
		p.dense[id] = v
	}
}

func (p positions) get(id int32) int32 {
	if p.m != nil {
		return p.m[id]
	}
	if id >= 0 && int(id) < len(p.dense) {
		return p.dense[id]
	}
	return 0
}

// wasted is the share of the bytes written into its chunks that no item
// of it refers to: the old bytes of products repacked since the chunks
// were filled (0 for items packed whole).
func (it *listItems) wasted() float64 {
	var used, filled int64
	for _, r := range it.items {
		used += int64(r.len)
	}
	for _, c := range it.chunks {
		filled += int64(len(c))
	}
	if filled == 0 {
		return 0
	}
	return 1 - float64(used)/float64(filled)
}

// maxWasted is the share of the chunks' bytes that repacking leaves
// unused before the items are packed afresh (1% of the products a day:
// about a month).
const maxWasted = 0.25

// packItems packs build id's list items after its prefill and makes them
// the ones pages use, unless another build is live by then. changed is
// nil after a whole prefill; after a prefill of the products a swap from
// build from changed, the items of from, if they are the ones held, are
// repacked, those products' read again.
func (s *server) packItems(ctx context.Context, id, from int64, changed []int32) {
	o := s.order.Load()
	if o == nil || o.build != id {
		return
	}
	t := time.Now()
	var it *listItems
	var repackedFrom int64 // 0: packed whole
	if base := s.items.Load(); changed != nil && base != nil && base.build == from && from != id {
		if it = s.repackItems(ctx, base, changed, id, o.ids, itemChunk); it != nil && it.wasted() > maxWasted {
			it = nil
		}
		if it != nil {
			repackedFrom = from
		}
	}
	if it == nil {
		it = s.buildListItems(ctx, id, o.ids, itemChunk)
	}
	if it == nil {
		s.log.Debug("list items not packed: an item left the cache, or another build is live", "build_id", id)
		return
	}
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	if s.build.Load() != id {
		return
	}
	s.setItems(it)
	if repackedFrom != 0 {
		s.itemsRepacked.Add(1)
	} else {
		s.itemsPacked.Add(1)
	}
	s.log.Info("list items packed", "build_id", id, "items", len(it.items), "bytes", it.size(),
		"repacked_from", repackedFrom, "seconds", time.Since(t).Seconds())
}

// liveItems is the packed list items for a page of build seen, or nil:
// none packed, another build's, or a row of a newer build was seen.
func (s *server) liveItems(seen int64) *listItems {
	if it := s.items.Load(); it != nil && it.build == seen && s.newestRow.Load() <= seen {
		return it
	}
	return nil
}

// setItems makes it the list items pages use (nil: none), and moves the
// soft memory limit with their size when the server owns it
// (Config.HeapLimit). Dropping them leaves the limit where it was: the
// next build's are about as large.
func (s *server) setItems(it *listItems) {
	s.items.Store(it)
	if s.heapLimit > 0 && it != nil {
		debug.SetMemoryLimit(s.heapLimit + it.size())
	}
}
