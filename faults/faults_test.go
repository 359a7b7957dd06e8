//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestFaults runs the scenarios in order, each on a database of its own;
// -run TestFaults/NAME picks one.
func TestFaults(t *testing.T) {
	e := setup(t)
	form := "full"
	if testing.Short() {
		form = "short"
	}
	defer e.writeReport(t, form)
	t.Run("rebuild_under_load", func(t *testing.T) { rebuildUnderLoad(t, e) })
	t.Run("incremental_under_load", func(t *testing.T) { incrementalUnderLoad(t, e) })
	t.Run("rollback_under_load", func(t *testing.T) { rollbackUnderLoad(t, e) })
	t.Run("etl_killed", func(t *testing.T) { etlKilled(t, e) })
	t.Run("swap_behind_reader", func(t *testing.T) { swapBehindReader(t, e) })
	t.Run("two_rebuilds", func(t *testing.T) { twoRebuilds(t, e) })
	t.Run("pg_restart", func(t *testing.T) { pgRestart(t, e) })
	t.Run("cart_pg_kill", func(t *testing.T) { cartCrash(t, e) })
	t.Run("sigterm", func(t *testing.T) { sigterm(t, e) })
	t.Run("hostile_clients", func(t *testing.T) { hostileClients(t, e) })
	t.Run("bad_exports", func(t *testing.T) { badExports(t, e) })
	t.Run("soak", func(t *testing.T) {
		if testing.Short() {
			t.Skip("the soak runs in the full form only (make faults)")
		}
		soak(t, e)
	})
}

// hammer is the load of the rebuild and kill scenarios: as fast as a few
// workers go, bounded.
func (e *env) hammer() loadSpec {
	return loadSpec{workers: 8, maxRequests: 20_000_000, maxDuration: 10 * time.Minute}
}

// loaded is what one load's --summary-json says of the build it made.
type loaded struct {
	Kind     string `json:"kind"`
	BuildID  int64  `json:"build_id"`
	Products struct {
		Unchanged, Changed, Added, Removed int64
	} `json:"products"`
}

func (l loaded) String() string {
	return fmt.Sprintf("%s b%d (%d changed, %d added, %d removed, %d unchanged)",
		l.Kind, l.BuildID, l.Products.Changed, l.Products.Added, l.Products.Removed, l.Products.Unchanged)
}

// makeLive loads dir into db (a rebuild) after telling chk that dir's
// documents may be served from now on, and records when the new build's
// swap committed (heard by sw).
func (e *env) makeLive(t *testing.T, db string, p *pgxpool.Pool, sw *swaps, chk *checker, dir string, extra ...string) (*generation, loaded, etlResult) {
	t.Helper()
	chk.expect(e.reference(t, dir))
	sum := filepath.Join(t.TempDir(), "summary.json")
	begin := time.Now()
	r := e.mustLoad(t, db, dir, append(extra, "--summary-json", sum)...)
	var l loaded
	b, err := os.ReadFile(sum)
	if err == nil {
		err = json.Unmarshal(b, &l)
	}
	if err != nil {
		t.Fatalf("the load's summary: %v", err)
	}
	id := liveBuild(t, p)
	if id != l.BuildID {
		t.Fatalf("live build %d, the load made %d", id, l.BuildID)
	}
	return chk.live(id, sw.of(t, id, begin)), l, r
}

// rollBack runs `elier-etl rollback` on db, whose previous build holds
// dir's documents, telling chk first.
func (e *env) rollBack(t *testing.T, db string, p *pgxpool.Pool, sw *swaps, chk *checker, dir string) (*generation, etlResult) {
	t.Helper()
	chk.expect(e.reference(t, dir))
	begin := time.Now()
	r := e.etl(t, time.Minute, "rollback", "--database-url", db)
	if r.code != 0 {
		t.Fatalf("elier-etl rollback: exit %d\n%s", r.code, r.stderr)
	}
	id := liveBuild(t, p)
	return chk.live(id, sw.of(t, id, begin)), r
}

// swapLine reports how generation g's swap reached the instances, after
// the load that watched it has stopped.
func swapLine(t *testing.T, chk *checker, g *generation) string {
	lag, late, detail := chk.swapFigures(g)
	if late > 0 {
		// The target; a wall-clock figure, so reported, not failed.
		detail += fmt.Sprintf("; %d OLD BODIES BEGUN OVER 1 s AFTER THE SWAP", late)
	}
	return fmt.Sprintf("b%d: last old body %s after the commit (%s)", g.build, ms(lag), detail)
}

// Scenario 1: a rebuild of another export (a different seed: nearly every
// document changes) while clients hammer the four routes: no failed
// request, every body the document of the old export or of the new one
// (never an older after a newer), the new one everywhere soon after the
// swap.
func rebuildUnderLoad(t *testing.T, e *env) {
	db := e.createDB(t, "faults_rebuild")
	a, b := e.export(t, 1), e.export(t, 2)
	ra := e.reference(t, a)
	e.reference(t, b)
	e.mustLoad(t, db, a)
	p := pool(t, db)
	sw := listenSwaps(t, db)
	api := e.startAPI(t, "rebuild", db, true)
	chk := newChecker(ra)

	run := startLoad(t, api, chk, e.hammer())
	time.Sleep(3 * time.Second)
	g, l, r := e.makeLive(t, db, p, sw, chk, b)
	time.Sleep(3 * time.Second)
	st := run.stop()
	api.stop(t)
	failIf(t, st)
	if g.news == 0 {
		t.Errorf("build %d's documents never served", g.build)
	}
	e.reportf("rebuild_under_load", "%s; %s, etl load %.1fs; every body checked against a full build of its export in faults_ref; %s",
		st, l, r.took.Seconds(), swapLine(t, chk, g))
}

// scene is where the scenarios on two revisions of export seed 1 begin:
// revision 0 live in a database of their own, both revisions' references,
// a pool and a listener of the swaps.
type scene struct {
	db   string
	revs []string
	refs []*ref
	p    *pgxpool.Pool
	sw   *swaps
}

func (e *env) revisionScene(t *testing.T, name string) *scene {
	t.Helper()
	s := &scene{db: e.createDB(t, name), revs: []string{e.revision(t, 1, 0), e.revision(t, 1, 1)}}
	s.refs = []*ref{e.reference(t, s.revs[0]), e.reference(t, s.revs[1])}
	e.mustLoad(t, s.db, s.revs[0])
	s.p, s.sw = pool(t, s.db), listenSwaps(t, s.db)
	return s
}

// Scenario 1b: incremental rebuilds under load on two API instances,
// alternating two revisions of an export (revision 1: some products
// renamed, sku quantities changed, one removed, one added): every load
// incremental, no failed request, every body one revision's document,
// never an older body after a newer one on an instance.
func incrementalUnderLoad(t *testing.T, e *env) {
	sc := e.revisionScene(t, "faults_incremental")
	db, revs, refs, p, sw := sc.db, sc.revs, sc.refs, sc.p, sc.sw
	apis := []*apiProc{e.startAPI(t, "inc1", db, true), e.startAPI(t, "inc2", db, true)}
	chk := newChecker(refs[0])
	spec := e.hammer()
	spec.workers = 4
	var runs []*loadRun
	for _, a := range apis {
		runs = append(runs, startLoad(t, a, chk, spec))
	}
	rebuilds := 4
	if testing.Short() {
		rebuilds = 2
	}
	time.Sleep(2 * time.Second)
	var gens []*generation
	var loads []string
	for i := 1; i <= rebuilds; i++ {
		g, l, r := e.makeLive(t, db, p, sw, chk, revs[i%2])
		if l.Kind != "incremental" {
			t.Errorf("rebuild %d: a %s build, want incremental", i, l.Kind)
		}
		gens = append(gens, g)
		loads = append(loads, fmt.Sprintf("%s in %.1fs", l, r.took.Seconds()))
		time.Sleep(2 * time.Second)
	}
	var parts []string
	var failed int64
	for i, run := range runs {
		st := run.stop()
		failIf(t, st)
		failed += st.failed()
		parts = append(parts, fmt.Sprintf("%s: %s", apis[i].name, st))
	}
	for _, a := range apis {
		a.stop(t)
	}
	var swapsText []string
	for _, g := range gens {
		if g.news == 0 {
			t.Errorf("build %d's new documents never served", g.build)
		}
		swapsText = append(swapsText, swapLine(t, chk, g))
	}
	schemas, building := debris(t, p)
	if len(schemas) > 0 || building > 0 {
		t.Errorf("debris after the rebuilds: %v, %d building", schemas, building)
	}
	e.reportf("incremental_under_load", "%s; loads: %s; swaps: %s",
		strings.Join(parts, "; "), strings.Join(loads, ", "), strings.Join(swapsText, "; "))
}

// Scenario 1c: rollback under load, twice: the previous catalogue comes
// back exactly (bodies and ETags checked against the full build of its
// export), and the second rollback returns to the first.
func rollbackUnderLoad(t *testing.T, e *env) {
	sc := e.revisionScene(t, "faults_rollback")
	db, revs, p, sw := sc.db, sc.revs, sc.p, sc.sw
	api := e.startAPI(t, "rollback", db, true)
	chk := newChecker(sc.refs[0])
	run := startLoad(t, api, chk, e.hammer())
	time.Sleep(2 * time.Second)
	g1, l, _ := e.makeLive(t, db, p, sw, chk, revs[1])
	fp1 := fingerprint(t, p)
	time.Sleep(2 * time.Second)
	g2, rb1 := e.rollBack(t, db, p, sw, chk, revs[0])
	time.Sleep(2 * time.Second)
	g3, rb2 := e.rollBack(t, db, p, sw, chk, revs[1])
	if g3.build != g1.build {
		t.Errorf("rollback twice: build %d live, want %d", g3.build, g1.build)
	}
	if fp := fingerprint(t, p); fp != fp1 {
		t.Errorf("rollback twice: the catalogue differs from the one before (%s, was %s)", fp, fp1)
	}
	time.Sleep(2 * time.Second)
	st := run.stop()
	api.stop(t)
	failIf(t, st)
	for _, g := range []*generation{g1, g2, g3} {
		if g.news == 0 {
			t.Errorf("build %d's documents never served after its swap", g.build)
		}
	}
	e.reportf("rollback_under_load", "%s; %s, then rollback to b%d (%s), rollback again to b%d (%s); swaps: %s; %s; %s",
		st, l, g2.build, ms(rb1.took), g3.build, ms(rb2.took), swapLine(t, chk, g1), swapLine(t, chk, g2), swapLine(t, chk, g3))
}

// Scenario 2: elier-etl killed with SIGKILL at every phase of a full and of
// an incremental rebuild, under load: the API keeps serving the last
// complete build, whole (its documents' checksum unchanged, every body
// verified), the next run succeeds with no manual step and leaves no
// debris.
func etlKilled(t *testing.T, e *env) {
	sc := e.revisionScene(t, "faults_kill")
	db, revs, refs, p, sw := sc.db, sc.revs, sc.refs, sc.p, sc.sw
	api := e.startAPI(t, "kill", db, true)
	chk := newChecker(refs[0])
	run := startLoad(t, api, chk, e.hammer())
	time.Sleep(time.Second)

	// Each point is recognised by the loader's log (parsing starts right
	// after "loading") or by the statement its connections run. An
	// incremental build compares documents while it COPYs the changed ones
	// into the lineage, as versions no view shows yet; its swap transaction
	// ends the versions they replace, then waits (held by a reader) at the
	// view's replacement: killed there, it leaves its versions committed in
	// the lineage, for the next load to delete before its own swap.
	// The short form leaves out the full build's points whose code an
	// incremental build runs too (reading the files, the swap).
	points := []struct {
		name, log, query  string
		full, block, long bool
	}{
		{name: "full: reading the files", log: `"msg":"loading and building documents"`, full: true, long: true},
		{name: "full: COPY docs", query: `copy "elier_b%"."docs"%`, full: true},
		{name: "full: COPY stock", query: `copy "elier_b%"."stock"%`, full: true, long: true},
		{name: "full: indexes", query: `CREATE UNIQUE INDEX docs_%`, full: true},
		{name: "full: swap", query: `%CREATE OR REPLACE VIEW elier.docs%`, full: true, block: true, long: true},
		{name: "incremental: reading the files, comparing", log: `"msg":"loading and building documents"`},
		{name: "incremental: COPY into the lineage", query: `copy "elier_b%"."docs"%`},
		{name: "incremental: swap transaction", query: `%CREATE OR REPLACE VIEW elier.docs%`, block: true},
	}
	var lines []string
	cur := 0 // the revision live
	for _, pt := range points {
		if pt.long && testing.Short() {
			continue
		}
		var got string
		for attempt := 1; attempt <= 3 && got == ""; attempt++ {
			live, whole := liveBuild(t, p), fingerprint(t, p)
			next := revs[1-cur]
			chk.expect(refs[1-cur])
			var extra []string
			if pt.full {
				extra = []string{"--full"}
			}
			begin := time.Now()
			got = killAt(t, e, p, db, next, pt.log, pt.query, pt.block, extra...)
			after := liveBuild(t, p)
			if got == "" {
				// The load ended before the point came: its build is live now.
				chk.live(after, sw.of(t, after, begin))
				cur = 1 - cur
				t.Logf("%s: the load ended before the point (attempt %d)", pt.name, attempt)
				continue
			}
			if err := chk.abort(); err != nil {
				t.Errorf("killed at %s: %v", pt.name, err)
			}
			if after != live || fingerprint(t, p) != whole {
				t.Errorf("killed at %s: live build %d -> %d, documents whole: %v", pt.name, live, after, fingerprint(t, p) == whole)
			}
			if code, ok := api.wait(0); ok {
				t.Fatalf("elier-api exited (%d)", code)
			}
		}
		if got == "" {
			t.Errorf("%s: never reached in 3 attempts", pt.name)
			continue
		}
		schemas, building := debris(t, p)
		lines = append(lines, fmt.Sprintf("%s (%s; left %d stale schema, %d build 'building')", pt.name, got, len(schemas), building))
		time.Sleep(500 * time.Millisecond)
	}
	// The next run: no manual step.
	before := liveBuild(t, p)
	g, l, r := e.makeLive(t, db, p, sw, chk, revs[1-cur])
	time.Sleep(2 * time.Second)
	st := run.stop()
	api.stop(t)
	failIf(t, st)
	schemas, building := debris(t, p)
	if len(schemas) > 0 || building > 0 || g.build == before {
		t.Errorf("after the next run: live %d (was %d), stale %v, %d builds building", g.build, before, schemas, building)
	}
	e.reportf("etl_killed", "%s; killed at: %s; next run exit %d in %.1fs: %s live, %d build schemas left, %d stale, %d 'building'",
		st, strings.Join(lines, ", "), r.code, r.took.Seconds(), l, schemaCount(t, p), len(schemas), building)
}

// killAt starts a load of dir and SIGKILLs it when its stderr shows logLine
// or one of its connections runs query. With block set, a reader holds
// elier.docs (LOCK TABLE ... IN ACCESS SHARE MODE, what any reader takes)
// so that the swap waits for its lock, and lets go once the loader is
// dead. It returns what was seen when killing, or "" when the load ended
// first.
func killAt(t *testing.T, e *env, p *pgxpool.Pool, db, dir, logLine, query string, block bool, extra ...string) string {
	t.Helper()
	ctx := context.Background()
	var blocker pgx.Tx
	if block {
		var err error
		if blocker, err = p.Begin(ctx); err != nil {
			t.Fatal(err)
		}
		defer blocker.Rollback(ctx)
		if _, err := blocker.Exec(ctx, "LOCK TABLE elier.docs IN ACCESS SHARE MODE"); err != nil {
			t.Fatal(err)
		}
	}
	etl := e.spawn(t, "elier-etl", nil, nil, e.etlBin, e.loadArgs(t, db, dir, extra...)...)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if !etl.running() {
			if etl.code != 0 {
				t.Fatalf("the load failed before it was killed: exit %d\n%s", etl.code, etl.stderr.String())
			}
			return ""
		}
		seen := ""
		if logLine != "" && strings.Contains(etl.stderr.String(), logLine) {
			seen = "log " + logLine
		}
		if query != "" {
			var n int
			var wait string
			err := p.QueryRow(ctx, `SELECT count(*), coalesce(max(wait_event_type), '') FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE $1`, query).Scan(&n, &wait)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 && (!block || wait == "Lock") {
				seen = fmt.Sprintf("%d statement(s) %s", n, strings.Trim(query, "%"))
				if block {
					seen += " waiting for its lock"
				}
			}
		}
		if seen != "" {
			etl.signal(t, syscall.SIGKILL)
			code, _ := etl.wait(10 * time.Second)
			if blocker != nil {
				if err := blocker.Rollback(ctx); err != nil {
					t.Fatal(err)
				}
			}
			return fmt.Sprintf("%s, %s after start, exit %d", seen, ms(time.Since(etl.started)), code)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("the load neither ended nor reached the point in 2 minutes")
	return ""
}

// Scenario 2b: the swap meets a long reader of elier.docs (a report, a
// pg_dump): while it waits for the view's lock every new reader queues
// behind it, so the wait must stay under the API's request timeout; the
// swap is retried until the reader is gone. No failed request, and the load
// succeeds.
func swapBehindReader(t *testing.T, e *env) {
	sc := e.revisionScene(t, "faults_swapwait")
	db, revs, p, sw := sc.db, sc.revs, sc.p, sc.sw
	r0, r1 := sc.refs[0], sc.refs[1]
	old := liveBuild(t, p)
	// No cache: every request reaches the database, and would queue.
	api := e.startAPI(t, "swapwait", db, true, "--cache-mb", "0")
	chk := newChecker(r0)
	spec := e.hammer()
	spec.slow = 3 * time.Second // the API's --db-timeout (2 s) and some
	run := startLoad(t, api, chk, spec)
	time.Sleep(time.Second)

	ctx := context.Background()
	reader, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Release()
	if _, err := reader.Exec(ctx, "BEGIN; SELECT count(*) FROM (SELECT 1 FROM elier.docs LIMIT 1) x"); err != nil {
		t.Fatal(err)
	}
	chk.expect(r1)
	begin := time.Now()
	etl := e.spawn(t, "elier-etl", nil, nil, e.etlBin, e.loadArgs(t, db, revs[1])...)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int
		if err := p.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND query ILIKE '%CREATE OR REPLACE VIEW elier.docs%' AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if !etl.running() || time.Now().After(deadline) {
			t.Fatalf("the load never waited for the view (exit %d)\n%s", etl.code, etl.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFrom := time.Now()
	const hold = 5 * time.Second
	time.Sleep(hold)
	if _, err := reader.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	code, ok := etl.wait(time.Minute)
	swapped := time.Since(waitFrom)
	next := liveBuild(t, p)
	if !ok || code != 0 || next == old {
		t.Fatalf("the load behind a %v reader: exit %d (ended %v), live build %d -> %d\n%s", hold, code, ok, old, next, etl.stderr.String())
	}
	g := chk.live(next, sw.of(t, next, begin))
	time.Sleep(time.Second)
	st := run.stop()
	api.stop(t)
	failIf(t, st)
	e.reportf("swap_behind_reader", "%s; a reader held elier.docs for %v while the swap waited: load exit %d, build %d live %s after the swap first waited; %d replies of documents only the new revision holds; %s",
		st, hold, code, next, ms(swapped), g.news, swapLine(t, chk, g))
}

// Scenario 3: two rebuilds at once: one runs, the other exits at once with
// 75 (EX_TEMPFAIL); so does a rollback meanwhile.
func twoRebuilds(t *testing.T, e *env) {
	db := e.createDB(t, "faults_two")
	a, b := e.export(t, 1), e.export(t, 2)
	e.mustLoad(t, db, a)
	p := pool(t, db)
	first := e.spawn(t, "elier-etl", nil, nil, e.etlBin, e.loadArgs(t, db, b)...)
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := p.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
			WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if !first.running() || time.Now().After(deadline) {
			t.Fatalf("the first load never held the lock (exit %d)", first.code)
		}
		time.Sleep(5 * time.Millisecond)
	}
	second := e.etl(t, time.Minute, e.loadArgs(t, db, a)...)
	rollback := e.etl(t, time.Minute, "rollback", "--database-url", asRole(t, db, "elier_owner"))
	stillRunning := first.running()
	code, ok := first.wait(5 * time.Minute)
	if !ok || code != 0 {
		t.Fatalf("the first load: exit %d (ended %v)\n%s", code, ok, first.stderr.String())
	}
	for _, r := range []struct {
		name string
		r    etlResult
	}{{"second load", second}, {"rollback", rollback}} {
		if r.r.code != 75 || !strings.Contains(r.r.message(), "another load is running") || r.r.took > 5*time.Second {
			t.Errorf("%s during a load: exit %d after %v: %s; want 75 at once", r.name, r.r.code, r.r.took, r.r.message())
		}
	}
	if !stillRunning {
		t.Error("the first load ended before the others were refused: the check proved nothing")
	}
	var builds int
	if err := p.QueryRow(context.Background(), "SELECT count(*) FROM elier.builds").Scan(&builds); err != nil {
		t.Fatal(err)
	}
	if builds != 2 {
		t.Errorf("%d builds registered, want 2 (the refused load registers none)", builds)
	}
	e.reportf("two_rebuilds", "first load exit %d in %.1fs; second load exit %d in %s (%q); rollback meanwhile exit %d in %s; builds registered %d",
		code, first.exited.Sub(first.started).Seconds(), second.code, ms(second.took), second.message(), rollback.code, ms(rollback.took), builds)
}

// Scenario 4: PostgreSQL stopped and started under load, the API left
// running: 503s (never a 500, never a hang past the request timeout) while
// it is down, /readyz 503, and recovery on its own.
func pgRestart(t *testing.T, e *env) {
	db := e.createDB(t, "faults_pgrestart")
	e.mustLoad(t, db, e.export(t, 1))
	// No cache: every request reaches the database.
	api := e.startAPI(t, "pgrestart", db, true, "--cache-mb", "0")
	chk := newChecker(e.reference(t, e.export(t, 1)))
	const timeout = 2 * time.Second // elier-api's --db-timeout
	allow503 := func(r *reply) outcome {
		if r.err == nil && r.status == 503 && string(r.body) == `{"error":"database unavailable"}` && r.header.Get("Retry-After") != "" {
			return outUnavailable
		}
		return outFail
	}
	spec := e.hammer()
	spec.allow, spec.slow = allow503, timeout+time.Second
	run := startLoad(t, api, chk, spec)

	// /readyz, probed every 50 ms.
	type probe struct {
		at     time.Time
		status int
		took   time.Duration
	}
	var probes []probe
	var pmu sync.Mutex
	stopProbe := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Go(func() {
		c := &http.Client{Timeout: 10 * time.Second}
		for i := 0; i < 10000; i++ {
			select {
			case <-stopProbe:
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			resp, err := c.Get(api.base + "/readyz")
			pr := probe{at: time.Now(), took: time.Since(start)}
			if err == nil {
				pr.status = resp.StatusCode
				resp.Body.Close()
			}
			pmu.Lock()
			probes = append(probes, pr)
			pmu.Unlock()
		}
	})

	time.Sleep(3 * time.Second)
	stopAt := time.Now()
	e.pg(t, "stop")
	downAt := time.Now()
	time.Sleep(5 * time.Second)
	// The database is up when it accepts a connection: watched from here
	// while pg.sh start runs (which returns a little later).
	startAt := time.Now()
	upCh := make(chan time.Time, 1)
	go func() {
		for i := 0; i < 6000; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c, err := pgx.Connect(ctx, e.adminURL)
			cancel()
			if err == nil {
				upCh <- time.Now()
				c.Close(context.Background())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		upCh <- time.Time{}
	}()
	e.pg(t, "start")
	upAt := <-upCh
	if upAt.IsZero() {
		t.Fatal("the database did not come back")
	}
	// Wait for recovery (bounded), then some more load.
	for time.Since(upAt) < 30*time.Second {
		pmu.Lock()
		ready := len(probes) > 0 && probes[len(probes)-1].status == 200 && probes[len(probes)-1].at.After(upAt)
		pmu.Unlock()
		if ready {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	st := run.stop()
	close(stopProbe)
	pwg.Wait()
	if code, ok := api.wait(0); ok {
		t.Fatalf("elier-api exited (%d) when the database went away", code)
	}
	api.stop(t)
	failIf(t, st)

	// Down for sure: from pg.sh stop's return to pg.sh start's call.
	var readyDown, readyBad int
	var readyBack time.Time
	var probeMax time.Duration
	for _, pr := range probes {
		probeMax = max(probeMax, pr.took)
		switch {
		case pr.at.After(downAt) && pr.at.Before(startAt) && pr.status != 503:
			readyBad++
		case pr.at.After(downAt) && pr.at.Before(startAt):
			readyDown++
		case pr.status != 200 && pr.status != 503:
			readyBad++
		case pr.at.After(upAt) && pr.status == 200 && readyBack.IsZero():
			readyBack = pr.at
		}
	}
	if readyDown == 0 || readyBad > 0 || probeMax > timeout+time.Second {
		t.Errorf("/readyz while down: %d 503s, %d other answers, slowest %v", readyDown, readyBad, probeMax)
	}
	okDown := st.countBetween(outOK, downAt.Add(timelineSlot), startAt)
	if okDown > 0 {
		t.Errorf("%d successful answers while the database was down, with no cache", okDown)
	}
	firstOK := st.firstAfter(outOK, upAt)
	if readyBack.IsZero() || firstOK.IsZero() {
		t.Fatalf("no recovery: /readyz back %v, first 200 %v", readyBack, firstOK)
	}
	last503 := st.lastOf(outUnavailable)
	e.reportf("pg_restart", "%s; pg.sh stop took %s, down %s; 503s %d, /readyz 503 x%d (slowest probe %s); once the database accepted connections: /readyz 200 after %s, first 200 after %s, last 503 at %s (timeline %v); API never restarted",
		st, ms(downAt.Sub(stopAt)), ms(upAt.Sub(downAt)), st.counts[outUnavailable], readyDown, ms(probeMax),
		ms(readyBack.Sub(upAt)), ms(firstOK.Sub(upAt)), ms(last503.Sub(upAt)), timelineSlot)
}

// Scenario 5: SIGTERM under load: requests in flight complete (some held
// in the database on purpose), new connections are refused, the API exits
// 0 within its shutdown deadline.
func sigterm(t *testing.T, e *env) {
	db := e.createDB(t, "faults_sigterm")
	e.mustLoad(t, db, e.export(t, 1))
	p := pool(t, db)
	const deadline = 5 * time.Second
	api := e.startAPI(t, "sigterm", db, true, "--shutdown-timeout", deadline.String())
	chk := newChecker(e.reference(t, e.export(t, 1)))

	var sigAt time.Time
	var sigMu sync.Mutex
	afterSignal := func(r *reply) outcome {
		sigMu.Lock()
		at := sigAt
		sigMu.Unlock()
		// Refused once the signal was sent: a request that was set off
		// just before it can be dialled just after (when the listener has
		// closed), so the refusal's time (its end) is what counts.
		if !at.IsZero() && r.end.After(at) && refused(r.err) {
			return outRefused
		}
		return outFail
	}
	// The background load asks for the lower half of the ids; the held
	// requests ask for the upper half, which no cache holds.
	spec := e.hammer()
	spec.maxID, spec.allow = e.products/2, afterSignal
	run := startLoad(t, api, chk, spec)
	time.Sleep(2 * time.Second)

	// Hold the builds table: every cache miss now waits in the database.
	ctx := context.Background()
	lock, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if _, err := lock.Exec(ctx, "BEGIN; LOCK TABLE elier.builds IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	const held = 32
	heldRun := &loadRun{spec: loadSpec{slow: 10 * time.Second}, inst: api.name, chk: chk, client: newClient(held), begin: time.Now(), stopCh: make(chan struct{})}
	var hwg sync.WaitGroup
	replies := make([]*reply, held)
	for i := range held {
		id := e.products/2 + 1 + i*(e.products/2/held)
		replies[i] = &reply{path: fmt.Sprintf("/products/%d/styles", id), res: fmt.Sprintf("s-%d", id), key: strconv.Itoa(id)}
		hwg.Go(func() {
			req, _ := http.NewRequest("GET", api.base+replies[i].path, nil)
			heldRun.do(req, replies[i])
		})
	}
	// Wait until the held requests wait on the lock.
	waitDeadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := p.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND application_name = 'elier-api' AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(waitDeadline) {
			t.Fatal("the held requests never reached the database")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sigMu.Lock()
	sigAt = time.Now()
	sigMu.Unlock()
	api.signal(t, syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond)
	if _, err := lock.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	hwg.Wait()
	code, ok := api.wait(deadline + 5*time.Second)
	exitAfter := api.exited.Sub(sigAt)
	st := run.stop()
	hs := heldRun.stop()
	failIf(t, st)
	failIf(t, hs)
	if !ok || code != 0 || exitAfter > deadline {
		t.Errorf("after SIGTERM: exit %d (ended %v) after %v, want 0 within %v", code, ok, exitAfter, deadline)
	}
	var heldWait time.Duration
	for _, r := range replies {
		heldWait = max(heldWait, r.end.Sub(r.start))
	}
	inflightAtSignal := st.countBetween(outOK, sigAt, sigAt.Add(time.Second))
	e.reportf("sigterm", "%s; %d requests held in the database at SIGTERM: %d answered 200 (verified), longest %s; %d background answers after the signal; exit %d %s after SIGTERM (deadline %v)",
		st, held, hs.counts[outOK], ms(heldWait), inflightAtSignal, code, ms(exitAfter), deadline)
}
