package api

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/elier/catalogue/internal/dburl"
)

// Config is what Run needs. Start from DefaultConfig: a zero duration there
// means "the default", but a zero CacheMB disables the cache and a zero
// MaxAge sends max-age=0.
type Config struct {
	Addr        string       // listen address, e.g. ":3000"
	Listener    net.Listener // if set, served instead of listening on Addr (tests pass port 0)
	DatabaseURL string

	CacheMB     int           // response cache bound in MiB; 0 disables it
	NegativeTTL time.Duration // how long a 404 stays cached within a build
	MaxAge      int           // Cache-Control max-age, seconds
	CORSOrigins []string      // allowed origins; "*" allows any
	AccessLog   bool

	DBTimeout    time.Duration // per request; past it the answer is 503
	DBMaxConns   int           // pool size
	DBWorkers    int           // statements answering cache misses at once (at most DBMaxConns)
	PollInterval time.Duration // how often the live build is polled (besides LISTEN)

	ShutdownTimeout    time.Duration
	ReadTimeout        time.Duration
	WriteTimeout       time.Duration
	IdleTimeout        time.Duration
	ReadBufferSize     int // also the largest request head: past it, 431
	MaxRequestBodySize int // past it, 413

	Logger *slog.Logger
}

// DefaultConfig returns the defaults the flags show.
func DefaultConfig() Config {
	return Config{
		Addr:               ":3000",
		CacheMB:            512, // a 100k-product catalogue whole; the hot part of 1M
		NegativeTTL:        10 * time.Second,
		MaxAge:             60,
		CORSOrigins:        []string{"*"},
		DBTimeout:          2 * time.Second,
		DBMaxConns:         2*runtime.NumCPU() + 2,
		DBWorkers:          runtime.NumCPU() + 1,
		PollInterval:       time.Second,
		ShutdownTimeout:    10 * time.Second,
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       10 * time.Second,
		IdleTimeout:        2 * time.Minute,
		ReadBufferSize:     8 << 10,
		MaxRequestBodySize: 64 << 10,
	}
}

// check fills zero durations and sizes with the defaults and rejects
// values that make no sense.
func (c Config) check() (Config, error) {
	d := DefaultConfig()
	if c.Addr == "" && c.Listener == nil {
		c.Addr = d.Addr
	}
	for _, p := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.NegativeTTL, d.NegativeTTL}, {&c.DBTimeout, d.DBTimeout}, {&c.PollInterval, d.PollInterval},
		{&c.ShutdownTimeout, d.ShutdownTimeout}, {&c.ReadTimeout, d.ReadTimeout},
		{&c.WriteTimeout, d.WriteTimeout}, {&c.IdleTimeout, d.IdleTimeout},
	} {
		if *p.v < 0 {
			return c, fmt.Errorf("durations must not be negative (got %v)", *p.v)
		}
		if *p.v == 0 {
			*p.v = p.def
		}
	}
	if c.DBMaxConns <= 0 {
		c.DBMaxConns = d.DBMaxConns
	}
	if c.DBWorkers <= 0 {
		c.DBWorkers = d.DBWorkers
	}
	c.DBWorkers = min(c.DBWorkers, c.DBMaxConns)
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = d.ReadBufferSize
	}
	if c.MaxRequestBodySize <= 0 {
		c.MaxRequestBodySize = d.MaxRequestBodySize
	}
	switch {
	case c.DatabaseURL == "":
		return c, errors.New("no database: set DATABASE_URL or --database-url")
	case c.CacheMB < 0:
		return c, fmt.Errorf("--cache-mb must not be negative (got %d)", c.CacheMB)
	case c.MaxAge < 0:
		return c, fmt.Errorf("--max-age must not be negative (got %d)", c.MaxAge)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// ParseFlags reads elier-api's command line; getenv supplies DATABASE_URL.
// It returns flag.ErrHelp after printing the usage for -h.
func ParseFlags(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("elier-api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: elier-api [flags]\n\nServes the live catalogue build over HTTP. Flags:\n")
		fs.PrintDefaults()
	}
	cors := strings.Join(c.CORSOrigins, ",")
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen `HOST:PORT`")
	// No default shown: it would be $DATABASE_URL, password included.
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL `URL` (default $DATABASE_URL; the password may come from PGPASSWORD or PGPASSFILE instead)")
	var urlFile string
	fs.StringVar(&urlFile, "database-url-file", "", "read the PostgreSQL URL from this `file` (wins over --database-url)")
	fs.IntVar(&c.CacheMB, "cache-mb", c.CacheMB, "response cache size in `MiB` (0 disables it; at least 32 when on)")
	fs.DurationVar(&c.NegativeTTL, "negative-ttl", c.NegativeTTL, "how long a 404 stays cached within a build")
	fs.IntVar(&c.MaxAge, "max-age", c.MaxAge, "Cache-Control max-age in `seconds`")
	fs.StringVar(&cors, "cors-origins", cors, "comma-separated allowed `origins`, or * for any")
	fs.BoolVar(&c.AccessLog, "access-log", c.AccessLog, "log every request")
	fs.DurationVar(&c.DBTimeout, "db-timeout", c.DBTimeout, "per-request database timeout (then 503)")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", c.DBMaxConns, "database pool size")
	fs.IntVar(&c.DBWorkers, "db-workers", c.DBWorkers, "cache misses are batched into at most this many concurrent statements")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "time given to in-flight requests on SIGTERM/SIGINT")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.DatabaseURL, err = dburl.Resolve(urlFile, c.DatabaseURL, getenv); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.CORSOrigins = nil
	for o := range strings.SplitSeq(cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	return c, nil
}

// NewLogger returns the program's logger on f: text for a person at a
// terminal, JSON for machines.
func NewLogger(f *os.File) *slog.Logger {
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return slog.New(slog.NewTextHandler(f, nil))
	}
	return slog.New(slog.NewJSONHandler(f, nil))
}
