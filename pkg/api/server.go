// Package api is elier-api: the HTTP server of the catalogue. It serves the
// live build's documents from the elier.docs view as stored (each response
// body is one row's text), keeps recent responses in a byte-bounded cache
// (compressed variants included) that is emptied when a new build goes live,
// and follows the loader's swaps through LISTEN/NOTIFY and a polling
// fallback. Run starts it.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/api"
	"github.com/elier/catalogue/pkg/cart"
	"github.com/elier/catalogue/pkg/readmodel"
)

// server is one running API: the state its handlers share.
type server struct {
	router  fasthttp.RequestHandler // s.routes()
	log     *slog.Logger
	pool    *pgxpool.Pool
	reader  *readmodel.Reader
	batch   *batcher
	cache   *cache
	metrics *metrics
	cors    cors

	cart              *cart.Store // on the primary (Config.PrimaryURL)
	cartPool          *pgxpool.Pool
	cartMetrics       cartMetrics
	cartIdle          time.Duration
	cartMissingLogged atomic.Int64 // unix ns of the last "tables missing" error log
	trustedProxies    []netip.Prefix

	// base is the context of database calls: not canceled by a shutdown
	// signal, so in-flight requests finish; each call adds dbTimeout.
	base        context.Context
	dbTimeout   time.Duration
	negativeTTL time.Duration
	accessLog   bool

	cacheControl string // "public, max-age=N, stale-while-revalidate=…"
	vary         string // Vary of cacheable responses
	openapi      []byte

	build        atomic.Int64 // the live build as last seen; 0: none yet
	buildMu      sync.Mutex   // serializes changes of build
	cacheMu      sync.RWMutex // puts (read side) against drops of entries (write side)
	newestRow    atomic.Int64 // the newest build a row came from
	buildChanges atomic.Uint64
	cacheDrops   atomic.Uint64 // product entries dropped at build changes
	cacheResets  atomic.Uint64 // build changes that emptied the cache
	dbUp         atomic.Bool
	stopping     atomic.Bool
	pollNow      chan struct{} // a poll of the live build is wanted now
	roleChecked  atomic.Bool   // the database role was looked at (once)

	lastStale atomic.Pointer[readmodel.Staleness] // for /metrics while the database is away
	catalogue atomic.Pointer[readmodel.Catalogue] // the live build's size, once read

	prefillOn     bool               // Config.Prefill
	prefillStop   context.CancelFunc // the prefill under way (under buildMu)
	prefills      sync.WaitGroup
	prefilled     atomic.Uint64             // documents put in the cache by prefills
	order         atomic.Pointer[listOrder] // the live build's list order, once read
	items         atomic.Pointer[listItems] // the live build's list items, once all are cached
	fromPieces    atomic.Uint64             // list pages put together from pieces
	fromItems     atomic.Uint64             // of which from the packed list items
	itemsPacked   atomic.Uint64             // list items packed whole (listitems.go)
	itemsRepacked atomic.Uint64             // ... and from the previous build's
	heapLimit     int64                     // Config.HeapLimit
}

// Run serves the API until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish (within cfg.ShutdownTimeout) and
// returns nil. It returns an error when it cannot start or serve, or when
// requests were still running at the shutdown deadline.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.check()
	if err != nil {
		return err
	}
	log := cfg.Logger
	if cfg.HeapLimit > 0 {
		debug.SetMemoryLimit(cfg.HeapLimit) // raised by the list items' size once packed (setItems)
	}
	if cfg.Mlock {
		if err := lockMemory(); err != nil {
			return err
		}
	}

	pcfg, err := poolConfig(cfg.DatabaseURL, cfg.DBMaxConns, cfg.DBTimeout, "elier-api")
	if err != nil {
		return fmt.Errorf("parsing the database URL: %w", err)
	}
	// The pool connects lazily: the API starts (and says it is not ready)
	// while the database is down, and recovers when it comes back.
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("creating the database pool: %w", err)
	}
	defer pool.Close()
	cartPool, err := newCartPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer cartPool.Close()

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("listening: %w", err)
		}
	}

	s := &server{
		log:          log,
		pool:         pool,
		reader:       readmodel.NewReader(pool),
		cache:        newCache(int64(cfg.CacheMB) << 20),
		metrics:      newMetrics(),
		cors:         newCORS(cfg.CORSOrigins),
		base:         context.WithoutCancel(ctx),
		dbTimeout:    cfg.DBTimeout,
		negativeTTL:  cfg.NegativeTTL,
		accessLog:    cfg.AccessLog,
		prefillOn:    cfg.Prefill,
		heapLimit:    cfg.HeapLimit,
		cacheControl: cfg.cacheControl(),
		vary:         fasthttp.HeaderAcceptEncoding,
		openapi:      []byte(openapi.JSON()),
		pollNow:      make(chan struct{}, 1),

		cart:           cart.NewStore(cartPool, cfg.CartIdle, cfg.CartGroupWait),
		cartPool:       cartPool,
		cartIdle:       cfg.CartIdle,
		trustedProxies: cfg.TrustedProxies,
	}
	s.batch = newBatcher(s.reader, s.base, cfg.DBTimeout)
	var pressure *cpuPressure
	if cfg.CartGroupWait > 0 && cfg.CartGroupBusy > 0 {
		pressure = newCPUPressure(cfg.CartGroupBusy)
		s.cart.GatherWhen(pressure.Busy)
	}
	s.router = s.routes().Handler
	if !s.cors.any {
		s.vary += ", " + fasthttp.HeaderOrigin
	}
	srv := &fasthttp.Server{
		Handler:                      s.handle,
		ErrorHandler:                 s.requestError,
		NoDefaultServerHeader:        true,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		ReadBufferSize:               cfg.ReadBufferSize,
		MaxRequestBodySize:           cfg.MaxRequestBodySize,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{log},
	}
	var unused unusedConns
	srv.ConnState = unused.track

	// Know the live build before the first request, if the database lets.
	s.poll(ctx)
	s.checkCart(ctx)

	// The watchers of the live build and the batch workers stop after the
	// HTTP server, when no request needs them any more.
	watchCtx, stopWatching := context.WithCancel(context.WithoutCancel(ctx))
	var watchers sync.WaitGroup
	watchers.Go(func() { s.pollLoop(watchCtx, cfg.PollInterval) })
	watchers.Go(func() { s.listenLoop(watchCtx) })
	watchers.Go(func() { s.sweepLoop(watchCtx, cfg.CartSweep) })
	if pressure != nil {
		watchers.Go(func() { pressure.run(watchCtx, 100*time.Millisecond) })
	}
	// Few workers make big batches: on a small machine a few statements of
	// many lookups cost the database far less than many of a few each.
	for range cfg.DBWorkers {
		watchers.Go(func() { s.batch.work(watchCtx) })
	}
	defer func() {
		stopWatching()
		watchers.Wait()
		s.stopPrefill()
	}()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "build_id", s.build.Load(),
		"cache_mb", cfg.CacheMB, "db_max_conns", cfg.DBMaxConns, "db_workers", cfg.DBWorkers)

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	s.stopping.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	stopSweep := make(chan struct{})
	go unused.sweep(stopSweep)
	err = srv.ShutdownWithContext(sctx)
	close(stopSweep)
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("stopped")
	return nil
}

// newCartPool opens (lazily) the cart's own pool on the primary: its
// writes wait for a WAL flush, which must not hold the catalogue's
// connections, and it reaches only a server that accepts writes.
func newCartPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pcfg, err := poolConfig(cfg.PrimaryURL, cfg.CartMaxConns, cfg.DBTimeout, "elier-api-cart")
	if err != nil {
		return nil, fmt.Errorf("parsing the primary's URL: %w", err)
	}
	cart.ConfigurePool(pcfg)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("creating the cart's database pool: %w", err)
	}
	return pool, nil
}

// poolConfig is the configuration of one of the API's pools: prepared
// statements, a connect timeout of one request's database budget, and an
// application_name unless the URL names one.
func poolConfig(url string, maxConns int, timeout time.Duration, app string) (*pgxpool.Config, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = int32(maxConns)
	pcfg.HealthCheckPeriod = 10 * time.Second
	pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	pcfg.ConnConfig.ConnectTimeout = timeout
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = app
	}
	return pcfg, nil
}

// checkCart says at start whether /cart can work: the API runs no DDL, so
// missing tables are an operator's task (elier-etl migrate).
func (s *server) checkCart(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, s.dbTimeout)
	defer cancel()
	switch err := s.cart.Ready(dctx); {
	case errors.Is(err, cart.ErrNotMigrated):
		s.logNotMigrated(err)
	case err != nil:
		s.log.Warn("the cart's database (the primary) is not reachable; /cart answers 503 until it is", "err", err)
	}
}

// setBuild makes id the live build, as the database said (poll or NOTIFY).
// When one of the two builds was built on the other, only the products
// whose documents differ between them leave the cache (and the list pages,
// whose keys hold their build, stop being hit); otherwise the cache is
// emptied. A rollback makes an older build live again, so this is the only
// way down.
func (s *server) setBuild(ctx context.Context, id int64, source string) {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	old := s.build.Load()
	// Going back to an older build (a rollback), or caching again after
	// rows of a newer one were seen, is only done on a fresh read of the
	// live build: a poll whose snapshot was taken just before a swap
	// committed can still say the old build after the swap's NOTIFY was
	// adopted, and taking its word would cache old bodies again.
	if id < old || (id == old && s.newestRow.Load() > id) {
		dctx, cancel := context.WithTimeout(ctx, s.dbTimeout)
		fresh, err := s.reader.LiveBuild(dctx)
		cancel()
		if err != nil {
			return // the next poll tries again
		}
		id = fresh
	}
	if old == id {
		// Rows of a newer build were seen (stragglers of a build rolled
		// away from) and stopped caching; the live build is still id, so
		// cache again. A straggler's row still never is: its build is not
		// id.
		if s.newestRow.Load() > id {
			s.cacheMu.Lock()
			s.newestRow.Store(id)
			s.cacheMu.Unlock()
		}
		return
	}
	var changed []int32
	related := false
	if old != 0 && id != 0 {
		dctx, cancel := context.WithTimeout(ctx, s.dbTimeout)
		var err error
		changed, related, err = s.reader.Changed(dctx, old, id)
		cancel()
		if err != nil {
			s.log.Warn("reading what the new build changed; emptying the cache", "err", err)
		}
	}
	// The drops come first and the new build is published last, all under
	// cacheMu: a request that reads the new build must never find an entry
	// the drop has not reached yet (it would take that old body for the
	// new build, and cache a coded copy of it under the new build's name).
	s.cacheMu.Lock()
	if related {
		for _, p := range changed {
			s.cache.dropProduct(p)
		}
		s.cacheDrops.Add(uint64(len(changed)))
		// The packed list items stay, old's: the new build's are
		// repacked from them (listitems.go).
	} else {
		s.cache.reset()
		s.cacheResets.Add(1)
		s.setItems(nil)
	}
	s.build.Store(id)
	s.newestRow.Store(id)
	s.cacheMu.Unlock()
	s.buildChanges.Add(1)
	s.log.Info("live build changed", "from", old, "to", id, "seen_by", source,
		"products_dropped", len(changed), "cache_emptied", !related)
	s.measureCatalogue(ctx, id)
	s.startPrefill(id, old, !related, changed)
}

// measureCatalogue reads the live build's size, for /metrics, and says
// whether the cache holds the whole catalogue (docs/DEPLOY.md, "Sizing the
// API's cache"): a warning when it does not, since most uniform requests
// then miss and go to the database.
func (s *server) measureCatalogue(ctx context.Context, id int64) {
	if id == 0 {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, s.dbTimeout)
	c, err := s.reader.Catalogue(dctx, id)
	cancel()
	if err != nil {
		s.log.Debug("reading the live build's size", "build_id", id, "err", err)
		return
	}
	s.catalogue.Store(&c)
	if c.StoredBytes < 0 {
		s.log.Info("catalogue", "build_id", id, "products", c.Products, "stored_bytes", "unknown (a build of an earlier format)")
		return
	}
	need, capacity := cacheNeed(c), s.cache.capacity
	attrs := []any{"build_id", id, "products", c.Products, "stored_bytes", c.StoredBytes,
		"cache_needed_bytes", need, "cache_capacity_bytes", capacity}
	if need > capacity {
		s.log.Warn("the catalogue outgrows the cache: raise --cache-mb to hold it whole", append(attrs,
			"cache_mb_needed", (need+1<<20-1)>>20)...)
		return
	}
	s.log.Info("catalogue", attrs...)
}

// newerRow is a row from a build newer than the live one as the server
// knows it: the swap committed and its NOTIFY (or the next poll) is on its
// way. Until it is adopted nothing is cached, the product's entries go at
// once (so no request gets an older body after this one), and a poll is
// asked for.
func (s *server) newerRow(build int64, id int32) {
	s.cacheMu.Lock()
	if build > s.newestRow.Load() {
		s.newestRow.Store(build)
	}
	if id != 0 {
		s.cache.dropProduct(id)
	}
	s.cacheMu.Unlock()
	s.kickPoll()
}

func (s *server) kickPoll() {
	select {
	case s.pollNow <- struct{}{}:
	default:
	}
}

// poll asks the database for the live build.
func (s *server) poll(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, s.dbTimeout)
	id, err := s.reader.LiveBuild(dctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err == nil || errors.Is(err, readmodel.ErrNoBuild) {
		s.checkRole(ctx)
	}
	switch {
	case err == nil:
		s.setDBUp(true, nil)
		s.setBuild(ctx, id, "poll")
	case errors.Is(err, readmodel.ErrNoBuild):
		s.setDBUp(true, nil)
		s.setBuild(ctx, 0, "poll")
	default:
		s.setDBUp(false, err)
	}
}

// checkRole warns, once, when the API connects as a superuser: it needs
// only elier_api's rights (sql/roles.sql), and a superuser's would let a
// bug or an injection drop the catalogue.
func (s *server) checkRole(ctx context.Context) {
	if s.roleChecked.Load() {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, s.dbTimeout)
	name, super, err := s.reader.Role(dctx)
	cancel()
	if err != nil {
		return // the next poll tries again
	}
	s.roleChecked.Store(true)
	if super {
		s.log.Warn("connected to the database as a superuser; connect as elier_api (elier-etl roles, docs/DEPLOY.md)", "role", name)
	}
}

// setDBUp logs the database's comings and goings, once each.
func (s *server) setDBUp(up bool, err error) {
	if s.dbUp.Swap(up) == up {
		return
	}
	if up {
		s.log.Info("database reachable")
	} else {
		s.log.Warn("database unreachable", "err", err)
	}
}

// pollLoop polls the live build every interval, and at once when kicked:
// the fallback for a NOTIFY lost while the listener was reconnecting.
func (s *server) pollLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.pollNow:
		}
		s.poll(ctx)
	}
}

// listenLoop keeps a LISTEN on the loader's channel, reconnecting with
// exponential backoff while the database is away.
func (s *server) listenLoop(ctx context.Context) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	onStandby := false
	for {
		err := s.reader.ListenBuilds(ctx,
			func() {
				backoff = minBackoff
				s.kickPoll() // whatever was announced while we were away
			},
			func(id int64) {
				if id > 0 {
					s.setBuild(ctx, id, "notify")
				} else {
					s.kickPoll()
				}
			})
		if ctx.Err() != nil {
			return
		}
		wait := backoff
		if errors.Is(err, readmodel.ErrStandby) {
			// Polling finds new builds; look again now and then in case
			// the server was promoted or the URL now leads to a primary.
			if !onStandby {
				s.log.Info("reading from a standby: new builds are found by polling")
				onStandby = true
			}
			wait = time.Minute
		} else {
			onStandby = false
			s.log.Debug("build listener disconnected", "err", err, "retry_in", backoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// fasthttpLogger sends fasthttp's own messages (connection errors, mostly
// a client's doing) to the debug log.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "source", "fasthttp")
}
