package api

import (
	"io"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/pkg/readmodel"
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

// latencyBuckets are the histogram's upper bounds, in seconds.
var latencyBuckets = []float64{
	50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5,
}

// metrics is the API's /metrics, kept by github.com/VictoriaMetrics/metrics
// (the family of the cache's fastcache): one Set per server, no global
// registry, so tests and servers in one process never share counts.
//
// Request counters and latency histograms are the library's own, created
// the first time a route and status occur (a series that never happened is
// not exported) and kept in arrays, so that observe, on every request's
// path, is an array index and an atomic add, never a map lookup or a
// formatted name. Values that other parts own (the cache, the pool, the
// live build) are read at scrape time by writeGauges.
//
// Adding a counter family is one line: call
//
//	s.metrics.set.GetOrCreateCounter(`elier_cart_requests_total{outcome="added"}`).Inc()
//
// where the event happens (the name with its labels is the key; on a hot
// path keep the returned *metrics.Counter in a field instead of looking it
// up each time). Gauges read at scrape time go into writeGauges.
type metrics struct {
	set      *vm.Set
	requests [numRoutes][numStatuses]atomic.Pointer[vm.Counter]
	latency  [numRoutes]atomic.Pointer[vm.PrometheusHistogram]
}

func newMetrics() *metrics {
	// HELP and TYPE lines, as the hand-written exposition had. The switch
	// is the library's, process-wide; every server wants it on.
	vm.ExposeMetadata(true)
	return &metrics{set: vm.NewSet()}
}

func (m *metrics) observe(r route, status int, d time.Duration) {
	i := statusIndex(status)
	c := m.requests[r][i].Load()
	if c == nil {
		code := "other"
		if i < len(statuses) {
			code = strconv.Itoa(statuses[i])
		}
		// GetOrCreate: two requests racing here get the same counter.
		c = m.set.GetOrCreateCounter(`elier_http_requests_total{route="` + r.String() + `",status="` + code + `"}`)
		m.requests[r][i].Store(c)
	}
	c.Inc()
	h := m.latency[r].Load()
	if h == nil {
		h = m.set.GetOrCreatePrometheusHistogramExt(`elier_http_request_duration_seconds{route="`+r.String()+`"}`, latencyBuckets)
		m.latency[r].Store(h)
	}
	h.Update(d.Seconds())
}

// requestCount is how many requests of route r ended with status.
func (m *metrics) requestCount(r route, status int) uint64 {
	if c := m.requests[r][statusIndex(status)].Load(); c != nil {
		return c.Get()
	}
	return 0
}

// gauges are the values /metrics reads at scrape time.
type gauges struct {
	cache        cacheStats
	pool         *pgxpool.Stat
	batches      uint64
	lookups      uint64
	build        int64
	buildChanges uint64
	cacheDrops   uint64
	cacheResets  uint64
	dbUp         bool
	goroutines   int
	heapLive     uint64
	stale        readmodel.Staleness
	staleKnown   bool
	catalogue    *readmodel.Catalogue // the live build's size (nil: not read yet)
	prefilled    uint64
	fromPieces   uint64
	fromItems    uint64
	items        *listItems
	packs        [2]uint64 // list items packed whole, repacked
}

// write writes the whole exposition: the set's series, then the gauges.
func (m *metrics) write(w io.Writer, g gauges) {
	m.set.WritePrometheus(w)
	writeGauges(w, g)
}

// writeGauges writes the values read at scrape time. The library writes
// the TYPE line; the HELP text is in docs/DEPLOY.md ("Metrics").
func writeGauges(w io.Writer, g gauges) {
	c := g.cache
	vm.WriteCounterUint64(w, "elier_cache_hits_total", c.hits)
	vm.WriteCounterUint64(w, "elier_cache_misses_total", c.misses)
	vm.WriteCounterUint64(w, "elier_cache_collisions_total", c.collisions)
	vm.WriteGaugeUint64(w, "elier_cache_entries", uint64(c.entries))
	vm.WriteGaugeUint64(w, "elier_cache_bytes", uint64(c.bytes))
	vm.WriteGaugeUint64(w, "elier_cache_capacity_bytes", uint64(c.capacity))
	vm.WriteCounterUint64(w, "elier_cache_prefilled_total", g.prefilled)
	vm.WriteCounterUint64(w, "elier_list_pages_from_pieces_total", g.fromPieces)
	vm.WriteCounterUint64(w, "elier_list_pages_from_items_total", g.fromItems)
	// The packed list items (listitems.go): their build (0: none packed
	// yet) and the memory they hold.
	var itemsBuild int64
	if g.items != nil {
		itemsBuild = g.items.build
	}
	vm.WriteGaugeUint64(w, "elier_list_items_build_id", uint64(itemsBuild))
	vm.WriteGaugeUint64(w, "elier_list_items_bytes", uint64(g.items.size()))
	vm.WriteCounterUint64(w, "elier_list_items_packed_total", g.packs[0])
	vm.WriteCounterUint64(w, "elier_list_items_repacked_total", g.packs[1])
	if n := c.hits + c.misses; n > 0 {
		vm.WriteGaugeFloat64(w, "elier_cache_hit_ratio", float64(c.hits)/float64(n))
	}
	// The live catalogue's size, and the cache it needs to be held whole:
	// an alert compares the two (deploy/prometheus/alerts.yml).
	if cat := g.catalogue; cat != nil {
		vm.WriteGaugeUint64(w, "elier_catalogue_products", uint64(cat.Products))
		if cat.StoredBytes >= 0 {
			vm.WriteGaugeUint64(w, "elier_catalogue_stored_bytes", uint64(cat.StoredBytes))
			vm.WriteGaugeUint64(w, "elier_cache_needed_bytes", uint64(cacheNeed(*cat)))
		}
	}

	vm.WriteCounterUint64(w, "elier_db_batches_total", g.batches)
	vm.WriteCounterUint64(w, "elier_db_batch_lookups_total", g.lookups)
	if p := g.pool; p != nil {
		vm.WriteGaugeUint64(w, "elier_db_pool_max_conns", uint64(p.MaxConns()))
		vm.WriteGaugeUint64(w, "elier_db_pool_total_conns", uint64(p.TotalConns()))
		vm.WriteGaugeUint64(w, "elier_db_pool_acquired_conns", uint64(p.AcquiredConns()))
		vm.WriteGaugeUint64(w, "elier_db_pool_idle_conns", uint64(p.IdleConns()))
		vm.WriteGaugeUint64(w, "elier_db_pool_constructing_conns", uint64(p.ConstructingConns()))
		vm.WriteCounterUint64(w, "elier_db_pool_acquires_total", uint64(p.AcquireCount()))
		vm.WriteCounterUint64(w, "elier_db_pool_empty_acquires_total", uint64(p.EmptyAcquireCount()))
		vm.WriteCounterUint64(w, "elier_db_pool_canceled_acquires_total", uint64(p.CanceledAcquireCount()))
		vm.WriteCounterFloat64(w, "elier_db_pool_acquire_seconds_total", p.AcquireDuration().Seconds())
		vm.WriteCounterUint64(w, "elier_db_pool_new_conns_total", uint64(p.NewConnsCount()))
	}
	up := uint64(0)
	if g.dbUp {
		up = 1
	}
	vm.WriteGaugeUint64(w, "elier_db_up", up)
	vm.WriteGaugeUint64(w, "elier_live_build_id", uint64(max(g.build, 0)))
	vm.WriteCounterUint64(w, "elier_build_changes_total", g.buildChanges)
	// At a build change the cache drops only the products the new build
	// changed (drops), or everything when the builds are unrelated (resets).
	vm.WriteCounterUint64(w, "elier_cache_product_drops_total", g.cacheDrops)
	vm.WriteCounterUint64(w, "elier_cache_resets_total", g.cacheResets)
	// Staleness (docs/DEPLOY.md, "Staleness"): Unix times, written only
	// when known, so that an alert on their age cannot mistake "never" for
	// "long ago" (absent() covers "never").
	if g.staleKnown {
		st := g.stale
		for _, t := range []struct {
			name string
			at   time.Time
		}{
			{"elier_live_build_built_timestamp_seconds", st.BuiltAt},
			{"elier_live_build_export_timestamp_seconds", st.ExportAt},
			{"elier_load_last_success_timestamp_seconds", st.LastSuccess},
			{"elier_load_last_failure_timestamp_seconds", st.LastFailure},
		} {
			if !t.at.IsZero() {
				vm.WriteGaugeFloat64(w, t.name, float64(t.at.UnixNano())/1e9)
			}
		}
	}
	// The names the Go client libraries use, so dashboards and the fault
	// suite's soak can watch for a goroutine or memory leak. The live heap
	// (as of the last GC) is what a leak grows; the RSS also holds up to a
	// GC cycle's garbage. (The library's WriteGoMetrics would stop the
	// world for runtime.ReadMemStats on every scrape.)
	vm.WriteGaugeUint64(w, "go_goroutines", uint64(g.goroutines))
	vm.WriteGaugeUint64(w, "go_gc_heap_live_bytes", g.heapLive)
	// process_resident_memory_bytes, CPU seconds, open files: from /proc.
	vm.WriteProcMetrics(w)
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
