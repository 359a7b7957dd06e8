// Command elier-api serves the live catalogue build over HTTP. See
// `elier-api -h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/elier/catalogue/pkg/api"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the program, from the command line to the exit code; tests start
// it as it is.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := api.ParseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "elier-api:", err)
		return 2
	}
	if f, ok := stderr.(*os.File); ok {
		cfg.Logger = api.NewLogger(f)
	} else {
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	// The cache lives outside the Go heap (pkg/api/cache.go), so the heap
	// is only what serving needs: buffers of open connections and requests
	// in flight, usually 15-30 MB, and the packed list items (their size
	// is added to the limit: pkg/api/listitems.go). A soft limit keeps it
	// there under overload too (RSS: the cache budget, the list items and
	// about 100 MB), unless GOMEMLIMIT says otherwise.
	if getenv("GOMEMLIMIT") == "" {
		cfg.HeapLimit = 128 << 20 // api.Run sets the runtime's limit from it
	}
	if err := api.Run(ctx, cfg); err != nil {
		cfg.Logger.Error("elier-api stopped", "err", err)
		return 1
	}
	return 0
}
