package api

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/pkg/readmodel"
)

const (
	contentTypeJSON = "application/json"
	allowedMethods  = "GET, HEAD, OPTIONS"
)

// routeKey is the user value under which a route handler records its
// route, for finish's metrics and access log.
const routeKey = "elier.route"

// routes is the router. Every path of the table answers GET and HEAD;
// any other method on it is an OPTIONS preflight or a 405 with Allow, and
// counted under the path's route; other paths are 404s. The router matches
// the normalized path without one trailing slash (see handle).
func (s *server) routes() *router.Router {
	r := router.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = false
	r.HandleOPTIONS = false
	r.NotFound = func(ctx *fasthttp.RequestCtx) { s.fail(ctx, errNoRoute) }
	for _, rt := range s.routeTable() {
		serve := func(ctx *fasthttp.RequestCtx) {
			ctx.SetUserValue(routeKey, rt.route)
			rt.serve(ctx)
		}
		other := func(ctx *fasthttp.RequestCtx) {
			ctx.SetUserValue(routeKey, rt.route)
			if ctx.IsOptions() {
				s.preflight(ctx)
				return
			}
			s.fail(ctx, errMethod)
		}
		r.GET(rt.path, serve)
		r.HEAD(rt.path, serve)
		r.ANY(rt.path, other)
	}
	return r
}

// routeSpec is one row of the route table.
type routeSpec struct {
	path  string // as in the router and in api/openapi.json
	route route
	serve fasthttp.RequestHandler
}

func (s *server) routeTable() []routeSpec {
	return []routeSpec{
		{"/products", routeList, s.serveList},
		{"/products/{product_id}", routeProduct, s.docHandler(routeProduct)},
		{"/products/{product_id}/styles", routeStyles, s.docHandler(routeStyles)},
		{"/products/{product_id}/related", routeRelated, s.docHandler(routeRelated)},
		{"/healthz", routeHealthz, func(ctx *fasthttp.RequestCtx) { s.writeJSON(ctx, fasthttp.StatusOK, `{"status":"ok"}`) }},
		{"/readyz", routeReadyz, s.serveReady},
		{"/metrics", routeMetrics, s.serveMetrics},
		{"/openapi.json", routeOpenAPI, s.serveOpenAPI},
	}
}

// handle is the server's one fasthttp handler: the router, inside finish's
// recover and metrics. It never keeps ctx past its return and never hands
// it to the database: database calls get a context of their own (see
// s.base).
func (s *server) handle(ctx *fasthttp.RequestCtx) {
	defer s.finish(ctx)
	// The router matches the path as sent; it is given the normalized one
	// (percent-decoded, // and dot segments resolved) without one trailing
	// slash, which is answered as if it were not there rather than
	// redirected: a storefront gains nothing from a round trip.
	u := ctx.URI()
	if p := u.Path(); len(p) > 1 && p[len(p)-1] == '/' {
		u.SetPathBytes(p[:len(p)-1])
	} else if !bytes.Equal(p, u.PathOriginal()) {
		u.SetPathBytes(p)
	}
	s.router(ctx)
}

// finish is deferred by handle: it turns a panic into a logged 500 (fasthttp
// itself would crash the process), counts the request, and writes the
// access log when asked to.
func (s *server) finish(ctx *fasthttp.RequestCtx) {
	if p := recover(); p != nil {
		s.log.Error("panic serving a request",
			"method", string(ctx.Method()), "uri", string(ctx.RequestURI()),
			"panic", p, "stack", string(debug.Stack()))
		ctx.Response.Reset()
		s.writeError(ctx, errInternal)
	}
	rt, _ := ctx.UserValue(routeKey).(route) // routeUnknown if no route matched
	status := ctx.Response.StatusCode()
	d := time.Since(ctx.Time())
	s.metrics.observe(rt, status, d)
	if s.accessLog {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("method", string(ctx.Method())),
			slog.String("uri", string(ctx.RequestURI())),
			slog.String("route", rt.String()),
			slog.Int("status", status),
			slog.Int("bytes", len(ctx.Response.Body())),
			slog.Duration("duration", d),
			slog.String("remote", ctx.RemoteIP().String()))
	}
}

// docHandler answers one of the per-product routes.
func (s *server) docHandler(rt route) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		id, _ := ctx.UserValue("product_id").(string)
		s.serveDoc(ctx, rt, id)
	}
}

func (s *server) serveOpenAPI(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType(contentTypeJSON)
	s.cors.apply(ctx, false)
	ctx.Response.SetBodyRaw(s.openapi)
}

// Cache keys: the route in the top bits, then the id, or page and count.
func docKey(rt route, id int32) uint64 { return uint64(rt)<<56 | uint64(uint32(id)) }

func listKey(page, count int32) uint64 {
	return uint64(routeList)<<56 | uint64(uint32(page))<<16 | uint64(count)
}

func docOf(rt route) readmodel.Doc {
	switch rt {
	case routeStyles:
		return readmodel.DocStyles
	case routeRelated:
		return readmodel.DocRelated
	}
	return readmodel.DocProduct
}

// resource is what a product or list response is for: its cache key (the
// build it is read from, route and id), the parts of its ETag, and the
// coding the client prefers.
type resource struct {
	key  cacheKey
	rt   route
	a, b int64 // the id, or page and count; b < 0: none
	enc  encoding
}

// accepted is the coding the request's Accept-Encoding prefers.
func accepted(ctx *fasthttp.RequestCtx) encoding {
	if ae := ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding); len(ae) > 0 {
		return negotiate(ae)
	}
	return encIdentity
}

// serveDoc answers the three per-product routes: from the cache, or with
// a primary-key lookup (batched with concurrent misses) whose answer, 404s
// included, is then cached.
func (s *server) serveDoc(ctx *fasthttp.RequestCtx, rt route, arg string) {
	id, ok := parseID(arg)
	if !ok {
		s.fail(ctx, errBadID)
		return
	}
	r := resource{key: cacheKey{build: s.build.Load(), res: docKey(rt, id)}, rt: rt, a: int64(id), b: -1, enc: accepted(ctx)}
	now := ctx.Time().UnixNano()
	if s.serveCached(ctx, &r, now) {
		return
	}
	build, body, err := s.batch.lookup(docOf(rt), id)
	r.key.build = build
	switch {
	case err == nil:
		s.serveFetched(ctx, &r, fasthttp.StatusOK, 0, body)
	case errors.Is(err, readmodel.ErrNotFound):
		s.serveFetched(ctx, &r, fasthttp.StatusNotFound, now+int64(s.negativeTTL), notFoundBody(id))
	default:
		s.fail(ctx, err)
	}
}

// serveList answers GET /products: one range lookup on ord.
func (s *server) serveList(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	page, count, aerr := parsePageCount(args.Peek("page"), args.Peek("count"), args.Has("page"), args.Has("count"))
	if aerr != nil {
		s.fail(ctx, aerr)
		return
	}
	r := resource{key: cacheKey{build: s.build.Load(), res: listKey(page, count)}, rt: routeList, a: int64(page), b: int64(count), enc: accepted(ctx)}
	if s.serveCached(ctx, &r, ctx.Time().UnixNano()) {
		return
	}
	dctx, cancel := context.WithTimeout(s.base, s.dbTimeout)
	build, body, err := s.reader.List(dctx, nil, page, count)
	cancel()
	if err != nil {
		s.fail(ctx, err)
		return
	}
	r.key.build = build
	s.serveFetched(ctx, &r, fasthttp.StatusOK, 0, body)
}

// serveCached answers from the cache if it can: the coding the client
// prefers (compressed on the first request that asks for it, then kept),
// else the identity body. The value is copied into the response's own
// pooled body buffer: a hit allocates nothing here (the router's parameter
// matching costs 2 small allocations a request).
func (s *server) serveCached(ctx *fasthttp.RequestCtx, r *resource, now int64) bool {
	buf := ctx.Response.SwapBody(nil)
	enc := r.enc
	if enc != encIdentity {
		h, ok := s.cache.get(buf, r.key, enc, now)
		if ok {
			if h.identity {
				enc = encIdentity
			}
			s.write(ctx, r, h.status, enc, h.body)
			return true
		}
		buf = h.buf
	}
	h, ok := s.cache.get(buf, r.key, encIdentity, now)
	if !ok {
		ctx.Response.SwapBody(h.buf[:0])
		return false
	}
	body := h.body
	if enc != encIdentity {
		body, enc = s.variant(r, enc, h.status, h.expires, h.body)
	}
	s.write(ctx, r, h.status, enc, body)
	return true
}

// serveFetched caches a body just read from the database, if its build is
// (still) the live one, and writes it. A row of an older build (in flight
// across a rollback) is served but not cached.
func (s *server) serveFetched(ctx *fasthttp.RequestCtx, r *resource, status int, expires int64, body []byte) {
	s.adopt(r.key.build)
	if r.key.build == s.build.Load() {
		s.cache.put(r.key, encIdentity, status, true, expires, body)
	}
	enc := r.enc
	if enc != encIdentity {
		body, enc = s.variant(r, enc, status, expires, body)
	}
	s.write(ctx, r, status, enc, body)
}

// variant codes plain with enc and caches the result under enc's key: the
// coded body, or plain itself (flagged as not coded) when it is an error,
// too small to be worth coding, or coding did not make it smaller. It
// returns the body to send and its coding.
func (s *server) variant(r *resource, enc encoding, status int, expires int64, plain []byte) ([]byte, encoding) {
	var coded []byte
	if status == fasthttp.StatusOK && len(plain) >= minCompress {
		coded = compress(plain, enc)
	}
	live := r.key.build == s.build.Load()
	if coded == nil {
		if live {
			s.cache.put(r.key, enc, status, true, expires, plain)
		}
		return plain, encIdentity
	}
	if live {
		s.cache.put(r.key, enc, status, false, expires, coded)
	}
	return coded, enc
}

// write writes a product or list response: status, headers, and body,
// which becomes the response's body buffer (the caller gives it up). A 200
// gets its ETag, "b<build>-<resource>" and a suffix per coding, and is a
// 304 when If-None-Match matches.
func (s *server) write(ctx *fasthttp.RequestCtx, r *resource, status int, enc encoding, body []byte) {
	h := &ctx.Response.Header
	ctx.SetStatusCode(status)
	h.SetContentType(contentTypeJSON)
	if status != fasthttp.StatusOK {
		s.cors.apply(ctx, false)
		ctx.Response.SwapBody(body)
		return
	}
	s.cors.apply(ctx, true)
	h.Set(fasthttp.HeaderVary, s.vary)
	h.Set(fasthttp.HeaderCacheControl, s.cacheControl)
	var tag [64]byte
	h.SetBytesV(fasthttp.HeaderETag, appendETag(tag[:0], r, enc))
	if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && etagMatches(inm, appendETag(tag[:0], r, encIdentity)) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SwapBody(body[:0])
		return
	}
	if enc != encIdentity {
		h.Set(fasthttp.HeaderContentEncoding, enc.name())
	}
	ctx.Response.SwapBody(body)
}

// appendETag appends r's ETag for coding enc: "b<build>-<route letter>-
// <id>" (or -<page>-<count>), then -gz or -br for a coded body, quoted.
func appendETag(b []byte, r *resource, enc encoding) []byte {
	var letter byte
	switch r.rt {
	case routeList:
		letter = 'l'
	case routeStyles:
		letter = 's'
	case routeRelated:
		letter = 'r'
	default:
		letter = 'p'
	}
	b = append(b, '"', 'b')
	b = strconv.AppendInt(b, r.key.build, 10)
	b = append(b, '-', letter, '-')
	b = strconv.AppendInt(b, r.a, 10)
	if r.b >= 0 {
		b = append(b, '-')
		b = strconv.AppendInt(b, r.b, 10)
	}
	b = append(b, enc.etagSuffix()...)
	return append(b, '"')
}

// preflight answers OPTIONS: a CORS preflight when it is one, else just
// the allowed methods.
func (s *server) preflight(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderAllow, allowedMethods)
	if s.cors.apply(ctx, false) {
		h.Set(fasthttp.HeaderAccessControlAllowMethods, allowedMethods)
		if rh := ctx.Request.Header.Peek(fasthttp.HeaderAccessControlRequestHeaders); len(rh) > 0 {
			h.SetBytesV(fasthttp.HeaderAccessControlAllowHeaders, rh)
		}
		h.Set(fasthttp.HeaderAccessControlMaxAge, "86400")
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (s *server) writeJSON(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType(contentTypeJSON)
	s.cors.apply(ctx, false)
	ctx.SetBodyString(body)
}

// serveReady: 200 when the database answers and a build is live.
func (s *server) serveReady(ctx *fasthttp.RequestCtx) {
	if s.stopping.Load() {
		s.fail(ctx, errShuttingDown)
		return
	}
	dctx, cancel := context.WithTimeout(s.base, s.dbTimeout)
	id, err := s.reader.LiveBuild(dctx)
	cancel()
	if err != nil {
		s.fail(ctx, err)
		return
	}
	s.setBuild(id, "readyz")
	b := append(make([]byte, 0, 48), `{"status":"ready","build_id":`...)
	b = strconv.AppendInt(b, id, 10)
	s.writeJSON(ctx, fasthttp.StatusOK, string(append(b, '}')))
}

func (s *server) serveMetrics(ctx *fasthttp.RequestCtx) {
	st, known := s.staleness()
	var b bytes.Buffer
	b.Grow(16 << 10)
	s.metrics.write(&b, gauges{
		cache:        s.cache.stats(),
		batches:      s.batch.batches.Load(),
		lookups:      s.batch.lookups.Load(),
		pool:         s.pool.Stat(),
		build:        s.build.Load(),
		buildChanges: s.buildChanges.Load(),
		dbUp:         s.dbUp.Load(),
		goroutines:   runtime.NumGoroutine(),
		heapLive:     heapLive(),
		stale:        st,
		staleKnown:   known,
	})
	ctx.Response.Header.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.Response.SetBodyRaw(b.Bytes())
}

// staleness reads the loader's record for /metrics, once per scrape (every
// 15-60 s: a statement that costs nothing beside the requests). When the
// database does not answer, the last values read are reported again: they
// are still true, and elier_db_up says the database is away.
func (s *server) staleness() (readmodel.Staleness, bool) {
	dctx, cancel := context.WithTimeout(s.base, s.dbTimeout)
	st, err := s.reader.Staleness(dctx)
	cancel()
	if err != nil {
		s.log.Debug("reading the loader's record for /metrics", "err", err)
		if last := s.lastStale.Load(); last != nil {
			return *last, true
		}
		return st, false
	}
	s.lastStale.Store(&st)
	return st, true
}
