package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"testing"
)

// TestListItems: packed list items put together the same pages, byte for
// byte, as the cache's split entries they were made from, across chunk
// boundaries; an item missing from the cache packs nothing; and the items
// serve only their own build, never once a row of a newer one was seen.
func TestListItems(t *testing.T) {
	t.Parallel()
	s := &server{log: slog.New(slog.DiscardHandler), cache: newCache(64 << 20), pollNow: make(chan struct{}, 1)}
	s.build.Store(1)
	s.newestRow.Store(1)
	// Items big enough (incompressible) that the packing spans chunks.
	const n = 3000
	order := make([]int32, n)
	plain := make([][]byte, n)
	for i := range order {
		id := int32(n - i) // a list order that is not the ids' order
		order[i] = id
		var filler []byte
		for j := range 40 {
			filler = fmt.Appendf(filler, "%08x", uint32(id)*2654435761^uint32(j)*40503)
		}
		item := fmt.Appendf(nil, `{"id":%d,"name":"%s"}`, id, filler)
		product := append(append([]byte{}, item[:len(item)-1]...), `,"features":[]}`...)
		entry, ok := appendSplit(nil, item, product)
		if !ok {
			t.Fatal("appendSplit")
		}
		s.cache.put(cacheKey{res: docKey(routeProduct, id)}, encGzip, 200, false, 0, int64(id), entry)
		plain[i] = item
	}
	it := s.buildListItems(context.Background(), 1, order, 64<<10)
	if it == nil {
		t.Fatal("nothing packed with every item in the cache")
	}
	if len(it.chunks) < 2 {
		t.Fatalf("%d chunk(s): the test does not cross a chunk's end", len(it.chunks))
	}
	checkPages(t, "packed", it, plain, [][2]int64{{0, 5}, {0, 1}, {n - 3, n}, {1000, 1007}, {0, n}})

	// Build 2: product order[3] changed, order[5] removed, 4000 added
	// at the end, and the rest as they were; its items are build 1's
	// but for those, which are read from the cache.
	order2 := append(append([]int32{}, order[:5]...), order[6:]...)
	order2 = append(order2, 4000)
	plain2 := append(append([][]byte{}, plain[:5]...), plain[6:]...)
	for _, id := range []int32{order[3], 4000} {
		item := fmt.Appendf(nil, `{"id":%d,"name":"new"}`, id)
		entry, _ := appendSplit(nil, item, append(append([]byte{}, item[:len(item)-1]...), `,"features":[]}`...))
		s.cache.put(cacheKey{res: docKey(routeProduct, id)}, encGzip, 200, false, 0, int64(id), entry)
		if id == 4000 {
			plain2 = append(plain2, item)
		} else {
			plain2[3] = item
		}
	}
	it2 := s.repackItems(context.Background(), it, []int32{order[3], order[5], 4000}, 2, order2, 64<<10)
	if it2 == nil || it2.build != 2 || len(it2.items) != len(order2) {
		t.Fatalf("repacked: %+v", it2)
	}
	if &it2.chunks[0][0] != &it.chunks[0][0] || len(it2.chunks) != len(it.chunks)+1 {
		t.Errorf("repacked into %d chunks (build 1's %d, shared: %v): want build 1's and one new", len(it2.chunks), len(it.chunks), &it2.chunks[0][0] == &it.chunks[0][0])
	}
	checkPages(t, "repacked", it2, plain2, [][2]int64{{0, 8}, {n - 4, n}, {0, n}})
	if w := it.wasted(); w != 0 {
		t.Errorf("items packed whole waste %.3f of their chunks", w)
	}
	// Wasted: the bytes of build 1's item of order[3] and order[5].
	used, old := 0, 0
	for _, r := range it2.items {
		used += int(r.len)
	}
	for _, r := range it.items {
		old += int(r.len)
	}
	want := 1 - float64(used)/float64(old+int(it2.items[3].len)+int(it2.items[len(it2.items)-1].len))
	if w := it2.wasted(); w <= 0 || w != want {
		t.Errorf("repacked items waste %.5f of their chunks, want %.5f", w, want)
	}

	s.setItems(it)
	if s.liveItems(1) != it {
		t.Fatal("the live build's items are not used")
	}
	if s.liveItems(2) != nil {
		t.Error("build 1's items served a page of build 2")
	}
	s.newerRow(2, order[7])
	if s.liveItems(1) != nil {
		t.Error("the items served a page after a row of a newer build was seen")
	}
	if s.buildListItems(context.Background(), 1, order, 64<<10) != nil {
		t.Error("items packed though one was dropped from the cache")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s.buildListItems(ctx, 1, order[8:], 64<<10) != nil {
		t.Error("items packed after the context ended")
	}
}

// checkPages puts together the pages of items [first, last) of it, for
// each pair of spans, and checks each against the plain items it was
// packed from, joined as a page ("[", ",", "]"), and its hash.
func checkPages(t *testing.T, what string, it *listItems, plain [][]byte, spans [][2]int64) {
	t.Helper()
	for _, sp := range spans {
		var b pageBuilder
		b.start(nil)
		for i := sp[0]; i < sp[1]; i++ {
			b.add(it.piece(i))
		}
		gz, hash := b.finish()
		want := append(append([]byte("["), bytes.Join(plain[sp[0]:sp[1]], []byte(","))...), ']')
		if got := gunzipStrict(t, gz); !bytes.Equal(got, want) || hash != pageHash(want) {
			t.Fatalf("%s items %d-%d decode to %.80q (hash %x), want %.80q (%x)", what, sp[0], sp[1], got, hash, want, pageHash(want))
		}
	}
}

// TestPositions: an id's position in a list order, whether the ids are
// dense (an array) or sparse up to the largest id the contract allows (a
// map: an array would take 8 GB), and none for the changed products.
func TestPositions(t *testing.T) {
	t.Parallel()
	for _, ids := range [][]int32{{3, 1, 2, 7}, {2147483647, 5, 1 << 30, 9}} {
		p := newPositions(ids, []int32{ids[2], 12345})
		if (p.m == nil) != (ids[0] == 3) {
			t.Errorf("%v: map %v", ids, p.m != nil)
		}
		for i, id := range ids {
			want := int32(i) + 1
			if i == 2 {
				want = 0 // changed
			}
			if got := p.get(id); got != want {
				t.Errorf("%v: position of %d = %d, want %d", ids, id, got, want)
			}
		}
		for _, id := range []int32{0, -1, 4, 12345, 2147483646} {
			if got := p.get(id); got != 0 {
				t.Errorf("%v: position of %d (not in the order) = %d", ids, id, got)
			}
		}
	}
}

// TestItemsRaiseHeapLimit: a server that owns the soft memory limit
// raises it by its list items' size when they are packed, and leaves it
// when they are dropped; one that does not own it never touches it. Not
// parallel: the limit is the process's.
func TestItemsRaiseHeapLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	it := &listItems{build: 1, chunks: [][]byte{make([]byte, 0, 1<<20)}, items: make([]itemRef, 10)}
	(&server{}).setItems(it)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("a server without HeapLimit moved the limit: %d, was %d", got, before)
	}
	s := &server{heapLimit: 64 << 20}
	s.setItems(it)
	want := int64(64<<20) + it.size()
	if got := debug.SetMemoryLimit(-1); got != want || it.size() < 1<<20 {
		t.Errorf("limit %d with %d bytes of items, want %d", got, it.size(), want)
	}
	s.setItems(nil)
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("dropping the items moved the limit to %d, want it left at %d", got, want)
	}
}
