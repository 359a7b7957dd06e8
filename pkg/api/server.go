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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/api"
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

	// base is the context of database calls: not canceled by a shutdown
	// signal, so in-flight requests finish; each call adds dbTimeout.
	base        context.Context
	dbTimeout   time.Duration
	negativeTTL time.Duration
	accessLog   bool

	cacheControl string // "public, max-age=N"
	vary         string // Vary of cacheable responses
	openapi      []byte

	build        atomic.Int64 // the live build as last seen; 0: none yet
	buildMu      sync.Mutex   // serializes changes of build
	newest       int64        // the newest build ever seen live; guarded by buildMu
	buildChanges atomic.Uint64
	dbUp         atomic.Bool
	stopping     atomic.Bool
	pollNow      chan struct{} // a poll of the live build is wanted now
	roleChecked  atomic.Bool   // the database role was looked at (once)

	lastStale atomic.Pointer[readmodel.Staleness] // for /metrics while the database is away
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

	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("parsing the database URL: %w", err)
	}
	pcfg.MaxConns = int32(cfg.DBMaxConns)
	pcfg.HealthCheckPeriod = 10 * time.Second
	pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	pcfg.ConnConfig.ConnectTimeout = cfg.DBTimeout
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "elier-api"
	}
	// The pool connects lazily: the API starts (and says it is not ready)
	// while the database is down, and recovers when it comes back.
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("creating the database pool: %w", err)
	}
	defer pool.Close()

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
		cacheControl: "public, max-age=" + strconv.Itoa(cfg.MaxAge),
		vary:         fasthttp.HeaderAcceptEncoding,
		openapi:      []byte(openapi.JSON()),
		pollNow:      make(chan struct{}, 1),
	}
	s.batch = newBatcher(s.reader, s.base, cfg.DBTimeout)
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

	// Know the live build before the first request, if the database lets.
	s.poll(ctx)

	// The watchers of the live build and the batch workers stop after the
	// HTTP server, when no request needs them any more.
	watchCtx, stopWatching := context.WithCancel(context.WithoutCancel(ctx))
	var watchers sync.WaitGroup
	watchers.Go(func() { s.pollLoop(watchCtx, cfg.PollInterval) })
	watchers.Go(func() { s.listenLoop(watchCtx) })
	// Few workers make big batches: on a small machine a few statements of
	// many lookups cost the database far less than many of a few each.
	for range cfg.DBWorkers {
		watchers.Go(func() { s.batch.work(watchCtx) })
	}
	defer func() {
		stopWatching()
		watchers.Wait()
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
	if err := srv.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("stopped")
	return nil
}

// setBuild makes id the live build, as the database said (poll or NOTIFY),
// emptying the cache when it changes. A rollback makes an older build live
// again, so this is the only way down.
func (s *server) setBuild(id int64, source string) {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	s.newest = max(s.newest, id)
	if old := s.build.Load(); old != id {
		s.build.Store(id)
		s.buildChanged(old, id, source)
	}
}

// adopt takes in the build a row came from. A build newer than any seen is
// adopted at once (the loader's NOTIFY may still be on its way); a row of a
// build seen before but not live (a query that began before a swap or a
// rollback) is served but not cached, and only asks for a poll.
func (s *server) adopt(id int64) {
	if id == s.build.Load() {
		return
	}
	s.buildMu.Lock()
	cur := s.build.Load()
	if id != cur && id > s.newest {
		s.newest = id
		s.build.Store(id)
		s.buildChanged(cur, id, "row")
		cur = id
	}
	s.buildMu.Unlock()
	if id != cur {
		s.kickPoll()
	}
}

func (s *server) buildChanged(old, id int64, source string) {
	s.cache.reset()
	s.buildChanges.Add(1)
	s.log.Info("live build changed", "from", old, "to", id, "seen_by", source)
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
		s.setBuild(id, "poll")
	case errors.Is(err, readmodel.ErrNoBuild):
		s.setDBUp(true, nil)
		s.setBuild(0, "poll")
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
					s.setBuild(id, "notify")
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
