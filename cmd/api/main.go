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
	// The cache lives outside the Go heap (pkg/api/cache.go), so the heap
	// is only what serving needs: buffers of open connections and requests
	// in flight, usually 15-30 MB. A soft limit keeps it there under
	// overload too (RSS: the cache budget plus about 100 MB), unless
	// GOMEMLIMIT says otherwise.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(128 << 20)
	}
	if err := api.Run(ctx, cfg); err != nil {
		cfg.Logger.Error("elier-api stopped", "err", err)
		return 1
	}
	return 0
}
