// Command elier-api serves the live catalogue build over HTTP. See
// `elier-api -h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/elier/catalogue/pkg/api"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := api.ParseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "elier-api:", err)
		return 2
	}
	cfg.Logger = api.NewLogger(os.Stderr)
	// The cache is long-lived heap; with the default GOGC the heap may grow
	// to twice the live data. A soft limit keeps the process near its budget
	// (the cache plus what serving needs) unless GOMEMLIMIT says otherwise.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.CacheMB)<<20 + 160<<20)
	}
	if err := api.Run(ctx, cfg); err != nil {
		cfg.Logger.Error("elier-api stopped", "err", err)
		return 1
	}
	return 0
}
