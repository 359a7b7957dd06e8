package api

import (
	"bytes"
	"sync"
	"testing"
)

func testEntry(key uint64, build int64, size int) *entry {
	return newEntry(key, build, bytes.Repeat([]byte("x"), size), []byte("t"))
}

func TestCacheBuilds(t *testing.T) {
	c := newCache(32 << 20)
	e := testEntry(docKey(routeStyles, 1), 1, 1000)
	c.put(e)
	if c.get(e.key, 1, 0) != e {
		t.Fatal("miss after put")
	}
	if c.get(e.key, 2, 0) != nil {
		t.Fatal("an entry of build 1 served for build 2")
	}
	if c.get(docKey(routeProduct, 1), 1, 0) != nil || c.get(docKey(routeStyles, 2), 1, 0) != nil {
		t.Fatal("keys collide")
	}
	c.reset()
	if c.get(e.key, 1, 0) != nil {
		t.Fatal("hit after reset")
	}
	if st := c.stats(); st.entries != 0 || st.bytes != 0 || st.hits != 1 || st.misses != 4 {
		t.Fatalf("stats after reset: %+v", st)
	}
	// Entries expire (404s).
	n := &entry{key: 7, build: 1, status: 404, plain: []byte("{}"), expires: 100, slot: -1}
	c.put(n)
	if c.get(7, 1, 99) != n || c.get(7, 1, 100) != nil {
		t.Fatal("expiry")
	}
}

func TestCacheBound(t *testing.T) {
	const capacity = 4 << 20
	c := newCache(capacity)
	hot := testEntry(docKey(routeStyles, 1), 1, 2000)
	c.put(hot)
	for i := range int32(20000) {
		c.put(testEntry(docKey(routeStyles, i+2), 1, 2000))
		c.get(hot.key, 1, 0) // the hot key stays referenced
		if i%1000 == 0 {
			checkShards(t, c)
		}
	}
	st := c.stats()
	if st.bytes > capacity {
		t.Fatalf("%d bytes cached, capacity %d", st.bytes, capacity)
	}
	if st.evictions == 0 || st.entries < 1000 {
		t.Fatalf("stats: %+v", st)
	}
	if c.get(hot.key, 1, 0) != hot {
		t.Fatal("CLOCK evicted the hot entry")
	}
	// Too big to keep: served, not kept.
	big := testEntry(docKey(routeProduct, 1), 1, capacity)
	c.put(big)
	if c.get(big.key, 1, 0) != nil {
		t.Fatal("an entry bigger than a shard's share was kept")
	}
	// Compressed variants count against the bound while the entry is cached.
	before := c.stats().bytes
	v := c.attach(hot, encGzip, &variant{body: make([]byte, 500)})
	if c.attach(hot, encGzip, &variant{body: make([]byte, 400)}) != v {
		t.Fatal("a second variant replaced the first")
	}
	if got := c.stats().bytes; got != before+500 && got > capacity {
		t.Fatalf("bytes %d after attaching 500 to %d", got, before)
	}
	checkShards(t, c)
	c.reset()
	c.attach(hot, encBrotli, &variant{body: make([]byte, 500)})
	if st := c.stats(); st.bytes != 0 {
		t.Fatalf("a variant of an entry no longer cached is counted: %+v", st)
	}
}

// checkShards verifies each shard's bookkeeping: ring and map agree, every
// slot is right, bytes add up.
func checkShards(t *testing.T, c *cache) {
	t.Helper()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		if len(sh.ring) != len(sh.m) {
			t.Fatalf("shard %d: ring %d, map %d", i, len(sh.ring), len(sh.m))
		}
		var n int64
		for j, e := range sh.ring {
			if e.slot != j || sh.m[e.key] != e {
				t.Fatalf("shard %d: slot %d holds an entry that says %d", i, j, e.slot)
			}
			n += e.size
		}
		if n != sh.bytes || sh.bytes > sh.capacity {
			t.Fatalf("shard %d: bytes %d, entries sum to %d, capacity %d", i, sh.bytes, n, sh.capacity)
		}
		sh.mu.Unlock()
	}
}

func TestCacheDisabled(t *testing.T) {
	c := newCache(0)
	e := testEntry(1, 1, 10)
	c.put(e)
	if c.get(1, 1, 0) != nil {
		t.Fatal("a disabled cache kept an entry")
	}
	c.attach(e, encGzip, &variant{})
	if st := c.stats(); st.bytes != 0 || st.capacity != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := newCache(2 << 20)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range int32(5000) {
				k := docKey(routeStyles, (i*7+int32(g))%3000+1)
				if e := c.get(k, 1, 0); e == nil {
					c.put(testEntry(k, 1, 700))
				} else if i%5 == 0 {
					c.attach(e, encBrotli, &variant{body: make([]byte, 100)})
				}
				if i%2000 == 0 && g == 0 {
					c.reset()
				}
			}
		})
	}
	wg.Wait()
	checkShards(t, c)
}
