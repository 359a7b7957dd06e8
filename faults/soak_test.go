//go:build faults

package faults

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Scenario 8 (full form only): a fixed request rate for a long time with a
// rebuild every few minutes: no error, flat memory, no goroutine growth.
func soak(t *testing.T, e *env) {
	db := e.createDB(t, "faults_soak")
	seeds := []uint64{1, 2, 3}
	for _, s := range seeds {
		e.export(t, s)
	}
	for _, s := range seeds {
		e.reference(t, e.export(t, s))
	}
	e.mustLoad(t, db, e.export(t, seeds[0]))
	p := pool(t, db)
	sw := listenSwaps(t, db)
	api := e.startAPI(t, "soak", db, true)
	chk := newChecker(e.reference(t, e.export(t, seeds[0])))
	idle := api.metric(t, "go_goroutines") // before any load

	length, rate, every := *flagSoak, *flagRate, *flagRebuild
	run := startLoad(t, api, chk, loadSpec{
		// Enough workers to hold the rate through a rebuild's latency
		// spike on a shared machine (2,000/s at 250 ms is 500 in flight).
		workers:     max(128, rate/4),
		rate:        rate,
		maxRequests: int64(float64(rate)*length.Seconds()) + 1000,
		maxDuration: length + time.Minute,
		// On a shared machine the client itself may stall for seconds: the
		// API's own histogram says whether it ever took longer than its
		// database timeout (checked below); here only the client's timeout.
		slow: 10 * time.Second,
	})

	type sample struct {
		rss        int64
		live       int64 // the API's live heap as of its last GC
		cache      int64 // the bytes its cache holds
		goroutines float64
		cycle      int
	}
	var samples []sample
	begin := time.Now()
	cycleStart := begin
	cycle, rebuilds := 0, 0
	var loadTimes []string
	take := func() {
		samples = append(samples, sample{rss: api.rss(t), live: int64(api.metric(t, "go_gc_heap_live_bytes")),
			cache: int64(api.metric(t, "elier_cache_bytes")), goroutines: api.metric(t, "go_goroutines"), cycle: cycle})
	}
	for time.Since(begin) < length {
		take()
		if time.Since(cycleStart) >= every {
			rebuilds++
			_, _, r := e.makeLive(t, db, p, sw, chk, e.export(t, seeds[rebuilds%len(seeds)]))
			loadTimes = append(loadTimes, fmt.Sprintf("%.1fs", r.took.Seconds()))
			cycle++
			cycleStart = time.Now()
		}
		time.Sleep(min(10*time.Second, time.Until(begin.Add(length))))
	}
	take()
	// The last cycle counts when it ran (nearly) as long as the others.
	complete := cycle
	if time.Since(cycleStart) < every*9/10 {
		complete--
	}
	st := run.stop()
	slowServed := api.slowerThan(t, "2.5")
	if slowServed > 0 {
		t.Errorf("the API took longer than 2.5 s (past its database timeout) on %v requests", slowServed)
	}

	// Goroutines: once the load has stopped and its connections closed,
	// the API goes back to what it ran idle (fasthttp keeps an idle
	// worker for up to 10 s).
	settled, settleTook := 0.0, time.Duration(0)
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(500 * time.Millisecond) {
		settled, settleTook = api.metric(t, "go_goroutines"), time.Since(start)
		if settled <= idle+2 {
			break
		}
	}
	if settled > idle+2 {
		t.Errorf("goroutines: %v before the soak, %v 30 s after it", idle, settled)
	}
	api.stop(t)
	failIf(t, st)
	// Late requests are the client's: a starved machine, not an error of
	// the API. Past a few percent the soak did not apply its load.
	if st.late > st.sent/20 {
		t.Errorf("the client fell behind the rate: %d of %d requests late", st.late, st.sent)
	}

	// Memory: each cycle (between two rebuilds) empties the cache and
	// fills it afresh; the cache's chunks live outside the Go heap and are
	// reused. What a leak grows is the live heap: its peak in the last
	// complete cycle must not outgrow the second cycle's (the first one
	// warms up). The RSS is the cache's chunks, the heap and up to a GC
	// cycle's garbage (GOGC=100: up to the live heap again), so it is
	// checked against that bound only.
	type peak struct{ rss, live, cache int64 }
	peaks := make([]peak, cycle+1)
	for _, s := range samples {
		pk := &peaks[s.cycle]
		pk.rss, pk.live, pk.cache = max(pk.rss, s.rss), max(pk.live, s.live), max(pk.cache, s.cache)
	}
	var rssList, liveList, cacheList []string
	var maxRSS, maxLive, maxCache int64
	for _, pk := range peaks {
		rssList = append(rssList, mib(pk.rss))
		liveList = append(liveList, mib(pk.live))
		cacheList = append(cacheList, mib(pk.cache))
		maxRSS, maxLive, maxCache = max(maxRSS, pk.rss), max(maxLive, pk.live), max(maxCache, pk.cache)
	}
	if complete >= 2 && float64(peaks[complete].live) > 1.1*float64(peaks[1].live)+8<<20 {
		t.Errorf("the live heap's peak per cycle grows: %v", liveList)
	}
	if maxRSS > maxCache+2*maxLive+64<<20 {
		t.Errorf("RSS up to %s, more than the cache's peak %s, twice the live heap's peak %s and 64 MiB", mib(maxRSS), mib(maxCache), mib(maxLive))
	}
	var gs []float64
	for _, s := range samples {
		gs = append(gs, s.goroutines)
	}
	e.reportf("soak", "%v at %d req/s: %s; API-side requests over 2.5 s: %v; %d rebuilds (etl %s), every response verified; peaks per cycle: RSS %s, live heap %s, cache %s; goroutines %v idle, %v..%v under load, %v %s after it; %d samples",
		length, rate, st, slowServed, rebuilds, strings.Join(loadTimes, " "), strings.Join(rssList, " "), strings.Join(liveList, " "), strings.Join(cacheList, " "),
		idle, slices.Min(gs), slices.Max(gs), settled, ms(settleTook), len(samples))
}
