package api

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/fastcache"

	"github.com/elier/catalogue/pkg/readmodel"
)

// The cache holds whole response bodies of the live build, and their
// compressed variants, keyed by route, coding and id (product documents) or
// by build, coding, page and count (list pages), bounded in bytes; each
// entry keeps its body's hash, the ETag.
//
// It is a fastcache.Cache: 512 buckets, each a ring of 64 KiB chunks that
// live outside the Go heap (mmap), indexed by a map of integers. Two
// properties decide the choice, both measured (docs/BENCHMARKS.md):
//   - the garbage collector never sees the cached bodies: with 500 MB of
//     responses on the Go heap, every GC cycle marked them (60-85 ms with
//     one of the two cores taken, several times a second under uniform
//     misses), which showed in the p99, and the heap's size classes and
//     GC headroom put the process's RSS well above the budget;
//   - memory is bounded by the budget itself: RSS is the chunks in use
//     plus a small Go heap, whatever the traffic.
//
// The price is a copy of the body on each hit (as bare fasthttp's own
// SetBody does) and FIFO eviction per bucket instead of CLOCK: a hot entry
// is written again after a miss each time its bucket's ring wraps, which at
// the full catalogue's miss rate is about once a minute.
//
// A product document's entry survives a swap unless the new build changed,
// added or removed that product: the build says which (elier.builds.changed)
// and the server drops just those (dropProduct), or everything (reset) when
// the two builds are not one built on the other. A list page's key holds
// its build, since adding or removing any product moves later positions.

// encoding is a content coding the cache keeps a body in.
type encoding uint8

const (
	encIdentity encoding = iota
	encGzip
	encBrotli
	numEncodings
)

// minCacheBytes is fastcache's smallest capacity: 512 buckets of one chunk.
const minCacheBytes = 32 << 20

// trailerLen is the bytes after each cached body: status (2), expiry (8,
// unix nanoseconds, 0 for as long as it stays valid) and the body's hash
// (8). The body comes first so that a hit's body is a prefix of the buffer
// it was copied into.
const trailerLen = 18

// identityFlag, in a trailer's status, marks a body kept under a coding's
// key as it is: an error, a body too small to code, or one coding did not
// make smaller. A client asking for that coding then costs one lookup.
const identityFlag = 1 << 15

// entryOverhead is what the cache spends on an entry beside its body: the
// trailer, the 16-byte key and fastcache's 4-byte header.
const entryOverhead = trailerLen + 16 + 4

// cacheNeed is the capacity that holds a whole catalogue: each product's
// three stored documents and their entries' overhead, plus 10% for
// fastcache's 512 buckets filling unevenly (each evicts on its own when
// full), the odd 404, list page or brotli copy. docs/DEPLOY.md ("Sizing the
// API's cache") gives the rule and what it measured.
func cacheNeed(c readmodel.Catalogue) int64 {
	return (c.StoredBytes + 3*c.Products*entryOverhead) * 11 / 10
}

// cache is the response cache. A nil fastcache (capacity 0) disables it:
// get always misses and put keeps nothing.
type cache struct {
	fc       *fastcache.Cache
	capacity int64

	// fastcache counts Get calls and misses per bucket; these add what it
	// cannot know: hits on expired entries (misses to us), and the counts
	// of the instances before each reset (its counters restart from 0).
	expired atomic.Uint64
	mu      sync.Mutex // serializes reset against stats' snapshot
	base    cacheStats
}

func newCache(capacity int64) *cache {
	c := &cache{}
	if capacity > 0 {
		c.capacity = max(capacity, minCacheBytes)
		c.fc = fastcache.New(int(c.capacity))
	}
	return c
}

// cacheKey is a resource: route in the top byte, then id, or page and
// count (see docKey and listKey); build is a list page's build, 0 for a
// product document.
type cacheKey struct {
	build int64
	res   uint64
}

func (k cacheKey) bytes(enc encoding) [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(k.build))
	binary.BigEndian.PutUint64(b[8:], k.res|uint64(enc)<<48)
	return b
}

// hit is a cached response: body is a prefix of buf, the buffer the value
// was copied into (handed back so the caller can reuse it).
type hit struct {
	buf      []byte
	body     []byte
	status   int
	expires  int64
	hash     int64 // the identity body's hash
	identity bool  // body is not coded, whatever key it was found under
}

// get looks k's coding enc up, appending the value to dst[:0]; ok is false
// on a miss or an expired entry.
func (c *cache) get(dst []byte, k cacheKey, enc encoding, now int64) (h hit, ok bool) {
	if c.fc == nil {
		return hit{buf: dst}, false
	}
	kb := k.bytes(enc)
	v := c.fc.Get(dst[:0], kb[:])
	if len(v) < trailerLen {
		return hit{buf: v}, false
	}
	t := v[len(v)-trailerLen:]
	exp := int64(binary.BigEndian.Uint64(t[2:]))
	if exp != 0 && now >= exp {
		c.expired.Add(1)
		return hit{buf: v}, false
	}
	st := binary.BigEndian.Uint16(t)
	return hit{buf: v, body: v[:len(v)-trailerLen], status: int(st &^ identityFlag),
		expires: exp, hash: int64(binary.BigEndian.Uint64(t[10:])),
		identity: enc == encIdentity || st&identityFlag != 0}, true
}

// put stores body under k's coding enc (identity: body is not coded
// although enc is not encIdentity). Values too big for a chunk (64 KiB)
// are silently not kept: served, not cached.
func (c *cache) put(k cacheKey, enc encoding, status int, identity bool, expires, hash int64, body []byte) {
	if c.fc == nil {
		return
	}
	v := make([]byte, len(body)+trailerLen)
	copy(v, body)
	t := v[len(body):]
	st := uint16(status)
	if identity && enc != encIdentity {
		st |= identityFlag
	}
	binary.BigEndian.PutUint16(t, st)
	binary.BigEndian.PutUint64(t[2:], uint64(expires))
	binary.BigEndian.PutUint64(t[10:], uint64(hash))
	kb := k.bytes(enc)
	c.fc.Set(kb[:], v)
}

// dropProduct removes every entry of product id: its three documents in
// every coding (the product document's split entry holds its list item).
func (c *cache) dropProduct(id int32) {
	if c.fc == nil {
		return
	}
	for _, rt := range [...]route{routeProduct, routeStyles, routeRelated} {
		k := cacheKey{res: docKey(rt, id)}
		for enc := range numEncodings {
			kb := k.bytes(enc)
			c.fc.Del(kb[:])
		}
	}
}

// reset empties the cache; used when the live build changes.
func (c *cache) reset() {
	if c.fc == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.statsLocked()
	c.base.hits, c.base.misses = st.hits, st.misses
	c.expired.Store(0)
	c.fc.Reset()
}

// cacheStats is a snapshot for /metrics.
type cacheStats struct {
	hits, misses, collisions uint64
	entries, bytes           int64
	capacity                 int64
}

func (c *cache) stats() cacheStats {
	if c.fc == nil {
		return cacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statsLocked()
}

func (c *cache) statsLocked() cacheStats {
	var fs fastcache.Stats
	c.fc.UpdateStats(&fs)
	exp := c.expired.Load()
	found := fs.GetCalls - fs.Misses
	exp = min(exp, found) // read after the counters: may include a later get
	return cacheStats{
		hits:       c.base.hits + found - exp,
		misses:     c.base.misses + fs.Misses + exp,
		collisions: fs.Collisions,
		entries:    int64(fs.EntriesCount),
		bytes:      int64(fs.BytesSize),
		capacity:   c.capacity,
	}
}
