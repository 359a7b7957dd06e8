package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/pkg/build"
	"github.com/elier/catalogue/pkg/loader"
	"github.com/elier/catalogue/sql"
)

// attempt is one run of `load`, as recorded in elier.load_attempts.
type attempt struct {
	started time.Time
	dir     string
	buildID int64 // 0: none
	err     error // Rebuild's
}

// outcome names how the run ended, in the table's terms.
func (at attempt) outcome() string {
	switch {
	case at.err == nil:
		return "success"
	case errors.Is(at.err, build.ErrUnchanged):
		return "unchanged"
	case errors.Is(at.err, build.ErrBusy):
		return "busy"
	}
	return "failed"
}

// maxReason bounds a recorded error: a reason is for a person to read.
const maxReason = 2000

// recordAttempt writes at into the catalogue, after the rebuild and outside
// it (the rebuild's own lock and transaction are gone by then, so a failed
// run is recorded as well as a good one). password is scrubbed from the
// reason whatever produced it: pgx masks passwords in its own errors, and
// this makes sure of it for every other error too. Recording is best
// effort: a loader that cannot write the record (the database is the
// failure) says so in the log and exits with the rebuild's own status.
func (a *app) recordAttempt(ctx context.Context, pool *pgxpool.Pool, password string, at attempt) {
	// A cancelled load (SIGTERM from the scheduler) is still recorded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	reason := ""
	if at.err != nil && at.outcome() == "failed" {
		reason = at.err.Error()
		if password != "" {
			reason = strings.ReplaceAll(reason, password, "xxxxx")
		}
		if len(reason) > maxReason {
			reason = reason[:maxReason] + "…"
		}
	}
	var build *int64
	if at.buildID > 0 {
		build = &at.buildID
	}
	if err := writeAttempt(ctx, pool, at, build, exportTakenAt(at.dir), reason); err != nil {
		a.log.Warn("recording the load attempt", "outcome", at.outcome(), "err", err)
	}
}

func writeAttempt(ctx context.Context, pool *pgxpool.Pool, at attempt, build *int64, taken *time.Time, reason string) error {
	// The rebuild may have failed before it installed the catalogue (a
	// busy lock, a missing file): install it here too; it is idempotent.
	if _, err := pool.Exec(ctx, sql.Must("catalog.sql")); err != nil {
		return fmt.Errorf("installing the catalog schema: %w", err)
	}
	q := sql.Named("attempts.sql")
	if _, err := pool.Exec(ctx, q["record"], at.started, at.outcome(), build, at.dir, taken, reason); err != nil {
		return fmt.Errorf("inserting: %w", err)
	}
	if _, err := pool.Exec(ctx, q["prune"]); err != nil {
		return fmt.Errorf("pruning: %w", err)
	}
	return nil
}

// exportTakenAt returns the newest modification time of the export's six
// files (nil when none can be read): the export is written before it is
// loaded, so this is when it was taken, give or take its writing.
func exportTakenAt(dir string) *time.Time {
	var newest time.Time
	for _, t := range loader.Tables {
		fi, err := os.Stat(filepath.Join(dir, t.File()))
		if err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	if newest.IsZero() {
		return nil
	}
	return &newest
}

// lastAttempt is the latest attempt of one outcome, for status.
type lastAttempt struct {
	Outcome       string     `json:"outcome"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    time.Time  `json:"finished_at"`
	BuildID       *int64     `json:"build_id"`
	SourceDir     string     `json:"source_dir"`
	ExportTakenAt *time.Time `json:"export_taken_at"`
	Reason        string     `json:"reason"`
}

// lastAttempts reads the latest attempt of each outcome, keyed by outcome.
func lastAttempts(ctx context.Context, pool *pgxpool.Pool) (map[string]lastAttempt, error) {
	rows, err := pool.Query(ctx, sql.Named("attempts.sql")["last"])
	if err != nil {
		return nil, fmt.Errorf("reading load attempts: %w", err)
	}
	defer rows.Close()
	out := map[string]lastAttempt{}
	for rows.Next() {
		var l lastAttempt
		if err := rows.Scan(&l.Outcome, &l.StartedAt, &l.FinishedAt, &l.BuildID, &l.SourceDir, &l.ExportTakenAt, &l.Reason); err != nil {
			return nil, fmt.Errorf("reading load attempts: %w", err)
		}
		out[l.Outcome] = l
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading load attempts: %w", err)
	}
	return out, nil
}

// exportTimes returns when the exports of the given builds were taken, for
// those whose successful load is still recorded.
func exportTimes(ctx context.Context, pool *pgxpool.Pool, ids []int64) (map[int64]time.Time, error) {
	rows, err := pool.Query(ctx, sql.Named("attempts.sql")["exports"], ids)
	if err != nil {
		return nil, fmt.Errorf("reading export times: %w", err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id int64
		var t time.Time
		if err := rows.Scan(&id, &t); err != nil {
			return nil, fmt.Errorf("reading export times: %w", err)
		}
		out[id] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading export times: %w", err)
	}
	return out, nil
}
