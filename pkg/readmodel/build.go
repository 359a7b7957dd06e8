package readmodel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/pkg/loader"
	"github.com/elier/catalogue/sql"
)

var (
	// ErrBusy means another load holds the lock.
	ErrBusy = errors.New("another load is running")
	// ErrUnchanged means --if-changed found the sources equal to the live build's.
	ErrUnchanged = errors.New("the export is unchanged since the live build")
	// ErrShrink means the new build is smaller than the live one by more
	// than allowed: a truncated export must not empty the catalogue.
	ErrShrink = errors.New("the new build shrinks a table too much")
	// ErrNoPrevious means there is no build to roll back to.
	ErrNoPrevious = errors.New("no previous build to roll back to")
)

// RebuildOptions configure Rebuild.
type RebuildOptions struct {
	Dir            string
	RejectDir      string
	MaxRejectRatio float64
	// MaxShrink is the largest fraction by which any table may shrink
	// against the live build; 1 allows anything.
	MaxShrink float64
	// IfChanged skips the run when the six files equal the live build's.
	IfChanged bool
	// Ranges is how many product-id ranges build documents in parallel.
	Ranges int
	Log    *slog.Logger
	// OnOpen, when set, is called with the opened export before loading
	// starts (progress bars watch it).
	OnOpen func(*loader.Export)
}

// Summary reports a rebuild.
type Summary struct {
	BuildID   int64              `json:"build_id"`
	Schema    string             `json:"schema"`
	Files     []loader.FileStats `json:"files"`
	Documents int64              `json:"documents"`
	// Prewarmed is the pages of the new build (documents and both indexes)
	// read into shared_buffers before the swap (0: pg_prewarm unavailable,
	// the build went live cold).
	Prewarmed int64   `json:"prewarmed_pages"`
	Seconds   Timings `json:"seconds"`
	// PeakRSS is this process's peak resident set size, for the memory
	// budget (the loader holds no file in memory).
	PeakRSS int64 `json:"peak_rss_bytes"`
}

// Timings are the phases' durations in seconds.
type Timings struct {
	Load      float64 `json:"load"`
	Documents float64 `json:"documents"`
	Prewarm   float64 `json:"prewarm"`
	Swap      float64 `json:"swap"`
	Total     float64 `json:"total"`
}

// Source is one input file's identity, recorded with each build.
type Source struct {
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Rebuild loads the export in opts.Dir into a new build and swaps it in. At
// every moment before the swap's commit the live build is untouched; a
// failure (or a kill) leaves a stale build that the next run drops.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, opts RebuildOptions) (*Summary, error) {
	start := time.Now()
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Ranges < 1 {
		opts.Ranges = 2
	}
	// A load holds many connections at once: the lock, a COPY per file, and
	// per document range six streams and the COPYs. Size a pool for exactly
	// that rather than deadlock on a caller's smaller one.
	cfg := pool.Config()
	cfg.MaxConns = int32(1 + max(len(loader.Tables), connsPerRange*opts.Ranges))
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	defer pool.Close()
	q := sql.Named("builds.sql")

	lock, err := acquireLock(ctx, pool, q)
	if err != nil {
		return nil, err
	}
	defer lock.release()

	// Opening the export checks files and headers before anything changes.
	export, err := loader.Open(opts.Dir)
	if err != nil {
		return nil, err
	}
	defer export.Close()

	if _, err := lock.conn.Exec(ctx, sql.Must("catalog.sql")); err != nil {
		return nil, fmt.Errorf("installing the catalog schema: %w", err)
	}
	if opts.IfChanged {
		same, err := sourcesUnchanged(ctx, lock.conn, q, opts.Dir)
		if err != nil {
			return nil, err
		}
		if same {
			return nil, ErrUnchanged
		}
	}
	if err := dropDebris(ctx, lock.conn, q, opts.Log); err != nil {
		return nil, err
	}

	var id int64
	var schema string
	if err := lock.conn.QueryRow(ctx, q["new_build"], opts.Dir).Scan(&id, &schema); err != nil {
		return nil, fmt.Errorf("registering the build: %w", err)
	}
	sum := &Summary{BuildID: id, Schema: schema}
	log := opts.Log.With("build_id", id)
	ok := false
	defer func() {
		if ok {
			return
		}
		// Clean up even when ctx was cancelled (Ctrl-C): the next run would
		// too, but an operator expects no debris from a failed run.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := lock.conn.Exec(cctx, sql.Expand(q["drop_schema"], "schema", ident(schema))); err != nil {
			log.Warn("dropping the failed build", "err", err)
		}
		if _, err := lock.conn.Exec(cctx, q["fail_build"], id); err != nil {
			log.Warn("marking the build failed", "err", err)
		}
	}()

	if _, err := lock.conn.Exec(ctx, sql.Expand(sql.Must("stage.sql"), "schema", ident(schema))); err != nil {
		return sum, fmt.Errorf("creating staging tables: %w", err)
	}
	if opts.OnOpen != nil {
		opts.OnOpen(export)
	}
	log.Info("loading", "dir", opts.Dir, "schema", schema)
	t := time.Now()
	res, err := loader.Load(ctx, pool, export, schema, loader.Options{
		RejectDir: opts.RejectDir, MaxRejectRatio: opts.MaxRejectRatio, Log: log,
	})
	if res != nil {
		sum.Files = res.Files[:]
	}
	if err != nil {
		return sum, err
	}
	sum.Seconds.Load = time.Since(t).Seconds()

	t = time.Now()
	log.Info("building documents", "products", res.Products.Len())
	if sum.Documents, err = buildDocs(ctx, pool, schema, &res.Products, res.Grouped, opts.Ranges, log); err != nil {
		return sum, err
	}
	if _, err := lock.conn.Exec(ctx, sql.Expand(sql.Must("drop_staging.sql"), "schema", ident(schema))); err != nil {
		return sum, fmt.Errorf("dropping staging tables: %w", err)
	}
	sum.Seconds.Documents = time.Since(t).Seconds()

	counts := map[string]int64{"documents": sum.Documents}
	sources := map[string]Source{}
	for _, f := range sum.Files {
		counts[f.Table.String()] = f.Loaded
		sources[f.File] = Source{Bytes: f.Bytes, SHA256: f.SHA256}
	}
	if err := checkShrink(ctx, lock.conn, q, counts, opts.MaxShrink); err != nil {
		return sum, err
	}

	t = time.Now()
	sum.Prewarmed = prewarm(ctx, lock.conn, schema, log)
	sum.Seconds.Prewarm = time.Since(t).Seconds()

	t = time.Now()
	sum.Seconds.Total = time.Since(start).Seconds()
	summaryJSON, _ := json.Marshal(sum)
	if _, err := lock.conn.Exec(ctx, q["finish_build"], id, sources, counts, summaryJSON); err != nil {
		return sum, fmt.Errorf("recording the build: %w", err)
	}
	if err := swap(ctx, lock.conn, id, schema); err != nil {
		return sum, err
	}
	ok = true
	sum.Seconds.Swap = time.Since(t).Seconds()
	log.Info("build live", "schema", schema, "swap_seconds", sum.Seconds.Swap)
	// Older builds go after the swap; a failure here leaves debris that the
	// next run drops, never a broken live build.
	if err := dropDebris(ctx, lock.conn, q, log); err != nil {
		log.Warn("dropping old builds", "err", err)
	}
	sum.Seconds.Total = time.Since(start).Seconds()
	sum.PeakRSS = peakRSS()
	return sum, nil
}

// Rollback makes the previous build live again; the build it replaces
// becomes the previous one, so a rollback can itself be undone.
func Rollback(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	q := sql.Named("builds.sql")
	lock, err := acquireLock(ctx, pool, q)
	if err != nil {
		return 0, err
	}
	defer lock.release()
	if _, err := lock.conn.Exec(ctx, sql.Must("catalog.sql")); err != nil {
		return 0, fmt.Errorf("installing the catalog schema: %w", err)
	}
	var id int64
	var schema string
	err = lock.conn.QueryRow(ctx, q["previous_build"]).Scan(&id, &schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNoPrevious
	}
	if err != nil {
		return 0, fmt.Errorf("finding the previous build: %w", err)
	}
	return id, swap(ctx, lock.conn, id, schema)
}

// prewarm reads the build's documents and both their indexes into
// shared_buffers (sql/prewarm.sql). Best effort: a build is served cold
// rather than not at all, so a failure is logged, not returned.
func prewarm(ctx context.Context, conn *pgxpool.Conn, schema string, log *slog.Logger) (pages int64) {
	q := sql.Named("prewarm.sql")
	if _, err := conn.Exec(ctx, q["ensure"]); err != nil {
		log.Warn("prewarm: pg_prewarm unavailable; the new build starts cold", "err", err)
		return 0
	}
	if err := conn.QueryRow(ctx, sql.Expand(q["prewarm"], "schema", ident(schema))).Scan(&pages); err != nil {
		log.Warn("prewarm: the new build starts cold", "err", err)
		return 0
	}
	log.Info("prewarmed", "schema", schema, "pages", pages)
	return pages
}

// The swap's wait for the view's lock. While it waits, every new reader of
// elier.docs (each API request that misses its cache) queues behind it, so
// one wait must stay well under the API's request timeout (--db-timeout,
// 2 s by default); a reader that holds the view longer (a report, a
// pg_dump) is waited out by retrying, a second apart, for about half a
// minute in all, and the API serves normally between the tries.
const (
	swapLockTimeout = "500ms"
	swapAttempts    = 20
	swapRetryPause  = time.Second
)

// swap points elier.docs at build id in one short transaction.
func swap(ctx context.Context, conn *pgxpool.Conn, id int64, schema string) error {
	stmt := sql.Expand(sql.Must("swap.sql"), "schema", ident(schema), "build_id", fmt.Sprint(id))
	var err error
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+swapLockTimeout+"'"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, stmt)
			return err
		})
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55P03" { // lock_not_available
			break
		}
		if attempt == swapAttempts {
			err = fmt.Errorf("%d tries, a reader holds elier.docs: %w", attempt, err)
			break
		}
		t := time.NewTimer(swapRetryPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("swapping build %d in: %w", id, ctx.Err())
		case <-t.C:
		}
	}
	if err != nil {
		return fmt.Errorf("swapping build %d in: %w", id, err)
	}
	return nil
}

// lockHolder is the session that holds the load lock.
type lockHolder struct {
	conn *pgxpool.Conn
	q    map[string]string
}

func acquireLock(ctx context.Context, pool *pgxpool.Pool, q map[string]string) (*lockHolder, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, q["try_lock"]).Scan(&got); err != nil {
		conn.Release()
		return nil, fmt.Errorf("taking the load lock: %w", err)
	}
	if !got {
		conn.Release()
		return nil, ErrBusy
	}
	return &lockHolder{conn: conn, q: q}, nil
}

func (l *lockHolder) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, l.q["unlock"]); err != nil {
		// The lock dies with the session: close it rather than return a
		// connection that still holds it to the pool.
		l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}

// dropDebris drops every build schema that is neither live nor previous:
// stale builds of killed runs, failed and retired builds. The caller holds
// the lock, so no build is in progress.
func dropDebris(ctx context.Context, conn *pgxpool.Conn, q map[string]string, log *slog.Logger) error {
	if _, err := conn.Exec(ctx, q["mark_stale_failed"]); err != nil {
		return fmt.Errorf("marking stale builds: %w", err)
	}
	rows, err := conn.Query(ctx, q["debris"])
	if err != nil {
		return fmt.Errorf("listing stale builds: %w", err)
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("listing stale builds: %w", err)
	}
	for _, s := range schemas {
		log.Info("dropping old build schema", "schema", s)
		if _, err := conn.Exec(ctx, sql.Expand(q["drop_schema"], "schema", ident(s))); err != nil {
			return fmt.Errorf("dropping %s: %w", s, err)
		}
	}
	return nil
}

func checkShrink(ctx context.Context, conn *pgxpool.Conn, q map[string]string, counts map[string]int64, maxShrink float64) error {
	if maxShrink >= 1 {
		return nil
	}
	var liveID int64
	var live map[string]int64
	err := conn.QueryRow(ctx, q["live_counts"]).Scan(&liveID, &live)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the live build's counts: %w", err)
	}
	tables := []string{"documents"}
	for _, t := range loader.Tables {
		tables = append(tables, t.String())
	}
	for _, table := range tables {
		old := live[table]
		n, ok := counts[table]
		if !ok || old == 0 {
			continue
		}
		if float64(n) < float64(old)*(1-maxShrink) {
			return fmt.Errorf("%s: %d rows against %d in live build %d (more than %.0f%% fewer; rerun with --max-shrink 1 if intended): %w",
				table, n, old, liveID, 100*maxShrink, ErrShrink)
		}
	}
	return nil
}

// sourcesUnchanged compares the six files' sizes and SHA-256 sums with the
// live build's.
func sourcesUnchanged(ctx context.Context, conn *pgxpool.Conn, q map[string]string, dir string) (bool, error) {
	var live map[string]Source
	err := conn.QueryRow(ctx, q["live_sources"]).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the live build's sources: %w", err)
	}
	for _, t := range loader.Tables {
		want, ok := live[t.File()]
		if !ok {
			return false, nil
		}
		got, err := fileSource(filepath.Join(dir, t.File()))
		if err != nil {
			return false, err
		}
		if got != want {
			return false, nil
		}
	}
	return true, nil
}

func fileSource(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return Source{}, fmt.Errorf("checksumming %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Source{}, fmt.Errorf("checksumming %s: %w", path, err)
	}
	return Source{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// peakRSS returns the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}

// ident quotes a schema name we generated (elier_b<digits>).
func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// BuildInfo describes a live or previous build, for `elier-etl status`.
type BuildInfo struct {
	ID         int64             `json:"id"`
	State      string            `json:"state"`
	Schema     string            `json:"schema"`
	StartedAt  time.Time         `json:"started_at"`
	FinishedAt *time.Time        `json:"finished_at"`
	SwappedAt  *time.Time        `json:"swapped_at"`
	SourceDir  string            `json:"source_dir"`
	Sources    map[string]Source `json:"sources"`
	Counts     map[string]int64  `json:"counts"`
}

// Status returns the live build and the previous one, live first.
func Status(ctx context.Context, pool *pgxpool.Pool) ([]BuildInfo, error) {
	if _, err := pool.Exec(ctx, sql.Must("catalog.sql")); err != nil {
		return nil, fmt.Errorf("installing the catalog schema: %w", err)
	}
	rows, err := pool.Query(ctx, sql.Named("builds.sql")["status"])
	if err != nil {
		return nil, fmt.Errorf("reading builds: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BuildInfo, error) {
		var b BuildInfo
		err := r.Scan(&b.ID, &b.State, &b.Schema, &b.StartedAt, &b.FinishedAt, &b.SwappedAt, &b.SourceDir, &b.Sources, &b.Counts)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading builds: %w", err)
	}
	return out, nil
}
