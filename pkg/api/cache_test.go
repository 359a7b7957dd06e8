package api

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// body returns a body that names its key, so a hit can be checked against
// what was put.
func testBody(k cacheKey, enc encoding, size int) []byte {
	b := fmt.Appendf(nil, "%d/%x/%d:", k.build, k.res, enc)
	for len(b) < size {
		b = append(b, 'x')
	}
	return b
}

func TestCacheBuilds(t *testing.T) {
	c := newCache(32 << 20)
	k := cacheKey{build: 1, res: docKey(routeStyles, 1)}
	body := testBody(k, encIdentity, 1000)
	c.put(k, encIdentity, 200, false, 0, 7, body)
	h, ok := c.get(nil, k, encIdentity, 0)
	if !ok || !bytes.Equal(h.body, body) || h.status != 200 || !h.identity {
		t.Fatalf("get after put: %v %+v", ok, h)
	}
	for _, other := range []cacheKey{
		{build: 2, res: k.res},
		{build: 1, res: docKey(routeProduct, 1)},
		{build: 1, res: docKey(routeStyles, 2)},
		{build: 1, res: listKey(1, 5)},
	} {
		if _, ok := c.get(nil, other, encIdentity, 0); ok {
			t.Fatalf("%+v answered with %+v's entry", other, k)
		}
	}
	if _, ok := c.get(nil, k, encGzip, 0); ok {
		t.Fatal("the identity entry answered for gzip")
	}
	if st := c.stats(); st.hits != 1 || st.misses != 5 || st.entries != 1 || st.bytes == 0 {
		t.Fatalf("stats: %+v", st)
	}
	c.reset()
	if _, ok := c.get(nil, k, encIdentity, 0); ok {
		t.Fatal("hit after reset")
	}
	// Counters carry on across a reset (they are Prometheus counters).
	if st := c.stats(); st.entries != 0 || st.hits != 1 || st.misses != 6 {
		t.Fatalf("stats after reset: %+v", st)
	}

	// Entries expire (404s), and count as misses then.
	n := cacheKey{build: 1, res: docKey(routeProduct, 7)}
	c.put(n, encIdentity, 404, false, 100, 7, []byte(`{}`))
	if h, ok := c.get(nil, n, encIdentity, 99); !ok || h.status != 404 || h.expires != 100 {
		t.Fatalf("before expiry: %v %+v", ok, h)
	}
	if _, ok := c.get(nil, n, encIdentity, 100); ok {
		t.Fatal("an expired entry was served")
	}
	if st := c.stats(); st.hits != 2 || st.misses != 7 {
		t.Fatalf("stats after expiry: %+v", st)
	}
}

func TestCacheVariants(t *testing.T) {
	c := newCache(32 << 20)
	k := cacheKey{build: 3, res: docKey(routeStyles, 9)}
	c.put(k, encIdentity, 200, false, 0, 7, []byte("plain"))
	c.put(k, encGzip, 200, false, 0, 7, []byte("gz"))
	c.put(k, encBrotli, 404, true, 0, 7, []byte("as is"))
	for _, tc := range []struct {
		enc      encoding
		body     string
		status   int
		identity bool
	}{
		{encIdentity, "plain", 200, true},
		{encGzip, "gz", 200, false},
		{encBrotli, "as is", 404, true},
	} {
		h, ok := c.get(nil, k, tc.enc, 0)
		if !ok || string(h.body) != tc.body || h.status != tc.status || h.identity != tc.identity {
			t.Fatalf("%s: %v %+v", tc.enc.name(), ok, h)
		}
	}
}

// The get copies into the buffer it is given and hands back the body as a
// prefix of it: the handler's zero-allocation hit depends on it.
func TestCacheGetReusesBuffer(t *testing.T) {
	c := newCache(32 << 20)
	k := cacheKey{build: 1, res: docKey(routeStyles, 1)}
	c.put(k, encIdentity, 200, false, 0, 7, testBody(k, encIdentity, 2000))
	buf := make([]byte, 0, 4096)
	h, ok := c.get(buf, k, encIdentity, 0)
	if !ok || &h.buf[:1][0] != &buf[:1][0] || &h.body[0] != &buf[:1][0] {
		t.Fatal("the value was not copied into the given buffer")
	}
	if n := testing.AllocsPerRun(100, func() { c.get(buf, k, encIdentity, 0) }); n != 0 {
		t.Fatalf("%v allocations per hit", n)
	}
}

func TestCacheBound(t *testing.T) {
	const capacity = 32 << 20
	c := newCache(capacity)
	const size = 2000
	n := int32(3 * capacity / size)
	for i := range n {
		k := cacheKey{build: 1, res: docKey(routeStyles, i+1)}
		c.put(k, encIdentity, 200, false, 0, 7, testBody(k, encIdentity, size))
	}
	st := c.stats()
	if st.bytes > capacity || st.capacity != capacity {
		t.Fatalf("%d bytes cached, capacity %d", st.bytes, st.capacity)
	}
	// FIFO: the newest entries are there, the oldest gone.
	last := cacheKey{build: 1, res: docKey(routeStyles, n)}
	if h, ok := c.get(nil, last, encIdentity, 0); !ok || !bytes.Equal(h.body, testBody(last, encIdentity, size)) {
		t.Fatal("the newest entry is missing")
	}
	if _, ok := c.get(nil, cacheKey{build: 1, res: docKey(routeStyles, 1)}, encIdentity, 0); ok {
		t.Fatal("the oldest entry survived three times the capacity")
	}
	// Too big for a chunk: served, not kept.
	big := cacheKey{build: 1, res: docKey(routeProduct, 1)}
	c.put(big, encIdentity, 200, false, 0, 7, make([]byte, 70<<10))
	if _, ok := c.get(nil, big, encIdentity, 0); ok {
		t.Fatal("a 70 KiB entry was kept")
	}
	// The minimum capacity is fastcache's: 32 MiB.
	if st := newCache(1 << 20).stats(); st.capacity != minCacheBytes {
		t.Fatalf("capacity of a 1 MiB cache: %d", st.capacity)
	}
}

// The cached bodies live outside the Go heap: filling the cache does not
// grow the heap the garbage collector marks.
func TestCacheOffHeap(t *testing.T) {
	c := newCache(64 << 20)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	body := make([]byte, 2500)
	for i := range int32(25000) { // 62 MB of bodies
		c.put(cacheKey{build: 1, res: docKey(routeStyles, i+1)}, encIdentity, 200, false, 0, 7, body)
	}
	after := heap()
	if st := c.stats(); st.bytes < 50<<20 {
		t.Fatalf("cache holds only %d bytes", st.bytes)
	}
	if grew := int64(after) - int64(before); grew > 8<<20 {
		t.Fatalf("the Go heap grew by %d bytes for 62 MB cached", grew)
	}
	runtime.KeepAlive(c)
}

func TestCacheDisabled(t *testing.T) {
	c := newCache(0)
	k := cacheKey{build: 1, res: 1}
	c.put(k, encIdentity, 200, false, 0, 7, []byte("x"))
	if _, ok := c.get(nil, k, encIdentity, 0); ok {
		t.Fatal("a disabled cache kept an entry")
	}
	c.reset()
	if st := c.stats(); st.bytes != 0 || st.capacity != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Concurrent gets, puts (overwriting, evicting) and resets never return a
// body that is not the one put under that key and coding.
func TestCacheConcurrent(t *testing.T) {
	c := newCache(32 << 20)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			buf := make([]byte, 0, 8192)
			for i := range int32(40000) {
				k := cacheKey{build: int64(i % 3), res: docKey(routeStyles, (i*7+int32(g))%20000+1)}
				enc := encoding(i % int32(numEncodings))
				h, ok := c.get(buf, k, enc, 0)
				buf = h.buf
				if !ok {
					c.put(k, enc, 200, false, 0, 7, testBody(k, enc, 700+int(i%5000)))
				} else if want := testBody(k, enc, len(h.body)); !bytes.Equal(h.body, want) {
					t.Errorf("%+v %d: got %.40q", k, enc, h.body)
					return
				}
				if i%9000 == 0 && g == 0 {
					c.reset()
				}
			}
		})
	}
	wg.Wait()
}
