//go:build faults

package faults

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// listCounts are the page sizes the load asks GET /products for.
var listCounts = []int{5, 25, 100}

// ref is what one build must answer: the hash of every response body the
// load may ask for, keyed by the resource part of the API's ETag (p-1,
// s-1, r-1, l-2-5), computed from the build's own docs table.
type ref struct {
	build    int64
	products int
	hash     map[string]uint64
}

// loadRef reads build's documents from its schema. The exports the suite
// generates hold the products 1..N, and so must every build.
func loadRef(ctx context.Context, p *pgxpool.Pool, seed maphash.Seed, build int64) (*ref, error) {
	schema := pgx.Identifier{"elier_b" + strconv.FormatInt(build, 10), "docs"}.Sanitize()
	rows, err := p.Query(ctx, "SELECT id, list_item, product, styles, related FROM "+schema+" ORDER BY ord")
	if err != nil {
		return nil, fmt.Errorf("reading build %d: %w", build, err)
	}
	r := &ref{build: build, hash: map[string]uint64{}}
	var items [][]byte
	for rows.Next() {
		var id int32
		var item, product, styles, related []byte
		if err := rows.Scan(&id, &item, &product, &styles, &related); err != nil {
			return nil, err
		}
		if int(id) != len(items)+1 {
			rows.Close()
			return nil, fmt.Errorf("build %d: product %d at position %d: the suite's exports hold products 1..N", build, id, len(items)+1)
		}
		items = append(items, item)
		n := strconv.Itoa(int(id))
		r.hash["p-"+n] = maphash.Bytes(seed, product)
		r.hash["s-"+n] = maphash.Bytes(seed, styles)
		r.hash["r-"+n] = maphash.Bytes(seed, related)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	r.products = len(items)
	for _, c := range listCounts {
		for page := 1; page <= lastPage(r.products, c)+2; page++ {
			var b bytes.Buffer
			b.WriteByte('[')
			for i := (page - 1) * c; i < min(page*c, len(items)); i++ {
				if i > (page-1)*c {
					b.WriteByte(',')
				}
				b.Write(items[i])
			}
			b.WriteByte(']')
			r.hash[fmt.Sprintf("l-%d-%d", page, c)] = maphash.Bytes(seed, b.Bytes())
		}
	}
	return r, nil
}

func lastPage(n, count int) int { return (n + count - 1) / count }

// checker verifies every response body against the build its ETag names.
// Responses of a build whose reference is not loaded yet (a build that
// went live during the load) wait until it is.
type checker struct {
	seed     maphash.Seed
	products int

	mu      sync.Mutex
	refs    map[int64]*ref
	pending map[int64]map[pendingKey]int64
	seen    map[int64]*seenBuild
}

type pendingKey struct {
	res  string
	hash uint64
}

// seenBuild says when a build was first and last served, and how often.
type seenBuild struct {
	first, last time.Time
	n           int64
}

func newChecker(products int) *checker {
	return &checker{seed: maphash.MakeSeed(), products: products,
		refs: map[int64]*ref{}, pending: map[int64]map[pendingKey]int64{}, seen: map[int64]*seenBuild{}}
}

// addRef loads build's reference and verifies the responses that waited
// for it.
func (c *checker) addRef(t *testing.T, p *pgxpool.Pool, build int64) []error {
	t.Helper()
	c.mu.Lock()
	_, ok := c.refs[build]
	c.mu.Unlock()
	if ok {
		return nil
	}
	r, err := loadRef(context.Background(), p, c.seed, build)
	if err != nil {
		t.Fatal(err)
	}
	if r.products != c.products {
		t.Fatalf("build %d has %d products, the export %d", build, r.products, c.products)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs[build] = r
	var errs []error
	for k := range c.pending[build] {
		if err := r.verify(k.res, k.hash); err != nil {
			errs = append(errs, err)
		}
	}
	delete(c.pending, build)
	return errs
}

func (r *ref) verify(res string, h uint64) error {
	want, ok := r.hash[res]
	if !ok {
		return fmt.Errorf("build %d has no %s", r.build, res)
	}
	if h != want {
		return fmt.Errorf("%s: body differs from build %d's document", res, r.build)
	}
	return nil
}

// check verifies one 200 (body set) or 304 (body nil) of build.
func (c *checker) check(res string, build int64, body []byte, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.seen[build]
	if s == nil {
		s = &seenBuild{first: at}
		c.seen[build] = s
	}
	if at.Before(s.first) {
		s.first = at
	}
	if at.After(s.last) {
		s.last = at
	}
	s.n++
	if body == nil {
		return nil
	}
	h := maphash.Bytes(c.seed, body)
	if r := c.refs[build]; r != nil {
		return r.verify(res, h)
	}
	m := c.pending[build]
	if m == nil {
		m = map[pendingKey]int64{}
		c.pending[build] = m
	}
	m[pendingKey{res, h}]++
	return nil
}

// unverified lists the builds whose responses could not be checked.
func (c *checker) unverified() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int64
	for b := range c.pending {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// seenOf returns a copy of what was seen of build (zero when never).
func (c *checker) seenOf(build int64) seenBuild {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.seen[build]; s != nil {
		return *s
	}
	return seenBuild{}
}

// builds lists the builds served so far.
func (c *checker) builds() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int64
	for b := range c.seen {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
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
	res        string // the resource the ETag must name; "" for /readyz
	want404    bool
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
	minID       int // product ids asked for: minID..maxID (default 1..products)
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

// startLoad starts spec.workers clients on the API's four routes.
func startLoad(t *testing.T, base string, chk *checker, spec loadSpec) *loadRun {
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
		spec.maxID = chk.products
	}
	l := &loadRun{spec: spec, base: base, chk: chk, client: newClient(spec.workers),
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
	case x < 5:
		id = l.chk.products + 1 + rnd.IntN(1000)
		letter, suffix := routeOf(rnd.IntN(3))
		return &reply{path: fmt.Sprintf("/products/%d%s", id, suffix), res: fmt.Sprintf("%c-%d", letter, id), want404: true}
	case x < 85:
		letter, suffix := routeOf(rnd.IntN(3))
		return &reply{path: fmt.Sprintf("/products/%d%s%s", id, suffix, slash), res: fmt.Sprintf("%c-%d", letter, id)}
	default:
		c := listCounts[rnd.IntN(len(listCounts))]
		page := 1 + rnd.IntN(lastPage(l.chk.products, c)+2)
		return &reply{path: fmt.Sprintf("/products%s?page=%d&count=%d", slash, page, c), res: fmt.Sprintf("l-%d-%d", page, c)}
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

// judge applies the strict rules: the expected 404 for a product past the
// catalogue; otherwise a 200 whose ETag names a build and the resource
// asked for and whose body is that build's document, or a 304.
func (l *loadRun) judge(r *reply) (outcome, string) {
	if r.err != nil {
		return outFail, r.err.Error()
	}
	if r.want404 {
		id := r.res[2:]
		if r.status != 404 || string(r.body) != `{"error":"product `+id+` not found"}` {
			return outFail, fmt.Sprintf("status %d body %.80q, want 404", r.status, r.body)
		}
		return outOK, ""
	}
	if r.status != 200 && r.status != 304 {
		return outFail, fmt.Sprintf("status %d body %.80q", r.status, r.body)
	}
	build, res, err := parseETag(r.header.Get("ETag"))
	if err != nil {
		return outFail, err.Error()
	}
	if res != r.res {
		return outFail, fmt.Sprintf("ETag names %s", res)
	}
	var body []byte
	if r.status == 200 {
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			return outFail, "Content-Type " + ct
		}
		body = r.body
	}
	if err := l.chk.check(r.res, build, body, r.end); err != nil {
		return outFail, err.Error()
	}
	return outOK, ""
}

// parseETag splits the API's ETag "b<build>-<resource>[-gz|-br]".
func parseETag(tag string) (build int64, res string, err error) {
	s, ok := strings.CutPrefix(tag, `"b`)
	if !ok || !strings.HasSuffix(s, `"`) {
		return 0, "", fmt.Errorf("ETag %q is not the API's", tag)
	}
	s = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, `"`), "-gz"), "-br")
	b, res, ok := strings.Cut(s, "-")
	if !ok {
		return 0, "", fmt.Errorf("ETag %q is not the API's", tag)
	}
	build, err = strconv.ParseInt(b, 10, 64)
	if err != nil || build < 1 {
		return 0, "", fmt.Errorf("ETag %q names no build", tag)
	}
	return build, res, nil
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
