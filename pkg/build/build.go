// Package build is the catalogue's write side: it loads an export (through
// pkg/loader) into a new build, builds the served documents, compares them
// with the live build's, and swaps the result in; it also owns the builds
// catalogue (the load lock, swap, rollback, status and clean-up).
//
// A full build writes every document into a new docs table (a lineage). An
// incremental build, chosen by itself when a live build of the current
// format exists, writes only the documents whose bytes changed, as new
// versions in the live build's lineage, inside the swap's transaction. See
// docs/ARCHITECTURE.md.
package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
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
	// ErrPoolTooSmall means the caller's pool cannot hold a load's connections.
	ErrPoolTooSmall = errors.New("the connection pool is too small for a load")
)

// Format is the documents' storage format. A live build of another format
// (an older release's) is never the base of an incremental build.
//
//	1  the first: a docs table per build, with list positions (ord)
//	2  one lineage of versions per full build, with its ends (incremental)
//	3  with h_input and each version's sku ids
//	4  documents stored coded (pkg/stored), as bytea
//	5  no list items: readers cut each from its product document
//	6  product documents packed with their lineage's dictionary (elier.dicts)
//	7  gzip written by pkg/deflate: the same bodies as 6, other coded bytes,
//	   so a live build of 6 is not the base of an incremental build (its
//	   unchanged documents would keep bytes a full build no longer writes)
const Format = 7

// servable says whether a build of the given storage format can be served
// (and so rolled back to): format 2 lacks only what loads use (h_input,
// skus), and its views are format 3's; formats 2 and 3 store the plain
// bodies as text, which the API reads as stored documents that are not
// coded, and their view's columns differ from later formats' only in type
// (sql/swap_view.sql); formats up to 4 also store list items, which the
// view leaves out (readers cut them from the product documents, the same
// bytes). The hashes are of the bodies in every format, so a first load of
// a new format over a build of the one before still says what changed.
func servable(format int) bool { return format >= 2 && format <= Format }

// Kinds of build.
const (
	KindFull        = "full"
	KindIncremental = "incremental"
)

// Options configure Rebuild.
type Options struct {
	Dir            string
	RejectDir      string
	MaxRejectRatio float64
	// MaxShrink is the largest fraction by which any table may shrink
	// against the live build; 1 allows anything.
	MaxShrink float64
	// IfChanged skips the run when the six files equal the live build's.
	IfChanged bool
	// Full forces a full build even when an incremental one is possible.
	Full bool
	// Ranges is how many product-id ranges build documents in parallel.
	Ranges int
	Log    *slog.Logger
	// OnOpen, when set, is called with the opened export before loading
	// starts (progress bars watch it).
	OnOpen func(*loader.Export)
}

// Conns is the pool size a load with ranges document ranges needs: the
// lock holder, a COPY per input file, and per range six streams, the base's
// hashes and the document COPYs.
// ConfigurePool makes every connection of a load's pool compress the
// full-page images it writes to the WAL (wal_compression = zstd, or lz4,
// or pglz, the best the server was built with), whatever the server's
// default: most of an incremental build's WAL is the first touch of index
// pages since the last checkpoint. zstd writes about a fifth less WAL than
// lz4 in an incremental load at a million products, in the same time
// (docs/BENCHMARKS.md, "WAL compression"). Best effort: a role without the
// right (see sql/roles.sql) writes as the server says.
func ConfigurePool(cfg *pgxpool.Config) {
	prev := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if prev != nil {
			if err := prev(ctx, c); err != nil {
				return err
			}
		}
		for _, v := range []string{"zstd", "lz4", "pglz"} {
			if _, err := c.Exec(ctx, "SET wal_compression = "+v); err == nil {
				break
			}
		}
		return nil
	}
}

func Conns(ranges int) int32 {
	return int32(1 + max(len(loader.Tables), connsPerRange*max(ranges, 1)))
}

// Summary reports a rebuild.
type Summary struct {
	BuildID int64  `json:"build_id"`
	Schema  string `json:"schema"`
	// Kind is KindFull or KindIncremental.
	Kind string `json:"kind"`
	// BaseID is the live build the documents were compared with (0: none).
	BaseID   int64              `json:"base_build_id"`
	Products ProductCounts      `json:"products"`
	Files    []loader.FileStats `json:"files"`
	// Documents is the product rows written: all of them in a full build,
	// the changed and added ones in an incremental build.
	Documents int64 `json:"documents"`
	// Built is the products whose documents were built in Go; an
	// incremental build skips the products whose export rows are the
	// base's (their documents are too), the others it builds and compares.
	Built int64 `json:"products_built"`
	// StoredBytes is the stored bytes of the served documents (product,
	// styles and related, pkg/stored) of the catalogue this load makes live:
	// what an API holding the whole catalogue in its cache needs for the
	// bodies (docs/DEPLOY.md, "Sizing the API's cache"). -1: unknown (an
	// incremental build over a build of an earlier format).
	StoredBytes int64 `json:"stored_bytes"`
	// Prewarmed is the pages of the new build (documents and index) read
	// into shared_buffers before the swap (0: pg_prewarm unavailable or an
	// incremental build, whose lineage is already being read).
	Prewarmed int64   `json:"prewarmed_pages"`
	Seconds   Timings `json:"seconds"`
	// PeakRSS is this process's peak resident set size, for the memory
	// budget (the loader holds no file in memory).
	PeakRSS int64 `json:"peak_rss_bytes"`
}

// ProductCounts compare the new build's products with the base's. A product
// is changed when any of its served documents changed.
type ProductCounts struct {
	Unchanged int64 `json:"unchanged"`
	Changed   int64 `json:"changed"`
	Added     int64 `json:"added"`
	Removed   int64 `json:"removed"`
}

// Timings are the phases' durations in seconds.
type Timings struct {
	Load      float64 `json:"load"`
	Documents float64 `json:"documents"`
	Prewarm   float64 `json:"prewarm"`
	Swap      float64 `json:"swap"`
	Total     float64 `json:"total"`
}

// Rebuild loads the export in opts.Dir into a new build and swaps it in. At
// every moment before the swap's commit the live build is untouched; a
// failure (or a kill) leaves a stale build that the next run drops. pool
// must hold Conns(opts.Ranges) connections.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Summary, error) {
	start := time.Now()
	r, err := begin(ctx, pool, opts)
	if err != nil {
		return nil, err
	}
	defer r.end()
	steps := []func(context.Context) error{
		r.documents, r.storedBytes, r.lists, r.checkShrink, r.prewarm, r.record, r.swap,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return r.sum, err
		}
	}
	r.cleanUp(ctx)
	r.sum.Seconds.Total = time.Since(start).Seconds()
	r.sum.PeakRSS = peakRSS()
	return r.sum, nil
}

// run is one Rebuild's state, shared by its steps.
type run struct {
	pool   *pgxpool.Pool
	opts   Options
	log    *slog.Logger
	q      map[string]string
	lock   *lockHolder
	export *loader.Export
	sum    *Summary

	id     int64
	schema string // the build's own schema (staging; a full build's docs)
	// base is the live build when this one began (nil: none). inc is true
	// when this build is incremental on it; docsSchema is where this
	// build's documents are.
	base       *baseBuild
	inc        bool
	docsSchema string
	products   *loader.IDSet // the build's products
	diff       *diff
	stored     int64 // the stored bytes of the build's served documents (-1: unknown)
	ok         bool
}

// begin takes the lock, opens the export (which checks every file and
// header before anything changes), decides the kind of build and registers
// it.
func begin(ctx context.Context, pool *pgxpool.Pool, opts Options) (*run, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Ranges < 1 {
		opts.Ranges = 2
	}
	if need := Conns(opts.Ranges); pool.Config().MaxConns < need {
		return nil, fmt.Errorf("%d connections, %d needed: %w", pool.Config().MaxConns, need, ErrPoolTooSmall)
	}
	r := &run{pool: pool, opts: opts, log: opts.Log, q: sql.Named("builds.sql")}
	var err error
	if r.lock, err = acquireLock(ctx, pool, r.q); err != nil {
		return nil, err
	}
	if err := r.prepare(ctx); err != nil {
		r.release()
		return nil, err
	}
	return r, nil
}

func (r *run) prepare(ctx context.Context) error {
	var err error
	if r.export, err = loader.Open(r.opts.Dir); err != nil {
		return err
	}
	if err := installCatalog(ctx, r.lock.conn); err != nil {
		return err
	}
	if r.opts.IfChanged {
		same, err := sourcesUnchanged(ctx, r.lock.conn, r.q, r.opts.Dir)
		if err != nil {
			return err
		}
		if same {
			return ErrUnchanged
		}
	}
	if err := dropDebris(ctx, r.lock.conn, r.q, r.log); err != nil {
		return err
	}
	setSessionMemory(ctx, r.lock.conn, r.log)
	if r.base, err = liveBase(ctx, r.lock.conn, r.q); err != nil {
		return err
	}
	if err := r.lock.conn.QueryRow(ctx, r.q["new_build"], r.opts.Dir).Scan(&r.id, &r.schema); err != nil {
		return fmt.Errorf("registering the build: %w", err)
	}
	r.inc = r.base != nil && r.base.format == Format && !r.opts.Full
	r.docsSchema = r.schema
	kind := KindFull
	if r.inc {
		r.docsSchema, kind = r.base.docsSchema, KindIncremental
		if _, err := r.lock.conn.Exec(ctx, r.q["writes_into"], r.id, r.docsSchema); err != nil {
			return fmt.Errorf("registering the build: %w", err)
		}
	}
	r.sum = &Summary{BuildID: r.id, Schema: r.schema, Kind: kind}
	if r.base != nil && servable(r.base.format) {
		r.sum.BaseID = r.base.id
	}
	r.log = r.log.With("build_id", r.id, "kind", kind)
	return nil
}

// end cleans up after a failed run (even when ctx was cancelled: the next
// run would too, but an operator expects no debris from a failed run) and
// releases the lock and the export.
func (r *run) end() {
	if !r.ok {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := r.lock.conn.Exec(cctx, sql.Expand(r.q["drop_schema"], "schema", ident(r.schema))); err != nil {
			r.log.Warn("dropping the failed build", "err", err)
		}
		if _, err := r.lock.conn.Exec(cctx, r.q["fail_build"], r.id); err != nil {
			r.log.Warn("marking the build failed", "err", err)
		}
		if err := unwriteFailed(cctx, r.lock.conn, r.q, r.log); err != nil {
			r.log.Warn("deleting the failed build's versions", "err", err)
		}
		if _, err := r.lock.conn.Exec(cctx, r.q["debris_lists"]); err != nil {
			r.log.Warn("dropping the failed build's list", "err", err)
		}
	}
	r.release()
}

func (r *run) release() {
	if r.export != nil {
		r.export.Close()
	}
	r.lock.release()
}

// documents reads the export and builds every product's documents,
// comparing them with the base's: a full build writes them all into its own
// docs table, an incremental one only those that changed, into a table
// applied at the swap. The direct path (direct.go) reads the files once,
// with no staging; an export not grouped by product is staged into
// PostgreSQL instead, which sorts it.
func (r *run) documents(ctx context.Context) error {
	job := &docJob{
		pool: r.pool, schema: r.schema, ranges: r.opts.Ranges, since: r.id, log: r.log,
		compare: r.sum.BaseID != 0, incremental: r.inc, base: r.base,
	}
	if _, err := r.lock.conn.Exec(ctx, "CREATE SCHEMA "+ident(r.schema)); err != nil {
		return fmt.Errorf("creating the build's schema: %w", err)
	}
	if err := job.create(ctx); err != nil {
		return err
	}
	var err error
	if job.pack, err = newPacker(ctx, r.pool, r.id, r.inc, r.docsSchema); err != nil {
		return err
	}
	if r.opts.OnOpen != nil {
		r.opts.OnOpen(r.export)
	}
	r.log.Info("loading and building documents", "dir", r.opts.Dir, "schema", r.schema)
	t := time.Now()
	res, d, err := r.direct(ctx, job)
	if res != nil {
		r.sum.Files = res.Files[:]
	}
	if errors.Is(err, errNotGrouped) {
		r.log.Info("the export is not grouped by product; staging it to sort", "reason", err)
		res, d, err = r.staged(ctx, job)
		if res != nil {
			r.sum.Files = res.Files[:]
		}
	}
	if err != nil {
		return err
	}
	r.sum.Seconds.Load = time.Since(t).Seconds()
	t = time.Now()
	if err := job.finish(ctx); err != nil {
		return err
	}
	r.sum.Seconds.Documents = time.Since(t).Seconds()
	r.products, r.diff = &res.Products, d
	r.sum.Documents, r.sum.Built = d.written, d.built
	r.sum.Products = d.counts()
	r.log.Info("documents built", "written", d.written, "unchanged", r.sum.Products.Unchanged,
		"changed", r.sum.Products.Changed, "added", r.sum.Products.Added, "removed", r.sum.Products.Removed)
	return nil
}

// staged is the path for an export out of order: the files COPYed into
// staging tables, the documents built from PostgreSQL's sorts, the staging
// tables dropped.
func (r *run) staged(ctx context.Context, job *docJob) (*loader.Result, *diff, error) {
	if err := job.truncate(ctx); err != nil {
		return nil, nil, err
	}
	r.export.Close()
	var err error
	if r.export, err = loader.Open(r.opts.Dir); err != nil {
		return nil, nil, err
	}
	if r.opts.OnOpen != nil {
		r.opts.OnOpen(r.export)
	}
	if _, err := r.lock.conn.Exec(ctx, loader.StagingDDL(ident(r.schema))); err != nil {
		return nil, nil, fmt.Errorf("creating staging tables: %w", err)
	}
	res, err := loader.Load(ctx, r.pool, r.export, r.schema, loader.Options{
		RejectDir: r.opts.RejectDir, MaxRejectRatio: r.opts.MaxRejectRatio, Log: r.log,
	})
	if err != nil {
		return res, nil, err
	}
	job.products, job.grouped = &res.Products, res.Grouped
	d, err := buildDocs(ctx, job)
	if err != nil {
		return res, nil, err
	}
	if _, err := r.lock.conn.Exec(ctx, loader.DropStagingSQL(ident(r.schema))); err != nil {
		return res, nil, fmt.Errorf("dropping staging tables: %w", err)
	}
	return res, d, nil
}

// lists writes the build's list order (elier.list_ids).
func (r *run) lists(ctx context.Context) error {
	return writeList(ctx, r.lock.conn, r.id, r.products)
}

// storedBytes works out the stored bytes of the build's served documents
// (product, styles, related), which the API sizes its cache by (a whole
// catalogue held in memory): those written by a full build; the base's, plus
// those written, less those of the versions ended, for an incremental one.
func (r *run) storedBytes(ctx context.Context) error {
	defer func() { r.sum.StoredBytes = r.stored }()
	r.stored = r.diff.writtenBytes
	if !r.inc {
		return nil
	}
	var base *int64
	if err := r.lock.conn.QueryRow(ctx, r.q["base_stored_bytes"], r.base.id).Scan(&base); err != nil {
		return fmt.Errorf("reading the base's stored bytes: %w", err)
	}
	if base == nil {
		r.stored = -1
		return nil
	}
	q := sql.Expand(sql.Named("incremental.sql")["ended_bytes"], "docs_schema", ident(r.docsSchema))
	var ended int64
	if err := r.lock.conn.QueryRow(ctx, q, r.diff.endedIDs, r.diff.endedSince).Scan(&ended); err != nil {
		return fmt.Errorf("reading the ended versions' stored bytes: %w", err)
	}
	r.stored = *base + r.diff.writtenBytes - ended
	return nil
}

func (r *run) counts() map[string]int64 {
	counts := map[string]int64{"documents": int64(r.products.Len())}
	if r.stored >= 0 {
		counts["stored_bytes"] = r.stored
	}
	for _, f := range r.sum.Files {
		counts[f.Table.String()] = f.Loaded
	}
	return counts
}

func (r *run) checkShrink(ctx context.Context) error {
	return checkShrink(ctx, r.lock.conn, r.q, r.counts(), r.opts.MaxShrink)
}

// prewarm reads a full build's documents into shared_buffers. An
// incremental build's lineage is the one being served, already warm.
func (r *run) prewarm(ctx context.Context) error {
	if r.inc {
		return nil
	}
	t := time.Now()
	r.sum.Prewarmed = prewarm(ctx, r.lock.conn, r.schema, r.log)
	r.sum.Seconds.Prewarm = time.Since(t).Seconds()
	return nil
}

// record writes the build's sources, counts, summary and change set into
// its catalogue row.
func (r *run) record(ctx context.Context) error {
	sources := map[string]Source{}
	for _, f := range r.sum.Files {
		sources[f.File] = Source{Bytes: f.Bytes, XXH64: f.XXH64}
	}
	summary, _ := json.Marshal(r.sum)
	var base *int64
	var changed []int32
	if r.sum.BaseID != 0 {
		base, changed = &r.sum.BaseID, r.diff.changedIDs()
	}
	if _, err := r.lock.conn.Exec(ctx, r.q["finish_build"], r.id, sources, r.counts(), summary,
		r.sum.Kind, r.docsSchema, base, changed, Format); err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	return nil
}

// swap makes the build live: for an incremental build, its changes are
// applied to the lineage in the same transaction.
func (r *run) swap(ctx context.Context) error {
	t := time.Now()
	var apply func(context.Context, txExec) error
	if r.inc {
		apply = r.applyChanges
	}
	if err := swap(ctx, r.lock.conn, r.id, r.docsSchema, apply); err != nil {
		return err
	}
	r.ok = true
	r.sum.Seconds.Swap = time.Since(t).Seconds()
	r.log.Info("build live", "docs_schema", r.docsSchema, "swap_seconds", r.sum.Seconds.Swap)
	if err := awaitStandbys(ctx, r.lock.conn, r.lock.q, r.id); err != nil {
		// Live all the same: the standbys apply it regardless.
		r.log.Warn("the build is live; the synchronous standbys' confirmation did not come", "err", err)
	}
	return nil
}

// applyChanges makes an incremental build's versions current in its
// lineage, where the merge wrote them (docJob.target): first, when the
// previous build is a child of the base (after a rollback), its versions
// are retired; then the base's versions of every changed or removed
// product end at this build (rows appended to ends). The swap's view then
// shows the new versions.
func (r *run) applyChanges(ctx context.Context, tx txExec) error {
	q := sql.Named("incremental.sql")
	x := func(name string) string {
		return sql.Expand(q[name], "schema", ident(r.schema), "docs_schema", ident(r.docsSchema))
	}
	if p := r.base.previous; p != nil && p.docsSchema == r.docsSchema && p.id > r.base.id {
		for _, name := range []string{"retire_child_skus", "retire_child", "reopen"} {
			if _, err := tx.Exec(ctx, x(name), p.id); err != nil {
				return fmt.Errorf("retiring build %d's versions: %w", p.id, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, x("supersede"), r.id, r.diff.endedIDs, r.diff.endedSince); err != nil {
		return fmt.Errorf("ending replaced versions: %w", err)
	}
	return nil
}

// cleanUp drops what no kept build reads any more. A failure here leaves
// debris that the next run drops, never a broken live build.
func (r *run) cleanUp(ctx context.Context) {
	if err := dropDebris(ctx, r.lock.conn, r.q, r.log); err != nil {
		r.log.Warn("dropping old builds", "err", err)
	}
	if err := collectVersions(ctx, r.lock.conn, r.q, r.docsSchema); err != nil {
		r.log.Warn("deleting old document versions", "err", err)
	}
}

// peakRSS returns the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}
