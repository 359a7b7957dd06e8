package api

import (
	rtmetrics "runtime/metrics"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// route names what a request asked for, for the handler's switch and for
// the metrics' labels.
type route uint8

const (
	routeUnknown route = iota // no such path
	routeList
	routeProduct
	routeStyles
	routeRelated
	routeHealthz
	routeReadyz
	routeMetrics
	routeOpenAPI
	routeCart
	routeInvalid // fasthttp could not read the request
	numRoutes
)

func (r route) String() string {
	switch r {
	case routeList:
		return "products"
	case routeProduct:
		return "product"
	case routeStyles:
		return "styles"
	case routeRelated:
		return "related"
	case routeHealthz:
		return "healthz"
	case routeReadyz:
		return "readyz"
	case routeMetrics:
		return "metrics"
	case routeOpenAPI:
		return "openapi"
	case routeCart:
		return "cart"
	case routeInvalid:
		return "invalid"
	}
	return "unknown"
}

// statuses are the codes counted one by one; others count as "other".
var statuses = [...]int{200, 201, 204, 304, 400, 404, 405, 408, 413, 422, 431, 500, 503}

const numStatuses = len(statuses) + 1

func statusIndex(code int) int {
	for i, c := range statuses {
		if c == code {
			return i
		}
	}
	return len(statuses)
}

// latencyBuckets are the histogram's upper bounds.
var latencyBuckets = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
}

const numBuckets = len(latencyBuckets) + 1 // the last one is +Inf

// metrics counts requests with atomics only: observe is on every request's
// path and never locks or allocates.
type metrics struct {
	requests [numRoutes][numStatuses]atomic.Uint64
	latency  [numRoutes]histogram
}

type histogram struct {
	buckets [numBuckets]atomic.Uint64 // not cumulative; summed when written
	sum     atomic.Int64              // nanoseconds
	_       [64]byte
}

func (m *metrics) observe(r route, status int, d time.Duration) {
	m.requests[r][statusIndex(status)].Add(1)
	h := &m.latency[r]
	i := 0
	for i < len(latencyBuckets) && d > latencyBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(int64(d))
}

// gauges are the values /metrics reads at scrape time.
type gauges struct {
	cache        cacheStats
	pool         *pgxpool.Stat
	batches      uint64
	lookups      uint64
	build        int64
	buildChanges uint64
	dbUp         bool
	goroutines   int
	heapLive     uint64
}

// appendText appends all metrics in the Prometheus text format (0.0.4).
func (m *metrics) appendText(b []byte, g gauges) []byte {
	b = appendHeader(b, "elier_http_requests_total", "counter", "HTTP requests by route and status.")
	for r := range numRoutes {
		for i := range numStatuses {
			n := m.requests[r][i].Load()
			if n == 0 {
				continue
			}
			status := "other"
			if i < len(statuses) {
				status = strconv.Itoa(statuses[i])
			}
			b = append(b, `elier_http_requests_total{route="`...)
			b = append(b, route(r).String()...)
			b = append(b, `",status="`...)
			b = append(b, status...)
			b = append(b, `"} `...)
			b = strconv.AppendUint(b, n, 10)
			b = append(b, '\n')
		}
	}

	b = appendHeader(b, "elier_http_request_duration_seconds", "histogram", "Time from reading the request to the handler's return, by route.")
	for r := range numRoutes {
		h := &m.latency[r]
		var counts [numBuckets]uint64
		var total uint64
		for i := range counts {
			counts[i] = h.buckets[i].Load()
			total += counts[i]
		}
		if total == 0 {
			continue
		}
		name := route(r).String()
		var cum uint64
		for i := range counts {
			cum += counts[i]
			b = append(b, `elier_http_request_duration_seconds_bucket{route="`...)
			b = append(b, name...)
			b = append(b, `",le="`...)
			if i < len(latencyBuckets) {
				b = strconv.AppendFloat(b, latencyBuckets[i].Seconds(), 'g', -1, 64)
			} else {
				b = append(b, "+Inf"...)
			}
			b = append(b, `"} `...)
			b = strconv.AppendUint(b, cum, 10)
			b = append(b, '\n')
		}
		b = append(b, `elier_http_request_duration_seconds_sum{route="`...)
		b = append(b, name...)
		b = append(b, `"} `...)
		b = strconv.AppendFloat(b, time.Duration(h.sum.Load()).Seconds(), 'g', -1, 64)
		b = append(b, '\n')
		b = append(b, `elier_http_request_duration_seconds_count{route="`...)
		b = append(b, name...)
		b = append(b, `"} `...)
		b = strconv.AppendUint(b, cum, 10)
		b = append(b, '\n')
	}

	c := g.cache
	b = appendMetric(b, "elier_cache_hits_total", "counter", "Responses served from the cache.", float64(c.hits))
	b = appendMetric(b, "elier_cache_misses_total", "counter", "Lookups that went to the database.", float64(c.misses))
	b = appendMetric(b, "elier_cache_collisions_total", "counter", "Lookups that found another key under their hash (counted as misses; near 0 is normal).", float64(c.collisions))
	b = appendMetric(b, "elier_cache_entries", "gauge", "Entries in the cache: responses and their coded variants, including ones their bucket will overwrite next.", float64(c.entries))
	b = appendMetric(b, "elier_cache_bytes", "gauge", "Bytes of cache memory in use (64 KiB chunks, outside the Go heap).", float64(c.bytes))
	b = appendMetric(b, "elier_cache_capacity_bytes", "gauge", "The cache's bound (--cache-mb).", float64(c.capacity))

	b = appendMetric(b, "elier_db_batches_total", "counter", "Statements that answered cache misses.", float64(g.batches))
	b = appendMetric(b, "elier_db_batch_lookups_total", "counter", "Cache misses those statements answered (lookups/batches: the mean batch).", float64(g.lookups))
	if p := g.pool; p != nil {
		b = appendMetric(b, "elier_db_pool_max_conns", "gauge", "The pool's maximum size.", float64(p.MaxConns()))
		b = appendMetric(b, "elier_db_pool_total_conns", "gauge", "Connections in the pool.", float64(p.TotalConns()))
		b = appendMetric(b, "elier_db_pool_acquired_conns", "gauge", "Connections in use.", float64(p.AcquiredConns()))
		b = appendMetric(b, "elier_db_pool_idle_conns", "gauge", "Idle connections.", float64(p.IdleConns()))
		b = appendMetric(b, "elier_db_pool_constructing_conns", "gauge", "Connections being opened.", float64(p.ConstructingConns()))
		b = appendMetric(b, "elier_db_pool_acquires_total", "counter", "Successful acquisitions.", float64(p.AcquireCount()))
		b = appendMetric(b, "elier_db_pool_empty_acquires_total", "counter", "Acquisitions that had to wait for a connection.", float64(p.EmptyAcquireCount()))
		b = appendMetric(b, "elier_db_pool_canceled_acquires_total", "counter", "Acquisitions given up (timeout).", float64(p.CanceledAcquireCount()))
		b = appendMetric(b, "elier_db_pool_acquire_seconds_total", "counter", "Time spent acquiring connections.", p.AcquireDuration().Seconds())
		b = appendMetric(b, "elier_db_pool_new_conns_total", "counter", "Connections opened.", float64(p.NewConnsCount()))
	}
	up := 0.0
	if g.dbUp {
		up = 1
	}
	b = appendMetric(b, "elier_db_up", "gauge", "1 when the last poll of the database succeeded.", up)
	b = appendMetric(b, "elier_live_build_id", "gauge", "The build being served (0: none yet).", float64(g.build))
	b = appendMetric(b, "elier_build_changes_total", "counter", "Times the live build changed (each empties the cache).", float64(g.buildChanges))
	// The names the Go client libraries use, so dashboards and the fault
	// suite's soak can watch for a goroutine or memory leak. The live heap
	// (as of the last GC) is what a leak grows; the RSS also holds up to a
	// GC cycle's garbage.
	b = appendMetric(b, "go_goroutines", "gauge", "Number of goroutines that currently exist.", float64(g.goroutines))
	b = appendMetric(b, "go_gc_heap_live_bytes", "gauge", "Heap memory occupied by live objects as of the last GC.", float64(g.heapLive))
	return b
}

// heapLive reads the live heap as of the last GC, without stopping the world.
func heapLive() uint64 {
	s := [1]rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s[:])
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func appendHeader(b []byte, name, typ, help string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, help...)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

func appendMetric(b []byte, name, typ, help string, v float64) []byte {
	b = appendHeader(b, name, typ, help)
	b = append(b, name...)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	return append(b, '\n')
}
