package api

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
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
	// PrimaryURL is where the cart is read and written: the primary, when
	// DatabaseURL leads to standbys. Empty: DatabaseURL. Either way the
	// cart's connections go only to a server that accepts writes.
	PrimaryURL string

	CartIdle       time.Duration  // a cart untouched this long is deleted
	CartSweep      time.Duration  // how often idle carts are looked for
	CartGroupWait  time.Duration  // under load, how long an add waits for others to commit with
	CartGroupBusy  float64        // ... only while the machine's CPU is at least this busy (0: always)
	CartMaxConns   int            // the cart pool's size
	TrustedProxies []netip.Prefix // whose X-Forwarded-Proto is believed (the session cookie's Secure)

	CacheMB     int           // response cache bound in MiB; 0 disables it
	Prefill     bool          // fill the cache with the live build's documents in the background
	Mlock       bool          // keep the process's memory (code, cache) in RAM: mlockall
	NegativeTTL time.Duration // how long a 404 stays cached within a build
	MaxAge      int           // Cache-Control max-age, seconds
	// Cache-Control stale-while-revalidate and stale-if-error, seconds (0
	// leaves the directive out): how long a CDN or browser may serve a copy
	// past max-age while it revalidates, or while this API fails.
	StaleWhileRevalidate int
	StaleIfError         int
	CORSOrigins          []string // allowed origins; "*" allows any
	AccessLog            bool

	// HeapLimit, when positive, is the soft memory limit of the Go heap
	// the server needs beyond its packed list items (listitems.go): Run
	// sets the runtime's limit to it, and to it plus their size once they
	// are packed. 0 leaves the runtime's limit (GOMEMLIMIT) alone.
	HeapLimit int64

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
		Addr: ":3000",
		// The whole 1,000,011-product catalogue, stored coded, with room
		// to grow (docs/DEPLOY.md, "Sizing the API's cache"); fastcache
		// takes memory as it fills, so a smaller catalogue costs less.
		CacheMB:     1280,
		Prefill:     true,
		NegativeTTL: 10 * time.Second,
		MaxAge:      60,
		// A minute of revalidation in the background, and a day of
		// surviving an outage of the API from a CDN's copies.
		StaleWhileRevalidate: 60,
		StaleIfError:         86400,
		CORSOrigins:          []string{"*"},
		DBTimeout:            2 * time.Second,
		DBMaxConns:           2*runtime.NumCPU() + 2,
		DBWorkers:            runtime.NumCPU() + 1,
		// Standbys get no NOTIFY: a swap reaches their APIs by this poll,
		// so it bounds how long an instance serves the old build.
		PollInterval:       500 * time.Millisecond,
		ShutdownTimeout:    10 * time.Second,
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       10 * time.Second,
		IdleTimeout:        2 * time.Minute,
		ReadBufferSize:     8 << 10,
		MaxRequestBodySize: 64 << 10,
		CartIdle:           30 * 24 * time.Hour,
		CartSweep:          time.Minute,
		// Under CPU pressure an add waits up to 5 ms for others to share
		// its commit (groups of 12-14 instead of 4-5 at 2,000 adds/s beside
		// the catalogue: about half the CPU an add); on a machine whose
		// CPU is not that busy (a one-second average of 75% starts it,
		// under 65% stops it: busy.go) it never waits (docs/BENCHMARKS.md,
		// the cart).
		CartGroupWait: 5 * time.Millisecond,
		CartGroupBusy: 0.75,
		// A commit waiting for its WAL flush holds a connection but no CPU,
		// and every commit in flight when a flush starts shares it: more
		// connections than cores, for group commit.
		CartMaxConns:   8 * runtime.NumCPU(),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
}

// cacheControl is the Cache-Control of a catalogue response.
func (c Config) cacheControl() string {
	s := "public, max-age=" + strconv.Itoa(c.MaxAge)
	if c.StaleWhileRevalidate > 0 {
		s += ", stale-while-revalidate=" + strconv.Itoa(c.StaleWhileRevalidate)
	}
	if c.StaleIfError > 0 {
		s += ", stale-if-error=" + strconv.Itoa(c.StaleIfError)
	}
	return s
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
		{&c.CartIdle, d.CartIdle}, {&c.CartSweep, d.CartSweep},
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
	if c.CartMaxConns <= 0 {
		c.CartMaxConns = d.CartMaxConns
	}
	if c.CartGroupWait < 0 { // 0 is a setting here: no gathering
		return c, fmt.Errorf("--cart-group-wait must not be negative (got %v)", c.CartGroupWait)
	}
	if c.CartGroupBusy < 0 || c.CartGroupBusy > 1 {
		return c, fmt.Errorf("--cart-group-busy must be between 0 and 1 (got %v)", c.CartGroupBusy)
	}
	if c.PrimaryURL == "" {
		c.PrimaryURL = c.DatabaseURL
	}
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
	case c.StaleWhileRevalidate < 0 || c.StaleIfError < 0:
		return c, errors.New("--stale-while-revalidate and --stale-if-error must not be negative")
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
	var proxies []string
	for _, p := range c.TrustedProxies {
		proxies = append(proxies, p.String())
	}
	trusted := strings.Join(proxies, ",")
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen `HOST:PORT`")
	// No default shown: it would be $DATABASE_URL, password included.
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL `URL` (default $DATABASE_URL; the password may come from PGPASSWORD or PGPASSFILE instead)")
	var urlFile string
	fs.StringVar(&urlFile, "database-url-file", "", "read the PostgreSQL URL from this `file` (wins over --database-url)")
	fs.IntVar(&c.CacheMB, "cache-mb", c.CacheMB, "response cache size in `MiB` (0 disables it; at least 32 when on)")
	fs.BoolVar(&c.Mlock, "mlock", c.Mlock, "keep the API's memory, its code and the cache, in RAM (mlockall): a dropped or shrunk page cache then costs no request a disk read; needs CAP_IPC_LOCK or LimitMEMLOCK")
	fs.BoolVar(&c.Prefill, "prefill", c.Prefill, "fill the cache with the live catalogue in the background (at start, and after each swap, its changed products)")
	fs.DurationVar(&c.NegativeTTL, "negative-ttl", c.NegativeTTL, "how long a 404 stays cached within a build")
	fs.IntVar(&c.MaxAge, "max-age", c.MaxAge, "Cache-Control max-age in `seconds`")
	fs.IntVar(&c.StaleWhileRevalidate, "stale-while-revalidate", c.StaleWhileRevalidate, "Cache-Control stale-while-revalidate in `seconds` (0: none)")
	fs.IntVar(&c.StaleIfError, "stale-if-error", c.StaleIfError, "Cache-Control stale-if-error in `seconds` (0: none)")
	fs.StringVar(&cors, "cors-origins", cors, "comma-separated allowed `origins`, or * for any")
	fs.BoolVar(&c.AccessLog, "access-log", c.AccessLog, "log every request")
	fs.DurationVar(&c.DBTimeout, "db-timeout", c.DBTimeout, "per-request database timeout (then 503)")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", c.DBMaxConns, "database pool size")
	fs.IntVar(&c.DBWorkers, "db-workers", c.DBWorkers, "cache misses are batched into at most this many concurrent statements")
	fs.StringVar(&c.PrimaryURL, "primary-url", "", "PostgreSQL `URL` of the primary, for the cart (default $ELIER_PRIMARY_URL, else the database URL)")
	fs.DurationVar(&c.CartIdle, "cart-idle", c.CartIdle, "carts untouched this long are deleted")
	fs.DurationVar(&c.CartSweep, "cart-sweep", c.CartSweep, "how often idle carts are looked for and deleted, in bounded batches")
	fs.DurationVar(&c.CartGroupWait, "cart-group-wait", c.CartGroupWait, "under load, how long an add waits for others to share its commit (less CPU per add, more latency; 0: none)")
	fs.Float64Var(&c.CartGroupBusy, "cart-group-busy", c.CartGroupBusy, "gather adds (--cart-group-wait) only while the machine's CPU is at least this busy, 0-1 (0: whenever adds queue)")
	fs.IntVar(&c.CartMaxConns, "cart-max-conns", c.CartMaxConns, "the cart's database pool size (on the primary)")
	fs.StringVar(&trusted, "trusted-proxies", trusted, "comma-separated `CIDRs` whose X-Forwarded-Proto is believed (empty: none)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "time given to in-flight requests on SIGTERM/SIGINT")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.DatabaseURL, err = dburl.Resolve(urlFile, c.DatabaseURL, getenv); err != nil {
		return c, err
	}
	if c.PrimaryURL == "" {
		c.PrimaryURL = getenv("ELIER_PRIMARY_URL")
	}
	c.TrustedProxies = nil
	for p := range strings.SplitSeq(trusted, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := parsePrefix(p)
		if err != nil {
			return c, fmt.Errorf("--trusted-proxies: %w", err)
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx)
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

// parsePrefix reads a CIDR, or a bare address as the prefix of itself alone.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// NewLogger returns the program's logger on f: text for a person at a
// terminal, JSON for machines.
func NewLogger(f *os.File) *slog.Logger {
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return slog.New(slog.NewTextHandler(f, nil))
	}
	return slog.New(slog.NewJSONHandler(f, nil))
}
