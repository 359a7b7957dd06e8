//go:build faults

package faults

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// listCounts are the page sizes the load asks GET /products for.
var listCounts = []int{5, 25, 100}

func lastPage(n, count int) int { return (n + count - 1) / count }

// checker judges every reply against the exports that may be live while it
// is in flight. The scenario tells it the sequence of exports made live
// (generations: the first load, then each rebuild or rollback); while
// generation g is being made live, a body is right when it is g-1's or g's
// document. A body that is only the older one is "old", only the newer one
// "new" (a document both hold says nothing). Per API instance and product
// id (or list page), an old body after a new one is a failure: a reader
// must never go back in time. For each swap the checker measures, per
// instance, when the last old body was served after the swap committed.
type checker struct {
	mu    sync.Mutex
	gens  []*generation
	lo    int // the oldest generation that may be live now (lo = hi or hi-1)
	preLo int // lo before the last expect, for abort
	maxID int // product ids asked for: up to the largest of any export so far
	// newest[instance][key]: the newest generation served "new" for that
	// product id or list page, and when that reply ended.
	newest map[string]map[string]mark
}

// generation is one export made live.
type generation struct {
	ref    *ref
	build  int64     // the build that made it live (0 until known)
	commit time.Time // when its swap committed (zero until known)
	// per instance: the first new and the last old reply (their ends), and
	// the old replies that began more than a second after the commit.
	firstNew, lastOld map[string]time.Time
	lateOld           map[string]int64
	news              int64 // replies only this generation holds
}

type mark struct {
	gen    int
	end    time.Time
	res    string // the reply's resource and status, for the failure's message
	status int
}

func newChecker(r *ref) *checker {
	c := &checker{maxID: int(r.maxID), newest: map[string]map[string]mark{}}
	c.push(r)
	return c
}

func (c *checker) push(r *ref) {
	c.gens = append(c.gens, &generation{ref: r, firstNew: map[string]time.Time{}, lastOld: map[string]time.Time{}, lateOld: map[string]int64{}})
	c.maxID = max(c.maxID, int(r.maxID))
}

// expect announces that r is being made live (a rebuild or a rollback has
// begun): from now on the current generation's documents or r's are right.
func (c *checker) expect(r *ref) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.preLo, c.lo = c.lo, len(c.gens)-1
	c.push(r)
}

// abort withdraws the generation announced last: its build never went live
// (a killed load). No reply may have served one of its own documents.
func (c *checker) abort() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.gens[len(c.gens)-1]
	c.gens, c.lo = c.gens[:len(c.gens)-1], c.preLo
	if g.news > 0 {
		return fmt.Errorf("%d replies served documents of %s, whose build never went live", g.news, g.ref.name)
	}
	return nil
}

// live records that the generation announced last went live: build, its
// swap's commit.
func (c *checker) live(build int64, commit time.Time) *generation {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.gens[len(c.gens)-1]
	g.build, g.commit = build, commit
	return g
}

// ids is the largest product id a load asks for (beyond it, 404s).
func (c *checker) ids() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxID
}

// check verifies one reply of instance: status 200 with body (identity
// bytes) and its ETag, a 304 with its ETag (body nil), or a 404 with body.
// key groups the resources of one product id.
func (c *checker) check(instance, res, key string, status int, body []byte, tag string, gz bool, start, end time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	hi := len(c.gens) - 1
	var h refDoc
	switch {
	case body != nil && strings.HasPrefix(res, "l-"):
		h = pageOf(body) // a list page's ETag: its CRC-32 and length
	case body != nil:
		h = docOf(body)
	}
	var matches []bool // per candidate generation, lo..hi
	var names []string
	any := false
	for _, g := range c.gens[c.lo:] {
		d, ok := g.ref.doc(res)
		var m bool
		switch {
		case status == 404:
			m = !ok && bytes.Equal(body, notFound(key))
		case !ok:
		case status == 304:
			m = tag == etagOf(d.xx, "") || (gz && tag == etagOf(d.xx, "-gz"))
		default:
			m = h.mh == d.mh
		}
		matches, names, any = append(matches, m), append(names, g.ref.name), any || m
	}
	if !any {
		return fmt.Errorf("status %d, ETag %s: not the document of %s", status, tag, strings.Join(names, " nor "))
	}
	if status == 200 {
		suffix := ""
		if gz {
			suffix = "-gz"
		}
		if w := etagOf(h.xx, suffix); tag != w {
			return fmt.Errorf("ETag %s, want %s (the body's hash)", tag, w)
		}
	}
	if len(matches) == 1 || matches[0] == matches[1] {
		return nil
	}
	g := c.gens[hi]
	m := c.newest[instance]
	if m == nil {
		m = map[string]mark{}
		c.newest[instance] = m
	}
	if matches[1] { // new
		g.news++
		if f, ok := g.firstNew[instance]; !ok || end.Before(f) {
			g.firstNew[instance] = end
		}
		if prev, ok := m[key]; !ok || prev.gen < hi || end.Before(prev.end) {
			m[key] = mark{gen: hi, end: end, res: res, status: status}
		}
		return nil
	}
	// old
	if end.After(g.lastOld[instance]) {
		g.lastOld[instance] = end
	}
	if !g.commit.IsZero() && start.After(g.commit.Add(time.Second)) {
		g.lateOld[instance]++
	}
	if prev, ok := m[key]; ok && prev.gen == hi && start.After(prev.end) {
		return fmt.Errorf("an older body (%s's: %s, status %d, gzip %v) after a newer one (%s's: %s, status %d, served %s earlier); swap committed %s before",
			c.gens[hi-1].ref.name, res, status, gz, g.ref.name, prev.res, prev.status, ms(start.Sub(prev.end)), ms(start.Sub(g.commit)))
	}
	return nil
}

func etagOf(xx uint64, suffix string) string { return fmt.Sprintf(`"%016x%s"`, xx, suffix) }

func notFound(key string) []byte { return []byte(`{"error":"product ` + key + ` not found"}`) }

// swapFigures says how generation g's swap reached the instances: per
// instance, the first new and last old body after its commit, and the old
// bodies served more than a second after it. Call it once the load is over.
func (c *checker) swapFigures(g *generation) (lag time.Duration, late int64, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for inst, last := range g.lastOld {
		lag = max(lag, last.Sub(g.commit))
		late += g.lateOld[inst]
		parts = append(parts, fmt.Sprintf("%s last old %s", inst, ms(last.Sub(g.commit))))
	}
	for inst, first := range g.firstNew {
		parts = append(parts, fmt.Sprintf("%s first new %s", inst, ms(first.Sub(g.commit))))
	}
	slices.Sort(parts)
	return lag, late, strings.Join(parts, ", ")
}

// outcome classifies a reply.
type outcome int

const (
	outOK          outcome = iota // 200 with the right body, 304, or the expected 404
	outUnavailable                // 503 {"error":"database unavailable"}, where allowed
	outRefused                    // no connection: the API has stopped, where allowed
	outFail
	numOutcomes
)

func (o outcome) String() string {
	return [...]string{"ok", "503", "refused", "failed"}[o]
}

// reply is one request and its answer.
type reply struct {
	path       string
	res        string // the resource: p-1, s-1, r-1, l-2-5
	key        string // its product id, or res for a list page
	gzip       bool   // the request accepts gzip
	status     int
	header     http.Header
	body       []byte
	err        error
	start, end time.Time
}

// loadSpec shapes a load. Every load is bounded in requests and in time.
type loadSpec struct {
	workers     int
	rate        int // requests per second in all; 0: as fast as the workers go
	maxRequests int64
	maxDuration time.Duration
	minID       int // product ids asked for: minID..maxID (default 1..the checker's largest)
	maxID       int
	// allow accepts replies the strict rules would fail: it returns
	// outFail when it does not.
	allow func(*reply) outcome
	// slow: a reply slower than this is a failure (a hang); default 5 s.
	slow time.Duration
}

// loadRun is a running load.
type loadRun struct {
	spec   loadSpec
	inst   string // the API instance, for the checker's per-instance order
	base   string
	chk    *checker
	client *http.Client
	begin  time.Time
	stopCh chan struct{}
	wg     sync.WaitGroup
	tokens chan struct{}

	sent    atomic.Int64
	late    atomic.Int64 // requests the rate asked for but no worker was free to send
	stall   atomic.Int64 // the longest gap between two ticks of the pacer
	maxLat  atomic.Int64
	latHist [32]atomic.Int64 // by ceil(log2(microseconds))

	mu       sync.Mutex
	counts   [numOutcomes]int64
	failures []string
	timeline [][numOutcomes]int64 // per slot of timelineSlot since begin
}

const timelineSlot = 50 * time.Millisecond

// loadStats are a finished load's figures.
type loadStats struct {
	sent     int64
	counts   [numOutcomes]int64
	late     int64
	stall    time.Duration // the client's longest stall (paced loads only)
	failures []string
	took     time.Duration
	p50, p99 time.Duration
	max      time.Duration
	timeline [][numOutcomes]int64
	begin    time.Time
}

func (s *loadStats) failed() int64 { return s.counts[outFail] }

func (s *loadStats) String() string {
	rate := float64(s.sent) / s.took.Seconds()
	out := fmt.Sprintf("requests=%d (%.0f/s) ok=%d failed=%d", s.sent, rate, s.counts[outOK], s.counts[outFail])
	if n := s.counts[outUnavailable]; n > 0 {
		out += fmt.Sprintf(" 503=%d", n)
	}
	if n := s.counts[outRefused]; n > 0 {
		out += fmt.Sprintf(" refused=%d", n)
	}
	if s.late > 0 {
		out += fmt.Sprintf(" late=%d", s.late)
	}
	if s.stall > 0 {
		out += fmt.Sprintf(" client-stall-max=%v", s.stall.Round(time.Millisecond))
	}
	return out + fmt.Sprintf(" latency p50=%v p99=%v max=%v", s.p50, s.p99, s.max.Round(time.Millisecond))
}

// newClient is a load client: keep-alive, no transparent decompression
// (the suite checks the exact bytes, decompressing itself).
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
}

// startLoad starts spec.workers clients on api's four routes.
func startLoad(t *testing.T, api *apiProc, chk *checker, spec loadSpec) *loadRun {
	t.Helper()
	if spec.maxRequests <= 0 || spec.maxDuration <= 0 {
		t.Fatal("a load needs bounds: maxRequests and maxDuration")
	}
	if spec.slow == 0 {
		spec.slow = 5 * time.Second
	}
	if spec.minID == 0 {
		spec.minID = 1
	}
	if spec.maxID == 0 {
		spec.maxID = chk.ids()
	}
	l := &loadRun{spec: spec, inst: api.name, base: api.base, chk: chk, client: newClient(spec.workers),
		begin: time.Now(), stopCh: make(chan struct{})}
	if spec.rate > 0 {
		// Up to a fifth of a second of requests may wait for a worker: a
		// short stall of this (shared) machine delays them, it does not
		// drop them.
		l.tokens = make(chan struct{}, max(spec.workers, spec.rate/5))
		l.wg.Go(l.pace)
	}
	for i := range spec.workers {
		l.wg.Go(func() { l.work(uint64(i)) })
	}
	return l
}

// pace hands out spec.rate tokens a second, by the clock: a token that no
// worker takes in time is counted late, not sent later in a burst.
func (l *loadRun) pace() {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var issued int64
	last := time.Now()
	for {
		select {
		case <-l.stopCh:
			return
		case now := <-tick.C:
			// A late tick is this process not running: the machine's
			// doing, not the API's.
			if gap := now.Sub(last); gap > time.Duration(l.stall.Load()) {
				l.stall.Store(int64(gap))
			}
			last = now
			due := int64(now.Sub(l.begin).Seconds() * float64(l.spec.rate))
			for ; issued < due; issued++ {
				select {
				case l.tokens <- struct{}{}:
				default:
					l.late.Add(1)
				}
			}
		}
	}
}

func (l *loadRun) stopped() bool {
	select {
	case <-l.stopCh:
		return true
	default:
		return false
	}
}

func (l *loadRun) work(n uint64) {
	rnd := rand.New(rand.NewPCG(n, uint64(time.Now().UnixNano())))
	etags := map[string]string{}
	deadline := l.begin.Add(l.spec.maxDuration)
	for !l.stopped() && time.Now().Before(deadline) && l.sent.Add(1) <= l.spec.maxRequests {
		if l.tokens != nil {
			select {
			case <-l.tokens:
			case <-l.stopCh:
				return
			}
		}
		r := l.pick(rnd)
		req, err := http.NewRequest("GET", l.base+r.path, nil)
		if err != nil {
			panic(err)
		}
		if rnd.IntN(4) == 0 {
			req.Header.Set("Accept-Encoding", "gzip")
			r.gzip = true
		}
		if tag, ok := etags[r.res]; ok && rnd.IntN(10) == 0 {
			req.Header.Set("If-None-Match", tag)
		}
		l.do(req, r)
		if r.status == 200 && len(etags) < 4096 {
			etags[r.res] = r.header.Get("ETag")
		}
		if r.err != nil {
			time.Sleep(10 * time.Millisecond) // no busy loop on a stopped server
		}
	}
}

// pick chooses the next request: styles, product, related, a page of the
// list, or an id past the catalogue (a 404).
func (l *loadRun) pick(rnd *rand.Rand) *reply {
	id := l.spec.minID + rnd.IntN(l.spec.maxID-l.spec.minID+1)
	slash := ""
	if rnd.IntN(20) == 0 {
		slash = "/" // storefronts send a trailing slash: answered the same
	}
	x := rnd.IntN(100)
	switch {
	case x < 85:
		if x < 5 { // past the catalogue: a 404
			id = l.spec.maxID + 1 + rnd.IntN(1000)
		}
		letter, suffix := routeOf(rnd.IntN(3))
		return &reply{path: fmt.Sprintf("/products/%d%s%s", id, suffix, slash), res: fmt.Sprintf("%c-%d", letter, id), key: strconv.Itoa(id)}
	default:
		c := listCounts[rnd.IntN(len(listCounts))]
		page := 1 + rnd.IntN(lastPage(l.spec.maxID, c)+2)
		res := fmt.Sprintf("l-%d-%d", page, c)
		return &reply{path: fmt.Sprintf("/products%s?page=%d&count=%d", slash, page, c), res: res, key: res}
	}
}

func routeOf(i int) (byte, string) {
	switch i {
	case 0:
		return 's', "/styles"
	case 1:
		return 'p', ""
	}
	return 'r', "/related"
}

// do sends one request and judges the reply.
func (l *loadRun) do(req *http.Request, r *reply) {
	r.start = time.Now()
	resp, err := l.client.Do(req)
	if err == nil {
		r.status, r.header = resp.StatusCode, resp.Header
		r.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.Header.Get("Content-Encoding") == "gzip" {
			r.body, err = gunzip(r.body)
		}
	}
	r.err = err
	r.end = time.Now()
	o, why := l.judge(r)
	if o == outFail && l.spec.allow != nil {
		if a := l.spec.allow(r); a != outFail {
			o, why = a, ""
		}
	}
	if d := r.end.Sub(r.start); d > l.spec.slow {
		o, why = outFail, fmt.Sprintf("took %v (a hang)", d.Round(time.Millisecond))
	}
	l.record(r, o, why)
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// judge applies the strict rules: a 200, 304 or 404 that the checker
// finds right (the document of an export that may be live, its ETag the
// body's hash), or a 404 of a product no such export holds.
func (l *loadRun) judge(r *reply) (outcome, string) {
	if r.err != nil {
		return outFail, r.err.Error()
	}
	var body []byte
	gz := false
	switch r.status {
	case 200:
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			return outFail, "Content-Type " + ct
		}
		body, gz = r.body, r.header.Get("Content-Encoding") == "gzip"
	case 304:
		gz = r.gzip
	case 404:
		body = r.body
	default:
		return outFail, fmt.Sprintf("status %d body %.80q", r.status, r.body)
	}
	if err := l.chk.check(l.inst, r.res, r.key, r.status, body, r.header.Get("ETag"), gz, r.start, r.end); err != nil {
		return outFail, err.Error()
	}
	return outOK, ""
}

func (l *loadRun) record(r *reply, o outcome, why string) {
	d := r.end.Sub(r.start)
	for {
		m := l.maxLat.Load()
		if int64(d) <= m || l.maxLat.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	b := 0
	for us := d.Microseconds(); us > 1 && b < len(l.latHist)-1; us = (us + 1) / 2 {
		b++
	}
	l.latHist[b].Add(1)
	slot := int(r.end.Sub(l.begin) / timelineSlot)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[o]++
	for len(l.timeline) <= slot {
		l.timeline = append(l.timeline, [numOutcomes]int64{})
	}
	l.timeline[slot][o]++
	if o == outFail && len(l.failures) < 20 {
		l.failures = append(l.failures, fmt.Sprintf("%s %s: %s", r.start.Format("15:04:05.000"), r.path, why))
	}
}

// stop ends the load and returns its figures.
func (l *loadRun) stop() *loadStats {
	close(l.stopCh)
	l.wg.Wait()
	l.client.CloseIdleConnections()
	s := &loadStats{late: l.late.Load(), stall: time.Duration(l.stall.Load()), took: time.Since(l.begin),
		max: time.Duration(l.maxLat.Load()), begin: l.begin}
	l.mu.Lock()
	s.counts, s.failures, s.timeline = l.counts, l.failures, l.timeline
	l.mu.Unlock()
	for _, n := range s.counts {
		s.sent += n
	}
	var total int64
	for i := range l.latHist {
		total += l.latHist[i].Load()
	}
	var cum int64
	for i := range l.latHist {
		cum += l.latHist[i].Load()
		bound := time.Duration(1<<i) * time.Microsecond
		if s.p50 == 0 && cum*2 >= total {
			s.p50 = bound
		}
		if s.p99 == 0 && cum*100 >= total*99 {
			s.p99 = bound
		}
	}
	return s
}

// failIf reports a load's failures on t.
func failIf(t *testing.T, s *loadStats) {
	t.Helper()
	if s.failed() > 0 {
		t.Errorf("%d failed requests; first ones:\n  %s", s.failed(), strings.Join(s.failures, "\n  "))
	}
}

// firstAfter is the time of the first reply of outcome o that ended at or
// after at (to the timeline's resolution); zero when there is none.
func (s *loadStats) firstAfter(o outcome, at time.Time) time.Time {
	for i := max(0, int(at.Sub(s.begin)/timelineSlot)); i < len(s.timeline); i++ {
		if s.timeline[i][o] > 0 {
			return s.begin.Add(time.Duration(i+1) * timelineSlot)
		}
	}
	return time.Time{}
}

// lastOf is the end of the last slot holding a reply of outcome o.
func (s *loadStats) lastOf(o outcome) time.Time {
	for i := len(s.timeline) - 1; i >= 0; i-- {
		if s.timeline[i][o] > 0 {
			return s.begin.Add(time.Duration(i+1) * timelineSlot)
		}
	}
	return time.Time{}
}

// countBetween counts replies of outcome o that ended in [from, to).
func (s *loadStats) countBetween(o outcome, from, to time.Time) int64 {
	var n int64
	for i := range s.timeline {
		at := s.begin.Add(time.Duration(i) * timelineSlot)
		if !at.Before(from) && at.Before(to) {
			n += s.timeline[i][o]
		}
	}
	return n
}

// refused tells a failure to connect: the server is gone.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
