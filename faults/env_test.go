//go:build faults

package faults

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/internal/pgtest"
)

var (
	flagProducts = flag.Int("faults.products", 0, "products in each generated export (default 20000, 10000 with -short)")
	flagPGPort   = flag.Int("faults.pgport", 25435, "port of the suite's own PostgreSQL cluster (fixed when .faults/pg is created)")
	flagSoak     = flag.Duration("faults.soak", 10*time.Minute, "length of the soak (full form only)")
	flagRate     = flag.Int("faults.rate", 2000, "requests per second during the soak")
	flagRebuild  = flag.Duration("faults.rebuild-every", 2*time.Minute, "time between rebuilds during the soak")
	flagKeep     = flag.Bool("faults.keep", false, "leave the suite's PostgreSQL cluster running afterwards")
)

// env is what every scenario shares: the programs, the cluster, the exports
// and the report.
type env struct {
	root     string // the repository
	dir      string // root/.faults: the cluster, exports, logs, report
	logs     string
	etlBin   string
	apiBin   string
	adminURL string // the cluster's elier database
	products int

	mu     sync.Mutex
	report []string

	// The reference documents of each export (ref_test.go), built in the
	// database refDB, which lives as long as the top test top.
	top   *testing.T
	refMu sync.Mutex
	refs  map[string]*ref
	refDB string
}

// setup finds the programs, starts the suite's cluster and generates the
// exports the scenarios load.
func setup(t *testing.T) *env {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatalf("no go.mod above %s", wd)
		}
		root = parent
	}
	e := &env{root: root, dir: filepath.Join(root, ".faults"), products: *flagProducts, top: t, refs: map[string]*ref{}}
	if e.products == 0 {
		e.products = 20000
		if testing.Short() {
			e.products = 10000
		}
	}
	e.etlBin = filepath.Join(root, "bin", "elier-etl")
	e.apiBin = filepath.Join(root, "bin", "elier-api")
	for _, b := range []string{e.etlBin, e.apiBin} {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("%s: %v (run `make build` first; `make faults` does)", b, err)
		}
	}
	e.logs = filepath.Join(e.dir, "logs")
	if err := os.RemoveAll(e.logs); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.logs, 0o755); err != nil {
		t.Fatal(err)
	}
	// The port is below the ephemeral range (32768-60999 on Linux), so no
	// client connection can hold it when the cluster (re)starts.
	e.adminURL = e.pg(t, "start")
	if !*flagKeep {
		t.Cleanup(func() { e.pg(t, "stop") })
	}
	e.reportf("setup", "products=%d per export, %d CPUs, cluster %s, programs %s",
		e.products, runtime.NumCPU(), e.adminURL, filepath.Dir(e.etlBin))
	return e
}

// pg runs scripts/pg.sh on the suite's own cluster and returns its output.
func (e *env) pg(t *testing.T, cmd string) string {
	t.Helper()
	c := exec.Command(filepath.Join(e.root, "scripts", "pg.sh"), cmd)
	c.Env = append(childEnv(), "ELIER_PGDIR="+filepath.Join(e.dir, "pg"), "ELIER_PGPORT="+strconv.Itoa(*flagPGPort))
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("pg.sh %s: %v\n%s", cmd, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// childEnv is this process's environment without DATABASE_URL: every
// program the suite starts is told its database explicitly, and never
// reaches the developers' cluster by accident.
func childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "ELIER_PG") {
			out = append(out, kv)
		}
	}
	return out
}

// reportf records one line of a scenario's figures and prints it at once.
func (e *env) reportf(scenario, format string, args ...any) {
	line := fmt.Sprintf("%-20s %s", scenario, fmt.Sprintf(format, args...))
	e.mu.Lock()
	e.report = append(e.report, line)
	e.mu.Unlock()
	fmt.Println("faults:", line)
}

// writeReport saves the report next to the cluster for docs/RELIABILITY.md.
func (e *env) writeReport(t *testing.T, form string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	head := fmt.Sprintf("# %s form, %s, %s\n", form, time.Now().UTC().Format(time.RFC3339), runtime.Version())
	body := head + strings.Join(e.report, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(e.dir, "report-"+form+".txt"), []byte(body), 0o644); err != nil {
		t.Error(err)
	}
}

// createDB gives a scenario a fresh database of its own on the cluster; it
// is dropped when the scenario passes (kept for a look when it fails).
func (e *env) createDB(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	id := pgx.Identifier{name}.Sanitize()
	for _, q := range []string{"DROP DATABASE IF EXISTS " + id + " WITH (FORCE)", "CREATE DATABASE " + id} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, e.adminURL); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := pgtest.WithDatabase(e.adminURL, name)
	if err != nil {
		t.Fatal(err)
	}
	// The roles of production (sql/roles.sql): the loader runs as
	// elier_owner and the API as elier_api, so every scenario also shows
	// that they need no more (the suite's own checks stay administrator).
	if r := e.etl(t, time.Minute, "roles", "--database-url", u); r.code != 0 {
		t.Fatalf("elier-etl roles: exit %d\n%s", r.code, r.stderr)
	}
	return u
}

// asRole is db's URL for one of the catalogue's roles (the cluster trusts
// local connections, so no password).
func asRole(t *testing.T, db, role string) string {
	t.Helper()
	u, err := pgtest.WithUser(db, role)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// pool opens a small pool on a scenario's database for the suite's own
// checks.
func pool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.RuntimeParams["application_name"] = "faults"
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// export returns the directory of the generated export for seed,
// generating it the first time (the generator is deterministic, so a
// directory of a previous run is reused).
func (e *env) export(t *testing.T, seed uint64) string {
	t.Helper()
	return e.exportOf(t, e.products, seed)
}

func (e *env) exportOf(t *testing.T, products int, seed uint64) string {
	t.Helper()
	return e.revisionOf(t, products, seed, 0)
}

// revisionOf returns revision rev of the export (the generator's
// `--revision`: the same catalogue rev days later), generated the first time.
func (e *env) revisionOf(t *testing.T, products int, seed uint64, rev int) string {
	t.Helper()
	name := fmt.Sprintf("p%d-s%d", products, seed)
	if rev > 0 {
		name += fmt.Sprintf("-r%d", rev)
	}
	dir := filepath.Join(e.dir, "exports", name)
	complete := true
	for _, f := range csvFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			complete = false
		}
	}
	if complete {
		return dir
	}
	r := e.etl(t, time.Minute, "generate", "--products", strconv.Itoa(products), "--seed", strconv.FormatUint(seed, 10),
		"--revision", strconv.Itoa(rev), dir)
	if r.code != 0 {
		t.Fatalf("generate: exit %d: %s", r.code, r.stderr)
	}
	return dir
}

var csvFiles = []string{"product.csv", "features.csv", "styles.csv", "skus.csv", "photos.csv", "related.csv"}

// proc is one started program.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	exited  time.Time
	code    int // -1 when a signal ended it
	stdout  *syncBuffer
	stderr  *syncBuffer
}

// syncBuffer is a bytes.Buffer that a test may read while the program
// writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// spawn starts bin. Its output goes to out and errOut (buffers are
// created when nil). The process is killed (by its pid) when the test ends,
// if it still runs then.
func (e *env) spawn(t *testing.T, name string, out, errOut io.Writer, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{}), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = out, errOut
	if out == nil {
		p.cmd.Stdout = p.stdout
	}
	if errOut == nil {
		p.cmd.Stderr = p.stderr
	}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.exited = time.Now()
		p.code = p.cmd.ProcessState.ExitCode()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			p.code = -2
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits at most d for the program to end and returns its exit code;
// ok is false when it still runs.
func (p *proc) wait(d time.Duration) (code int, ok bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return p.code, true
	case <-t.C:
		return 0, false
	}
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && p.running() {
		t.Fatalf("signalling %s (pid %d): %v", p.name, p.cmd.Process.Pid, err)
	}
}

// etlResult is what one elier-etl run said.
type etlResult struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// message is the run's last line on stderr: its error, for a failed run.
func (r etlResult) message() string {
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	return lines[len(lines)-1]
}

// etl runs elier-etl to the end (at most timeout).
func (e *env) etl(t *testing.T, timeout time.Duration, args ...string) etlResult {
	t.Helper()
	p := e.spawn(t, "elier-etl", nil, nil, e.etlBin, args...)
	code, ok := p.wait(timeout)
	if !ok {
		p.signal(t, syscall.SIGKILL)
		<-p.done
		t.Fatalf("elier-etl %s: still running after %v", strings.Join(args, " "), timeout)
	}
	return etlResult{code: code, stdout: p.stdout.String(), stderr: p.stderr.String(), took: p.exited.Sub(p.started)}
}

// loadArgs are the arguments of `elier-etl load` of dir into db.
func (e *env) loadArgs(t *testing.T, db, dir string, extra ...string) []string {
	rejects := t.TempDir()
	args := []string{"load", "--database-url", asRole(t, db, "elier_owner"), "--reject-dir", rejects, "--progress", "none"}
	return append(append(args, extra...), dir)
}

// load runs `elier-etl load` and fails the test unless it succeeds.
func (e *env) mustLoad(t *testing.T, db, dir string, extra ...string) etlResult {
	t.Helper()
	r := e.etl(t, 5*time.Minute, e.loadArgs(t, db, dir, extra...)...)
	if r.code != 0 {
		t.Fatalf("elier-etl load %s: exit %d\n%s", dir, r.code, r.stderr)
	}
	return r
}

// apiProc is a running elier-api.
type apiProc struct {
	*proc
	name string
	base string
	log  string
}

// startAPI starts elier-api on a free loopback port and waits until it
// answers /healthz (and /readyz when ready is set).
func (e *env) startAPI(t *testing.T, name, db string, ready bool, extra ...string) *apiProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(e.logs, name+"-api.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	args := append([]string{"--addr", addr, "--database-url", asRole(t, db, "elier_api")}, extra...)
	a := &apiProc{proc: e.spawn(t, name+"-api", f, f, e.apiBin, args...), name: name, base: "http://" + addr, log: logPath}
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	for {
		resp, err := c.Get(a.base + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return a
			}
		}
		if !a.running() || time.Now().After(deadline) {
			t.Fatalf("elier-api did not answer %s (last error %v); log %s", path, err, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rss is the program's resident set size in bytes, from /proc.
func (p *proc) rss(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// metric reads one unlabelled sample of the API's /metrics.
func (a *apiProc) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(a.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// slowerThan counts the requests the API itself took longer than le
// seconds (a bucket bound of elier_http_request_duration_seconds) to answer.
func (a *apiProc) slowerThan(t *testing.T, le string) float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(a.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, v, _ := strings.Cut(line, " ")
		f, _ := strconv.ParseFloat(v, 64)
		switch {
		case strings.HasPrefix(name, "elier_http_request_duration_seconds_count{"):
			n += f
		case strings.HasPrefix(name, "elier_http_request_duration_seconds_bucket{") && strings.HasSuffix(name, `,le="`+le+`"}`):
			n -= f
		}
	}
	return n
}

// stop sends SIGTERM and waits for a clean exit.
func (a *apiProc) stop(t *testing.T) {
	t.Helper()
	a.signal(t, syscall.SIGTERM)
	code, ok := a.wait(20 * time.Second)
	if !ok {
		t.Errorf("elier-api did not exit within 20 s of SIGTERM")
		return
	}
	if code != 0 {
		t.Errorf("elier-api exited %d after SIGTERM; log %s", code, a.log)
	}
}

// liveBuild is the live build's id.
func liveBuild(t *testing.T, p *pgxpool.Pool) int64 {
	t.Helper()
	var id int64
	if err := p.QueryRow(context.Background(), "SELECT id FROM elier.builds WHERE state = 'live'").Scan(&id); err != nil {
		t.Fatalf("reading the live build: %v", err)
	}
	return id
}

// debris lists what a clean database must not hold: build schemas that
// hold no live or previous build's documents (an incremental build's
// documents are in its base's schema: its own one was staging), builds
// still marked building, and list orders of other builds.
func debris(t *testing.T, p *pgxpool.Pool) (schemas []string, building int) {
	t.Helper()
	ctx := context.Background()
	rows, err := p.Query(ctx, `SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'elier\_b%'
		AND nspname NOT IN (SELECT coalesce(docs_schema, schema_name) FROM elier.builds WHERE state IN ('live', 'previous'))
		UNION ALL SELECT DISTINCT 'list_ids of build ' || build_id FROM elier.list_ids
		WHERE build_id NOT IN (SELECT id FROM elier.builds WHERE state IN ('live', 'previous')) ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	schemas, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if err := p.QueryRow(ctx, "SELECT count(*) FROM elier.builds WHERE state = 'building'").Scan(&building); err != nil {
		t.Fatal(err)
	}
	return schemas, building
}

// schemaCount counts the build schemas (elier_b<id>).
func schemaCount(t *testing.T, p *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := p.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'elier\_b%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
