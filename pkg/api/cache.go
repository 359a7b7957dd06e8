package api

import (
	"sync"
	"sync/atomic"
)

// The cache holds whole responses (body, ETag, compressed variants) of the
// current build, keyed by route and id (and page and count for lists),
// bounded in bytes. It is sharded (a key's shard is a hash of the key), and
// each shard evicts with CLOCK: a hit only sets an atomic "referenced" bit
// under the shard's read lock, so the hot path never takes a write lock; an
// insertion sweeps the hand over the shard's ring, clearing bits and
// evicting the first entry not referenced since the last sweep. Every entry
// carries its build, and a lookup only accepts entries of the build it asks
// for, so a build swap can never serve a stale body; reset then frees the
// memory.

const (
	shardBits = 5
	numShards = 1 << shardBits

	// entryOverhead approximates the bytes an entry costs beyond its
	// bodies: the struct, its map slot and ring slot.
	entryOverhead = 256
)

// encoding is a content coding the cache keeps a body in.
type encoding uint8

const (
	encIdentity encoding = iota
	encGzip
	encBrotli
	numEncodings
)

// variant is a compressed body; a nil body means compressing did not pay
// (the coded body was not smaller) and the identity body is served.
type variant struct {
	body []byte
}

// entry is one cached response. Everything but ref, enc and the fields the
// shard guards is immutable once the entry is built, so the bodies may be
// handed to fasthttp without copying.
type entry struct {
	key     uint64
	build   int64
	status  int
	expires int64 // unix nanoseconds; 0: valid for the whole build
	plain   []byte
	etag    [numEncodings][]byte // quoted, one per coding served; nil for errors

	ref atomic.Bool
	enc [numEncodings]atomic.Pointer[variant] // compressed bodies, filled once on demand

	// Guarded by the shard's mu.
	size int64 // bytes accounted for this entry
	slot int   // index in the shard's ring; -1 when not in the cache
}

func (e *entry) baseSize() int64 {
	n := int64(entryOverhead + len(e.plain))
	for _, t := range e.etag {
		n += int64(len(t))
	}
	return n
}

// cache is a sharded, byte-bounded CLOCK cache of entries. The zero
// capacity disables it: get always misses and put keeps nothing.
type cache struct {
	shards   [numShards]shard
	maxEntry int64 // larger entries are served but not kept
	enabled  bool
}

type shard struct {
	mu       sync.RWMutex
	m        map[uint64]*entry
	ring     []*entry
	hand     int
	bytes    int64
	capacity int64

	hits, misses, evictions atomic.Uint64
	_                       [64]byte // keep shards on their own cache lines
}

func newCache(capacity int64) *cache {
	c := &cache{enabled: capacity > 0}
	per := capacity / numShards
	c.maxEntry = per / 4
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*entry)
		c.shards[i].capacity = per
	}
	return c
}

func (c *cache) shard(key uint64) *shard {
	return &c.shards[(key*0x9E3779B97F4A7C15)>>(64-shardBits)]
}

// get returns key's entry if it belongs to build and has not expired at now.
func (c *cache) get(key uint64, build int64, now int64) *entry {
	sh := c.shard(key)
	sh.mu.RLock()
	e := sh.m[key]
	sh.mu.RUnlock()
	if e == nil || e.build != build || (e.expires != 0 && now >= e.expires) {
		sh.misses.Add(1)
		return nil
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	sh.hits.Add(1)
	return e
}

// put stores e, replacing the key's previous entry and evicting others as
// needed to stay within the shard's capacity.
func (c *cache) put(e *entry) {
	e.slot = -1
	e.size = e.baseSize()
	if !c.enabled || e.size > c.maxEntry {
		return
	}
	sh := c.shard(e.key)
	sh.mu.Lock()
	if old := sh.m[e.key]; old != nil {
		sh.remove(old)
	}
	for sh.bytes+e.size > sh.capacity && len(sh.ring) > 0 {
		sh.evictOne()
	}
	e.slot = len(sh.ring)
	sh.ring = append(sh.ring, e)
	sh.m[e.key] = e
	sh.bytes += e.size
	sh.mu.Unlock()
}

// attach gives e its compressed body for enc, unless another request did
// first, and returns the one that stays. The bytes count against the shard
// while e is cached.
func (c *cache) attach(e *entry, enc encoding, v *variant) *variant {
	sh := c.shard(e.key)
	sh.mu.Lock()
	if !e.enc[enc].CompareAndSwap(nil, v) {
		v = e.enc[enc].Load()
	} else if e.slot >= 0 {
		n := int64(len(v.body))
		e.size += n
		sh.bytes += n
		for sh.bytes > sh.capacity && len(sh.ring) > 0 {
			sh.evictOne()
		}
	}
	sh.mu.Unlock()
	return v
}

// reset empties the cache; used when the live build changes.
func (c *cache) reset() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, e := range sh.ring {
			e.slot = -1
		}
		clear(sh.m)
		clear(sh.ring)
		sh.ring = sh.ring[:0]
		sh.hand = 0
		sh.bytes = 0
		sh.mu.Unlock()
	}
}

// cacheStats is a snapshot for /metrics.
type cacheStats struct {
	hits, misses, evictions uint64
	entries, bytes          int64
	capacity                int64
}

func (c *cache) stats() cacheStats {
	var st cacheStats
	for i := range c.shards {
		sh := &c.shards[i]
		st.hits += sh.hits.Load()
		st.misses += sh.misses.Load()
		st.evictions += sh.evictions.Load()
		sh.mu.RLock()
		st.entries += int64(len(sh.m))
		st.bytes += sh.bytes
		sh.mu.RUnlock()
		st.capacity += sh.capacity
	}
	if !c.enabled {
		st.capacity = 0
	}
	return st
}

// evictOne advances the CLOCK hand to the first entry not referenced since
// the hand last passed it, clearing bits on the way, and evicts it.
// Called with mu held and the ring not empty.
func (sh *shard) evictOne() {
	for {
		if sh.hand >= len(sh.ring) {
			sh.hand = 0
		}
		e := sh.ring[sh.hand]
		if e.ref.Load() {
			e.ref.Store(false)
			sh.hand++
			continue
		}
		sh.remove(e)
		sh.evictions.Add(1)
		return
	}
}

// remove takes e out of the shard: the ring's last entry moves into its
// slot, so the hand looks at that one next. Called with mu held.
func (sh *shard) remove(e *entry) {
	i, last := e.slot, len(sh.ring)-1
	moved := sh.ring[last]
	sh.ring[i] = moved
	moved.slot = i
	sh.ring[last] = nil
	sh.ring = sh.ring[:last]
	delete(sh.m, e.key)
	sh.bytes -= e.size
	e.slot = -1
}
