package build

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/pkg/loader"
	"github.com/elier/catalogue/sql"
)

// The builds catalogue (sql/catalog.sql, sql/builds.sql): one load at a
// time under an advisory lock, the swap, rollback, status and the clean-up
// of what no kept build reads.

// Source is one input file's identity, recorded with each build.
type Source struct {
	Bytes int64  `json:"bytes"`
	XXH64 string `json:"xxh64"`
}

// baseBuild is the live build when a load begins, and the previous one.
type baseBuild struct {
	id         int64
	docsSchema string
	format     int
	previous   *baseBuild
}

func installCatalog(ctx context.Context, conn *pgxpool.Conn) error {
	if _, err := conn.Exec(ctx, sql.Must("catalog.sql")); err != nil {
		return fmt.Errorf("installing the catalog schema: %w", err)
	}
	return nil
}

// liveBase returns the live build (nil before the first) with its previous.
func liveBase(ctx context.Context, conn *pgxpool.Conn, q map[string]string) (*baseBuild, error) {
	var b baseBuild
	err := conn.QueryRow(ctx, q["live_base"]).Scan(&b.id, &b.docsSchema, &b.format)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the live build: %w", err)
	}
	var p baseBuild
	err = conn.QueryRow(ctx, q["previous_of"]).Scan(&p.id, &p.docsSchema, &p.format)
	switch {
	case err == nil:
		b.previous = &p
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("reading the previous build: %w", err)
	}
	return &b, nil
}

// Rollback makes the previous build live again; the build it replaces
// becomes the previous one, so a rollback can itself be undone. Both builds'
// documents are kept whole (their own docs tables, or their versions in a
// shared lineage), so a rollback writes nothing but the catalogue.
func Rollback(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	q := sql.Named("builds.sql")
	lock, err := acquireLock(ctx, pool, q)
	if err != nil {
		return 0, err
	}
	defer lock.release()
	if err := installCatalog(ctx, lock.conn); err != nil {
		return 0, err
	}
	var id int64
	var schema string
	var format int
	err = lock.conn.QueryRow(ctx, q["previous_of"]).Scan(&id, &schema, &format)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNoPrevious
	}
	if err != nil {
		return 0, fmt.Errorf("finding the previous build: %w", err)
	}
	if !servable(format) {
		return 0, fmt.Errorf("build %d was made by an earlier release (storage format %d, this one serves %d): %w",
			id, format, Format, ErrNoPrevious)
	}
	if err := swap(ctx, lock.conn, id, schema, nil); err != nil {
		return 0, err
	}
	// The rollback is committed: a wait for the standbys cut short (the
	// command stopped, the leader lost) changes nothing about it, and they
	// apply it regardless.
	_ = awaitStandbys(ctx, lock.conn, q, id)
	return id, nil
}

// awaitStandbys returns once the synchronous standbys, if the server names
// any, have applied what was committed before it (the swap that made build
// id live), so that a load or rollback that returns has its catalogue served
// by them (await_standbys in sql/builds.sql).
func awaitStandbys(ctx context.Context, conn *pgxpool.Conn, q map[string]string, id int64) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, q["await_standbys"], id)
		return err
	})
	if err != nil {
		return fmt.Errorf("waiting for the synchronous standbys to apply the swap: %w", err)
	}
	return nil
}

// prewarm reads the build's documents and their index into shared_buffers
// (sql/prewarm.sql). Best effort: a build is served cold rather than not at
// all, so a failure is logged, not returned.
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

// txExec is what a swap's apply step may run statements on.
type txExec interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// swap points elier.docs at build id (documents in docsSchema) in one
// transaction, after apply (when set) has written the build's rows in that
// same transaction. Only the view's replacement waits for readers; it is
// retried from a savepoint, so apply's work is done once.
func swap(ctx context.Context, conn *pgxpool.Conn, id int64, docsSchema string, apply func(context.Context, txExec) error) error {
	stmt := sql.Expand(sql.Must("swap.sql"), "docs_schema", ident(docsSchema), "build_id", fmt.Sprint(id))
	view := sql.Expand(sql.Must("swap_view.sql"), "docs_schema", ident(docsSchema))
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if apply != nil {
			if err := apply(ctx, tx); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+swapLockTimeout+"'"); err != nil {
			return err
		}
		for attempt := 1; ; attempt++ {
			err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error { // a savepoint
				if _, err := sp.Exec(ctx, view); err != nil {
					return err
				}
				_, err := sp.Exec(ctx, stmt)
				return err
			})
			var pe *pgconn.PgError
			if err == nil || !errors.As(err, &pe) || pe.Code != "55P03" { // lock_not_available
				return err
			}
			if attempt == swapAttempts {
				return fmt.Errorf("%d tries, a reader holds elier.docs: %w", attempt, err)
			}
			t := time.NewTimer(swapRetryPause)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	})
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

// dropDebris drops every build schema that no kept build reads: staging of
// killed runs and of finished incremental builds, failed and retired
// builds, and list rows of builds that are not kept. The caller holds the
// lock, so no build is in progress.
func dropDebris(ctx context.Context, conn *pgxpool.Conn, q map[string]string, log *slog.Logger) error {
	if _, err := conn.Exec(ctx, q["mark_stale_failed"]); err != nil {
		return fmt.Errorf("marking stale builds: %w", err)
	}
	if err := unwriteFailed(ctx, conn, q, log); err != nil {
		return err
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
	if _, err := conn.Exec(ctx, q["debris_lists"]); err != nil {
		return fmt.Errorf("dropping old list orders: %w", err)
	}
	if _, err := conn.Exec(ctx, sql.Named("dicts.sql")["debris_dicts"]); err != nil {
		return fmt.Errorf("dropping old dictionaries: %w", err)
	}
	return nil
}

// unwriteFailed deletes the versions that failed incremental builds wrote
// into their lineage (a failed run does it itself; a killed one leaves it
// to the next run, which does it here before it writes any).
func unwriteFailed(ctx context.Context, conn *pgxpool.Conn, q map[string]string, log *slog.Logger) error {
	rows, err := conn.Query(ctx, q["lineage_debris"])
	if err != nil {
		return fmt.Errorf("listing failed builds' versions: %w", err)
	}
	type failed struct {
		ID     int64
		Schema string
	}
	builds, err := pgx.CollectRows(rows, pgx.RowToStructByPos[failed])
	if err != nil {
		return fmt.Errorf("listing failed builds' versions: %w", err)
	}
	for _, b := range builds {
		log.Info("deleting a failed build's versions", "failed_build", b.ID, "docs_schema", b.Schema)
		if err := unwrite(ctx, conn, b.Schema, b.ID); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, q["lineage_debris_gone"], b.ID); err != nil {
			return fmt.Errorf("recording build %d's versions deleted: %w", b.ID, err)
		}
	}
	return nil
}

// collectVersions deletes the versions in docsSchema's lineage that no kept
// build can see any more.
func collectVersions(ctx context.Context, conn *pgxpool.Conn, q map[string]string, docsSchema string) error {
	var oldest *int64
	if err := conn.QueryRow(ctx, q["oldest_kept"], docsSchema).Scan(&oldest); err != nil {
		return err
	}
	if oldest == nil {
		return nil
	}
	inc := sql.Named("incremental.sql")
	for _, name := range []string{"gc_skus", "gc", "gc_ends"} {
		if _, err := conn.Exec(ctx, sql.Expand(inc[name], "docs_schema", ident(docsSchema)), *oldest); err != nil {
			return err
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

// sourcesUnchanged compares the six files' sizes and checksums with the
// live build's (a build recorded before the checksum was xxHash64 has
// none: its export counts as changed, once).
func sourcesUnchanged(ctx context.Context, conn *pgxpool.Conn, q map[string]string, dir string) (bool, error) {
	var live map[string]Source
	err := conn.QueryRow(ctx, q["live_sources"]).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the live build's sources: %w", err)
	}
	// Sizes first: a changed export almost always changes a file's size,
	// and then no file needs reading (the scheduled run's common case).
	for _, t := range loader.Tables {
		want, ok := live[t.File()]
		if !ok {
			return false, nil
		}
		fi, err := os.Stat(filepath.Join(dir, t.File()))
		if err != nil {
			return false, fmt.Errorf("checksumming %s: %w", t.File(), err)
		}
		if fi.Size() != want.Bytes {
			return false, nil
		}
	}
	for _, t := range loader.Tables {
		want := live[t.File()]
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
	n, sum, err := loader.FileChecksum(path)
	return Source{Bytes: n, XXH64: sum}, err
}

// ident quotes a schema name we generated (elier_b<digits>).
func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// BuildInfo describes a live or previous build, for `elier-etl status`.
type BuildInfo struct {
	ID         int64             `json:"id"`
	State      string            `json:"state"`
	Kind       string            `json:"kind"`
	Schema     string            `json:"docs_schema"`
	BaseID     *int64            `json:"base_build_id"`
	Changed    int64             `json:"changed_products"`
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
		err := r.Scan(&b.ID, &b.State, &b.Kind, &b.Schema, &b.BaseID, &b.Changed,
			&b.StartedAt, &b.FinishedAt, &b.SwappedAt, &b.SourceDir, &b.Sources, &b.Counts)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading builds: %w", err)
	}
	return out, nil
}

// The server settings a load wants, per session where PostgreSQL allows it
// (docs/DEPLOY.md): index builds and sorts in memory.
const (
	wantMaintenanceWorkMem = "1GB"
	wantWorkMem            = "256MB"
)

// setSessionMemory raises maintenance_work_mem and work_mem for this
// session's statements and warns about server settings a session cannot
// change that are below what a load wants.
func setSessionMemory(ctx context.Context, conn *pgxpool.Conn, log *slog.Logger) {
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '"+wantMaintenanceWorkMem+"'"); err != nil {
		log.Warn("could not raise maintenance_work_mem for this session", "err", err)
	}
	var walMB, sharedMB int64
	err := conn.QueryRow(ctx, `SELECT (SELECT setting::bigint FROM pg_settings WHERE name = 'max_wal_size'),
		(SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers')`).Scan(&walMB, &sharedMB)
	if err != nil {
		return
	}
	if walMB < 4096 {
		log.Warn("max_wal_size is small for a full build: checkpoints will interrupt the COPY (docs/DEPLOY.md suggests 4GB or more)", "max_wal_size_mb", walMB)
	}
	if sharedMB < 512 {
		log.Warn("shared_buffers is small: a new build will be read from disk by the API (docs/DEPLOY.md suggests 25% of RAM)", "shared_buffers_mb", sharedMB)
	}
}
