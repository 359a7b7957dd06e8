package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/elier/catalogue/internal/dburl"
	"github.com/elier/catalogue/pkg/build"
	"github.com/elier/catalogue/pkg/cart"
	"github.com/elier/catalogue/pkg/loader"
)

// dbFlags are where a command finds its database; see package dburl.
type dbFlags struct {
	url, file string
	flags     *pflag.FlagSet // to tell --database-url="" from no flag
}

// dbFlag adds --database-url and --database-url-file. The flag's default is
// empty on purpose: a default of $DATABASE_URL would be printed by --help,
// password included; the environment is read when the command runs.
func dbFlag(c *cobra.Command, d *dbFlags) {
	d.flags = c.Flags()
	c.Flags().StringVar(&d.url, "database-url", "", "PostgreSQL `URL` (default $DATABASE_URL; the password may come from PGPASSWORD or PGPASSFILE instead)")
	c.Flags().StringVar(&d.file, "database-url-file", "", "read the PostgreSQL URL from this `file` (wins over --database-url)")
}

// resolve returns the connection string the flags and environment name.
func (d dbFlags) resolve() (string, error) {
	getenv := os.Getenv
	if d.flags != nil && d.flags.Changed("database-url") {
		getenv = func(string) string { return "" } // an explicit empty URL is no database
	}
	url, err := dburl.Resolve(d.file, d.url, getenv)
	if err != nil {
		return "", usageError{err}
	}
	if url == "" {
		return "", usageError{errors.New("no database: set DATABASE_URL or pass --database-url or --database-url-file")}
	}
	return url, nil
}

// openPool connects with at most conns connections (a load needs
// build.Conns of its --parallel).
func openPool(ctx context.Context, d dbFlags, conns int32) (*pgxpool.Pool, error) {
	url, err := d.resolve()
	if err != nil {
		return nil, err
	}
	// pgx's parse errors mask the password themselves.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, usageError{fmt.Errorf("parsing the database URL: %w", err)}
	}
	cfg.MaxConns = conns
	cfg.MinConns = 0
	build.ConfigurePool(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// withPool runs fn with a pool from openPool, closed afterwards.
func withPool(ctx context.Context, d dbFlags, fn func(*pgxpool.Pool) error) error {
	pool, err := openPool(ctx, d, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	return fn(pool)
}

func (a *app) loadCmd() *cobra.Command {
	var (
		db          dbFlags
		opts        build.Options
		summaryJSON string
		progress    string
	)
	c := &cobra.Command{
		Use:   "load DIR",
		Short: "Load the six CSV files of DIR into a new build and swap it in",
		Long: `Load streams product.csv, features.csv, styles.csv, skus.csv, photos.csv and
related.csv from DIR into a new build, builds the served documents and swaps
the build in atomically; the previous build is kept for rollback.

When a live build exists, the load is incremental: only the documents whose
bytes changed are written (as new versions beside the live build's), added
products are added and removed ones removed, all made visible in the swap's
one transaction. --full writes every document into a new build instead.

Exit status: 0 on success (and when --if-changed finds nothing new),
75 when another load holds the lock, 2 for a bad command line, 1 otherwise.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			opts.Dir = args[0]
			opts.Log = a.log
			if opts.MaxRejectRatio < 0 || opts.MaxRejectRatio > 1 {
				return usageError{errors.New("--max-reject-ratio must be between 0 and 1")}
			}
			if opts.Ranges < 1 {
				return usageError{errors.New("--parallel must be at least 1")}
			}
			pool, err := openPool(ctx, db, build.Conns(opts.Ranges))
			if err != nil {
				return err
			}
			defer pool.Close()
			// The cart's schema goes wherever the catalogue's does; it is
			// never part of a build.
			if err := cart.Migrate(ctx, pool); err != nil {
				return err
			}

			bars := progress == "bars" || (progress == "auto" && isTerminal(a.stderr))
			var stopProgress func()
			opts.OnOpen = func(e *loader.Export) {
				if bars {
					// Info lines would tear the bars; the summary follows.
					saved := a.level.Level()
					a.level.Set(max(saved, slog.LevelWarn))
					stop := startBars(a.stderr, e)
					stopProgress = func() { stop(); a.level.Set(saved) }
				} else if progress != "none" {
					stopProgress = startProgressLog(a.log, e)
				}
			}
			started := time.Now()
			sum, err := build.Rebuild(ctx, pool, opts)
			if stopProgress != nil {
				stopProgress()
			}
			at := attempt{started: started, dir: opts.Dir, err: err}
			if sum != nil {
				at.buildID = sum.BuildID
			}
			a.recordAttempt(ctx, pool, pool.Config().ConnConfig.Password, at)
			if errors.Is(err, build.ErrUnchanged) {
				a.log.Info("nothing to do: the export equals the live build's", "dir", opts.Dir)
				return nil
			}
			if sum != nil && len(sum.Files) > 0 {
				printSummary(a.stdout, sum, err)
				if summaryJSON != "" {
					if werr := writeJSON(summaryJSON, sum); werr != nil && err == nil {
						err = werr
					}
				}
			}
			if errors.Is(err, build.ErrBusy) {
				return &exitError{code: exitBusy, err: err}
			}
			if err != nil {
				return fmt.Errorf("load failed, the live build is unchanged: %w", err)
			}
			return nil
		},
	}
	dbFlag(c, &db)
	f := c.Flags()
	f.StringVar(&opts.RejectDir, "reject-dir", "rejects", "directory for the reject files (one per input file)")
	f.Float64Var(&opts.MaxRejectRatio, "max-reject-ratio", 0.01, "fraction of a file's lines that may be rejected before the load fails")
	f.Float64Var(&opts.MaxShrink, "max-shrink", 0.5, "refuse to swap when a table shrinks by more than this fraction against the live build (1 allows anything)")
	f.BoolVar(&opts.Full, "full", false, "write every document into a new build even when an incremental build is possible")
	f.BoolVar(&opts.IfChanged, "if-changed", false, "do nothing when the files equal the live build's (size and xxHash64)")
	f.IntVar(&opts.Ranges, "parallel", runtime.NumCPU(), "product-id ranges building documents in parallel")
	f.StringVar(&summaryJSON, "summary-json", "", "also write the end-of-run summary as JSON to this file")
	f.StringVar(&progress, "progress", "auto", "progress display: auto (bars on a terminal, log lines otherwise), bars, log, none")
	return c
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}

func (a *app) statusCmd() *cobra.Command {
	var db dbFlags
	c := &cobra.Command{
		Use:   "status",
		Short: "Print the live and previous builds and the last load attempts (success, failure)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPool(cmd.Context(), db, func(pool *pgxpool.Pool) error {
				builds, err := build.Status(cmd.Context(), pool)
				if err != nil {
					return err
				}
				ids := make([]int64, len(builds))
				for i, b := range builds {
					ids[i] = b.ID
				}
				exports, err := exportTimes(cmd.Context(), pool, ids)
				if err != nil {
					return err
				}
				printStatus(a.stdout, builds, exports)
				last, err := lastAttempts(cmd.Context(), pool)
				if err != nil {
					return err
				}
				printAttempts(a.stdout, last, time.Now())
				return nil
			})
		},
	}
	dbFlag(c, &db)
	return c
}

func (a *app) rollbackCmd() *cobra.Command {
	var db dbFlags
	c := &cobra.Command{
		Use:   "rollback",
		Short: "Make the previous build live again (the current one becomes previous)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPool(cmd.Context(), db, func(pool *pgxpool.Pool) error {
				if err := cart.Migrate(cmd.Context(), pool); err != nil {
					return err
				}
				id, err := build.Rollback(cmd.Context(), pool)
				if errors.Is(err, build.ErrBusy) {
					return &exitError{code: exitBusy, err: err}
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "build %d is live again\n", id)
				return nil
			})
		},
	}
	dbFlag(c, &db)
	return c
}
