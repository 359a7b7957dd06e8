package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes. A scheduler tells "try again later" from "broken" by them.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitBusy   = 75 // EX_TEMPFAIL: another load holds the lock
)

// exitError carries a specific exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// app holds what every subcommand shares; built once in run.
type app struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	level          slog.LevelVar // raised while progress bars own the terminal
}

// run builds the command tree, executes it and turns its error into an exit
// code and one line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	a.log = newLogger(stderr, &a.level)
	root := &cobra.Command{
		Use:           "elier-etl",
		Short:         "Load the ÉLIER catalogue export into PostgreSQL and build the served documents",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var cpuProfile, execTrace string
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file (for development)")
	root.PersistentFlags().StringVar(&execTrace, "trace", "", "write an execution trace to this file (for development: go tool trace)")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	_ = root.PersistentFlags().MarkHidden("trace")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
		}
		if execTrace != "" {
			f, err := os.Create(execTrace)
			if err != nil {
				return err
			}
			return trace.Start(f)
		}
		return nil
	}
	defer pprof.StopCPUProfile()
	defer trace.Stop()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	for _, c := range a.commands() {
		root.AddCommand(c)
	}
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "elier-etl: %v\n", err)
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case isUsageError(err), strings.HasPrefix(err.Error(), "unknown command"):
		return exitUsage
	}
	return exitFailed
}

// isUsageError reports whether cobra rejected the command line.
func isUsageError(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

type usageError struct{ error }

// usageArgs marks a positional-argument check's error as a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func (u usageError) Unwrap() error { return u.error }

// newLogger writes text logs on a terminal and JSON otherwise.
// newLogger writes text logs on a terminal and JSON otherwise, at the level
// of level (ELIER_LOG_LEVEL=debug shows the phases' timings).
func newLogger(w io.Writer, level *slog.LevelVar) *slog.Logger {
	if os.Getenv("ELIER_LOG_LEVEL") == "debug" {
		level.Set(slog.LevelDebug)
	}
	opts := &slog.HandlerOptions{Level: level}
	if isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
