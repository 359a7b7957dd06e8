// Command loadcheck drives the scenarios of scripts/cluster.sh test: it is
// the load generator that counts failures, the poller that sees a new build
// reach each API, and the replication-lag sampler. Every subcommand is
// bounded in time; results go to stdout as one JSON object.
//
//	loadcheck load  -url URL -d 20s -rate 1000 -c 32 -ids 10000
//	loadcheck await -after BUILD -db PRIMARY_URL -timeout 30s [-body PROXY_URL -path P] API_URL...
//	loadcheck lag   -db PRIMARY_URL -replica REPLICA_URL -interval 100ms -d 5m
//	loadcheck conns -db URL           elier-api sessions on that server
//	loadcheck cart  -url URL -skus 1,2,3 -d 30s -rate 100 -sessions 8
//	                                  POST /cart under a failure: its 503s and
//	                                  acknowledged adds lost (cart.go)
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/elier/catalogue/pkg/readmodel"
	"github.com/elier/catalogue/pkg/stored"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadcheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: loadcheck load|await|lag|conns|cart [flags]")
	}
	var res any
	var err error
	switch args[0] {
	case "load":
		res, err = loadCmd(ctx, args[1:])
	case "await":
		res, err = awaitCmd(ctx, args[1:])
	case "lag":
		res, err = lagCmd(ctx, args[1:])
	case "conns":
		res, err = connsCmd(ctx, args[1:])
	case "cart":
		res, err = cartCmd(ctx, args[1:])
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// loadResult is what `load` reports. A failure is a transport error or an
// answer other than 200, 304 and 404 (an id the export does not have).
type loadResult struct {
	URL         string         `json:"url"`
	Seconds     float64        `json:"seconds"`
	Rate        int            `json:"target_rate"`
	Requests    int64          `json:"requests"`
	OK          int64          `json:"ok"`
	NotFound    int64          `json:"not_found"`
	Failed      int64          `json:"failed"`
	FailedRatio float64        `json:"failed_ratio"`
	Behind      int64          `json:"behind"` // requests the pacer could not start on time
	Statuses    map[string]int `json:"statuses"`
	Errors      map[string]int `json:"errors,omitempty"`
	P50ms       float64        `json:"p50_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	// FailedAt: seconds since the start, per 250 ms slot that had failures.
	FailedAt map[string]int `json:"failed_at,omitempty"`
	Start    time.Time      `json:"start"`
}

func loadCmd(ctx context.Context, args []string) (*loadResult, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:3180", "base `URL`")
	d := fs.Duration("d", 10*time.Second, "how long to send requests")
	rate := fs.Int("rate", 1000, "requests per second (0: as fast as the workers go)")
	conc := fs.Int("c", 32, "concurrent connections")
	ids := fs.Int("ids", 10000, "product ids are drawn from 1..`N`")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *d <= 0 || *d > 10*time.Minute || *conc < 1 || *ids < 1 || *rate < 0 {
		return nil, errors.New("load: -d must be in (0, 10m], -c and -ids positive, -rate not negative")
	}
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			MaxIdleConns:        *conc,
			MaxIdleConnsPerHost: *conc,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(ctx, *d)
	defer cancel()
	start := time.Now()
	var behind atomic.Int64
	var tokens chan struct{}
	if *rate > 0 {
		tokens = make(chan struct{}, *conc)
		go pace(ctx, tokens, *rate, &behind)
	}

	routes := []string{"/styles", "", "/related", "/styles"}
	type tally struct {
		statuses map[int]int
		errs     map[string]int
		failedAt map[int]int
		lat      []time.Duration
	}
	tallies := make([]tally, *conc)
	var wg sync.WaitGroup
	for w := range *conc {
		t := &tallies[w]
		t.statuses, t.errs, t.failedAt = map[int]int{}, map[string]int{}, map[int]int{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for {
				if tokens != nil {
					select {
					case <-ctx.Done():
						return
					case <-tokens:
					}
				} else if ctx.Err() != nil {
					return
				}
				path := fmt.Sprintf("%s/products/%d%s", *url, 1+rng.IntN(*ids), routes[rng.IntN(len(routes))])
				t0 := time.Now()
				code, err := get(client, path)
				t.lat = append(t.lat, time.Since(t0))
				slot := int(t0.Sub(start) / (250 * time.Millisecond))
				switch {
				case err != nil:
					t.errs[errKind(err)]++
					t.failedAt[slot]++
				default:
					t.statuses[code]++
					if code != http.StatusOK && code != http.StatusNotModified && code != http.StatusNotFound {
						t.failedAt[slot]++
					}
				}
			}
		})
	}
	wg.Wait()

	r := &loadResult{URL: *url, Seconds: time.Since(start).Seconds(), Rate: *rate, Behind: behind.Load(),
		Statuses: map[string]int{}, Errors: map[string]int{}, FailedAt: map[string]int{}, Start: start}
	var lat []time.Duration
	for _, t := range tallies {
		for c, n := range t.statuses {
			r.Statuses[strconv.Itoa(c)] += n
			r.Requests += int64(n)
			switch c {
			case http.StatusOK, http.StatusNotModified:
				r.OK += int64(n)
			case http.StatusNotFound:
				r.NotFound += int64(n)
			default:
				r.Failed += int64(n)
			}
		}
		for k, n := range t.errs {
			r.Errors[k] += n
			r.Requests += int64(n)
			r.Failed += int64(n)
		}
		for s, n := range t.failedAt {
			r.FailedAt[strconv.FormatFloat(float64(s)*0.25, 'f', 2, 64)] += n
		}
		lat = append(lat, t.lat...)
	}
	if r.Requests > 0 {
		r.FailedRatio = float64(r.Failed) / float64(r.Requests)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		ms := func(q float64) float64 {
			return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
		}
		r.P50ms, r.P99ms, r.MaxMs = ms(0.50), ms(0.99), ms(1)
	}
	return r, nil
}

// pace puts rate tokens a second into tokens, evenly; a token that finds no
// free worker is counted as behind and dropped, so a stall shows up in the
// count instead of as a burst afterwards.
func pace(ctx context.Context, tokens chan<- struct{}, rate int, behind *atomic.Int64) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	start := time.Now()
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int64(now.Sub(start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				select {
				case tokens <- struct{}{}:
				default:
					behind.Add(1)
				}
			}
		}
	}
}

func get(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

func errKind(err error) string {
	var ne interface{ Timeout() bool }
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "other"
}

// awaitResult: when each target first served a build newer than -after,
// counted from that build's swap on the primary (swapped_at). ETags name
// content, not builds, so an API instance is watched through its /metrics
// (elier_live_build_id, the build it has adopted) and a proxy in front of
// the instances (-body) by comparing what it serves at -path with the new
// build's document, read from the primary.
type awaitResult struct {
	Build     int64              `json:"build"`
	SwappedAt time.Time          `json:"swapped_at"`
	SeenAt    map[string]string  `json:"seen_at"`
	AfterSwap map[string]float64 `json:"seconds_after_swap"`
	Max       float64            `json:"max_seconds_after_swap"`
}

// urls is a repeatable flag.
type urls []string

func (u *urls) String() string     { return strings.Join(*u, ",") }
func (u *urls) Set(v string) error { *u = append(*u, v); return nil }

// docPath matches the document routes whose bytes -body compares.
var docPath = regexp.MustCompile(`^/products/(\d+)(/styles|/related)?$`)

func awaitCmd(ctx context.Context, args []string) (*awaitResult, error) {
	fs := flag.NewFlagSet("await", flag.ContinueOnError)
	after := fs.Int64("after", 0, "wait for a build newer than `BUILD`")
	db := fs.String("db", "", "the primary's `URL`, for the build, its swapped_at and its documents")
	var bodies urls
	fs.Var(&bodies, "body", "a proxy's base `URL`, watched by the body it serves at -path (repeatable)")
	path := fs.String("path", "/products/1/styles", "the document -body targets are polled for: /products/ID[/styles|/related]")
	every := fs.Duration("every", 50*time.Millisecond, "poll interval")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	apis := fs.Args()
	if len(apis)+len(bodies) == 0 || *db == "" {
		return nil, errors.New("await: -db and at least one API URL (or -body URL) are required")
	}
	m := docPath.FindStringSubmatch(*path)
	if len(bodies) > 0 && m == nil {
		return nil, fmt.Errorf("await: -path %q is not /products/ID[/styles|/related]", *path)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, *db)
	if err != nil {
		return nil, fmt.Errorf("await: connecting to the primary: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableCompression: true}}

	found := make(chan seen, len(apis)+len(bodies))
	for _, api := range apis {
		go pollMetrics(ctx, client, api, *after, *every, found)
	}
	if len(bodies) > 0 {
		doc, err := newDocument(ctx, conn, m, *after, *every)
		if err != nil {
			return nil, err
		}
		for _, b := range bodies {
			go pollBody(ctx, client, b, *path, doc, *every, found)
		}
	}
	r := &awaitResult{SeenAt: map[string]string{}, AfterSwap: map[string]float64{}}
	seenAt := map[string]time.Time{}
	for range len(apis) + len(bodies) {
		select {
		case s := <-found:
			seenAt[s.target] = s.at
			r.SeenAt[s.target] = s.at.Format(time.RFC3339Nano)
			r.Build = max(r.Build, s.build)
		case <-ctx.Done():
			return nil, fmt.Errorf("await: %d of %d targets served a build newer than %d within %v",
				len(seenAt), len(apis)+len(bodies), *after, *timeout)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT swapped_at FROM elier.builds WHERE id = $1", r.Build).Scan(&r.SwappedAt); err != nil {
		return nil, fmt.Errorf("await: reading swapped_at of build %d: %w", r.Build, err)
	}
	for api, at := range seenAt {
		s := at.Sub(r.SwappedAt).Seconds()
		r.AfterSwap[api] = s
		r.Max = max(r.Max, s)
	}
	return r, nil
}

// seen: target served build (0: a build newer than -after, by its body) at.
type seen struct {
	target string
	build  int64
	at     time.Time
}

// pollMetrics polls an API's /metrics until its elier_live_build_id is
// past after.
func pollMetrics(ctx context.Context, c *http.Client, api string, after int64, every time.Duration, found chan<- seen) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if b, err := liveBuildOf(c, api); err == nil && b > after {
			found <- seen{api, b, time.Now()}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func liveBuildOf(c *http.Client, api string) (int64, error) {
	resp, err := c.Get(api + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "elier_live_build_id "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no elier_live_build_id in /metrics")
}

// document is the body a proxy must serve once the new build is live.
type document struct {
	build int64
	body  []byte
}

// newDocument waits for a build newer than after to be live on the
// primary and reads its document for the route m (docPath's match). The
// document must differ from the one live before (when await began before
// the swap), or the proxy's switch could not be seen.
func newDocument(ctx context.Context, conn *pgx.Conn, m []string, after int64, every time.Duration) (*document, error) {
	col := map[string]string{"": "product", "/styles": "styles", "/related": "related"}[m[2]]
	read := func() (int64, []byte, error) {
		var b int64
		var body []byte
		err := conn.QueryRow(ctx, "SELECT build_id, "+col+" FROM elier.docs WHERE id = $1", m[1]).Scan(&b, &body)
		if err != nil {
			return b, nil, err
		}
		// Stored coded or packed (pkg/stored); the proxy's answers are
		// compared decoded (Go's client asks for gzip and decodes it).
		body, err = storedBody(ctx, conn, body)
		return b, body, err
	}
	b, before, err := read()
	switch {
	case err != nil:
		return nil, fmt.Errorf("await: reading product %s's %s: %w", m[1], col, err)
	case b > after: // already live: the old document is gone, nothing to compare
		return &document{build: b, body: before}, nil
	}
	for {
		b, body, err := read()
		switch {
		case err != nil:
			return nil, fmt.Errorf("await: reading product %s's %s: %w", m[1], col, err)
		case b > after && bytes.Equal(body, before):
			return nil, fmt.Errorf("await: product %s's %s is the same in build %d: pick another -path", m[1], col, b)
		case b > after:
			return &document{build: b, body: body}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("await: no build newer than %d went live: %w", after, ctx.Err())
		case <-time.After(every):
		}
	}
}

// pollBody polls a proxy's path until it serves doc's bytes.
func pollBody(ctx context.Context, c *http.Client, base, path string, doc *document, every time.Duration, found chan<- seen) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if resp, err := c.Get(base + path); err == nil {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK && bytes.Equal(body, doc.body) {
				found <- seen{base, doc.build, time.Now()}
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lagResult: the replica's lag behind the primary, sampled every interval,
// as the primary sees it (pg_stat_replication) and as the replica does.
type lagResult struct {
	Samples int `json:"samples"`
	// the largest WAL distance, primary's current LSN minus the replica's replayed one
	MaxReplayBytes int64 `json:"max_replay_lag_bytes"`
	// pg_stat_replication's replay_lag, write_lag, flush_lag (NULL when idle)
	MaxReplayLag float64 `json:"max_replay_lag_seconds"`
	MaxWriteLag  float64 `json:"max_write_lag_seconds"`
	MaxFlushLag  float64 `json:"max_flush_lag_seconds"`
	// on the replica: how long after its commit on the primary each newly
	// replayed transaction was seen replayed (now() minus
	// pg_last_xact_replay_timestamp() at the first sample that shows it), an
	// upper bound within one interval; the commits that were already
	// replayed at the start do not count
	MaxCommitDelay float64 `json:"max_commit_replay_delay_seconds"`
	Commits        int     `json:"commits_seen"`
	NotStreaming   int     `json:"samples_not_streaming"`
	Errors         int     `json:"sample_errors"`
}

func lagCmd(ctx context.Context, args []string) (*lagResult, error) {
	fs := flag.NewFlagSet("lag", flag.ContinueOnError)
	db := fs.String("db", "", "the primary's `URL`")
	replica := fs.String("replica", "", "the replica's `URL`")
	interval := fs.Duration("interval", 100*time.Millisecond, "sampling interval")
	d := fs.Duration("d", 5*time.Minute, "stop after (or at SIGINT/SIGTERM)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *db == "" || *replica == "" {
		return nil, errors.New("lag: -db and -replica are required")
	}
	runCtx, cancel := context.WithTimeout(ctx, *d)
	defer cancel()
	p, err := pgx.Connect(runCtx, *db)
	if err != nil {
		return nil, fmt.Errorf("lag: connecting to the primary: %w", err)
	}
	defer p.Close(context.WithoutCancel(ctx))
	rc, err := pgx.Connect(runCtx, *replica)
	if err != nil {
		return nil, fmt.Errorf("lag: connecting to the replica: %w", err)
	}
	defer rc.Close(context.WithoutCancel(ctx))

	const onPrimary = `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
       coalesce(extract(epoch FROM replay_lag), 0)::float8,
       coalesce(extract(epoch FROM write_lag), 0)::float8,
       coalesce(extract(epoch FROM flush_lag), 0)::float8
FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1 DESC LIMIT 1`
	const onReplica = `SELECT pg_last_xact_replay_timestamp(), extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8`

	r := &lagResult{}
	var lastCommit pgtype.Timestamptz
	if err := rc.QueryRow(runCtx, onReplica).Scan(&lastCommit, nil); err != nil {
		return nil, fmt.Errorf("lag: reading the replica's last replayed commit: %w", err)
	}
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		select {
		case <-runCtx.Done():
			return r, nil
		case <-t.C:
		}
		qctx, qcancel := context.WithTimeout(runCtx, *interval*5)
		var bytes int64
		var replay, write, flush float64
		err := p.QueryRow(qctx, onPrimary).Scan(&bytes, &replay, &write, &flush)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			r.NotStreaming++
		case err != nil:
			r.Errors++
		default:
			r.Samples++
			r.MaxReplayBytes = max(r.MaxReplayBytes, bytes)
			r.MaxReplayLag = max(r.MaxReplayLag, replay)
			r.MaxWriteLag = max(r.MaxWriteLag, write)
			r.MaxFlushLag = max(r.MaxFlushLag, flush)
		}
		var commit pgtype.Timestamptz
		var delay pgtype.Float8
		if err := rc.QueryRow(qctx, onReplica).Scan(&commit, &delay); err != nil {
			r.Errors++
		} else if commit.Valid && delay.Valid && (!lastCommit.Valid || !commit.Time.Equal(lastCommit.Time)) {
			lastCommit = commit
			r.Commits++
			r.MaxCommitDelay = max(r.MaxCommitDelay, delay.Float64)
		}
		qcancel()
	}
}

// connsCmd counts the elier-api sessions on one server.
func connsCmd(ctx context.Context, args []string) (map[string]int, error) {
	fs := flag.NewFlagSet("conns", flag.ContinueOnError)
	db := fs.String("db", "", "the server's `URL`")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, *db)
	if err != nil {
		return nil, fmt.Errorf("conns: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'elier-api'").Scan(&n)
	return map[string]int{"elier_api_sessions": n}, err
}

// storedBody is the body of a stored document: gzip-decoded, unpacked
// with its lineage's dictionary (read from elier.dicts), or as it is.
func storedBody(ctx context.Context, conn *pgx.Conn, b []byte) ([]byte, error) {
	if !stored.Packed(b) {
		return stored.Decode(nil, b)
	}
	id, err := stored.PackedDict(b)
	if err != nil {
		return nil, err
	}
	d, err := readmodel.ReadDict(ctx, conn, id)
	if err != nil {
		return nil, err
	}
	return d.Unpack(nil, b)
}
