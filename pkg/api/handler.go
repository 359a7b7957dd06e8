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

	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/pkg/readmodel"
)

const (
	contentTypeJSON = "application/json"
	allowedMethods  = "GET, HEAD, OPTIONS"
)

// handle is the server's one fasthttp handler. It never keeps ctx past its
// return and never hands it to the database: database calls get a context
// of their own (see s.base).
func (s *server) handle(ctx *fasthttp.RequestCtx) {
	rt := routeUnknown
	defer s.finish(ctx, &rt)

	var arg []byte
	rt, arg = matchRoute(ctx.Path())
	if rt == routeUnknown {
		s.fail(ctx, errNoRoute)
		return
	}
	switch {
	case ctx.IsGet() || ctx.IsHead():
	case ctx.IsOptions():
		s.preflight(ctx)
		return
	default:
		s.fail(ctx, errMethod)
		return
	}
	switch rt {
	case routeList:
		s.serveList(ctx)
	case routeProduct, routeStyles, routeRelated:
		s.serveDoc(ctx, rt, arg)
	case routeHealthz:
		s.writeJSON(ctx, fasthttp.StatusOK, `{"status":"ok"}`)
	case routeReadyz:
		s.serveReady(ctx)
	case routeMetrics:
		s.serveMetrics(ctx)
	case routeOpenAPI:
		ctx.Response.Header.SetContentType(contentTypeJSON)
		s.cors.apply(ctx, false)
		ctx.Response.SetBodyRaw(s.openapi)
	}
}

// finish is deferred by handle: it turns a panic into a logged 500 (fasthttp
// itself would crash the process), counts the request, and writes the
// access log when asked to.
func (s *server) finish(ctx *fasthttp.RequestCtx, rt *route) {
	if p := recover(); p != nil {
		s.log.Error("panic serving a request",
			"method", string(ctx.Method()), "uri", string(ctx.RequestURI()),
			"panic", p, "stack", string(debug.Stack()))
		ctx.Response.Reset()
		s.writeError(ctx, errInternal)
	}
	status := ctx.Response.StatusCode()
	d := time.Since(ctx.Time())
	s.metrics.observe(*rt, status, d)
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

// matchRoute maps a (normalized) path to its route and, for the product
// routes, the raw id segment. One trailing slash is accepted everywhere.
func matchRoute(path []byte) (route, []byte) {
	if n := len(path); n > 1 && path[n-1] == '/' {
		path = path[:n-1]
	}
	switch string(path) {
	case "/products":
		return routeList, nil
	case "/healthz":
		return routeHealthz, nil
	case "/readyz":
		return routeReadyz, nil
	case "/metrics":
		return routeMetrics, nil
	case "/openapi.json":
		return routeOpenAPI, nil
	}
	const prefix = "/products/"
	if !bytes.HasPrefix(path, []byte(prefix)) {
		return routeUnknown, nil
	}
	rest := path[len(prefix):]
	i := bytes.IndexByte(rest, '/')
	if i < 0 {
		return routeProduct, rest
	}
	switch string(rest[i+1:]) {
	case "styles":
		return routeStyles, rest[:i]
	case "related":
		return routeRelated, rest[:i]
	}
	return routeUnknown, nil
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

// serveDoc answers the three per-product routes: from the cache, or with
// a primary-key lookup (batched with concurrent misses) whose answer, 404s
// included, is then cached.
func (s *server) serveDoc(ctx *fasthttp.RequestCtx, rt route, arg []byte) {
	id, ok := parseID(arg)
	if !ok {
		s.fail(ctx, errBadID)
		return
	}
	key := docKey(rt, id)
	now := ctx.Time().UnixNano()
	if e := s.cache.get(key, s.build.Load(), now); e != nil {
		s.writeEntry(ctx, e)
		return
	}

	build, body, err := s.batch.lookup(docOf(rt), id)
	var e *entry
	switch {
	case err == nil:
		e = newEntry(key, build, body, etagID(rt, int64(id), -1))
	case errors.Is(err, readmodel.ErrNotFound):
		e = &entry{key: key, build: build, status: fasthttp.StatusNotFound,
			plain: notFoundBody(id), expires: now + int64(s.negativeTTL), slot: -1}
	default:
		s.fail(ctx, err)
		return
	}
	s.store(e)
	s.writeEntry(ctx, e)
}

// serveList answers GET /products: one range lookup on ord.
func (s *server) serveList(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	page, count, aerr := parsePageCount(args.Peek("page"), args.Peek("count"), args.Has("page"), args.Has("count"))
	if aerr != nil {
		s.fail(ctx, aerr)
		return
	}
	key := listKey(page, count)
	if e := s.cache.get(key, s.build.Load(), 0); e != nil {
		s.writeEntry(ctx, e)
		return
	}

	dctx, cancel := context.WithTimeout(s.base, s.dbTimeout)
	build, body, err := s.reader.List(dctx, nil, page, count)
	cancel()
	if err != nil {
		s.fail(ctx, err)
		return
	}
	e := newEntry(key, build, body, etagID(routeList, int64(page), int64(count)))
	s.store(e)
	s.writeEntry(ctx, e)
}

// store adopts the entry's build and caches the entry if that build is
// (still) the live one.
func (s *server) store(e *entry) {
	s.adopt(e.build)
	if e.build == s.build.Load() {
		s.cache.put(e)
	}
}

// etagID is an ETag's resource part: route letter and id (or page and
// count), e.g. s-1 or l-2-5; the build is prefixed by newEntry.
func etagID(rt route, a, b int64) []byte {
	var letter byte
	switch rt {
	case routeList:
		letter = 'l'
	case routeStyles:
		letter = 's'
	case routeRelated:
		letter = 'r'
	default:
		letter = 'p'
	}
	out := append(make([]byte, 0, 24), letter, '-')
	out = strconv.AppendInt(out, a, 10)
	if b >= 0 {
		out = append(out, '-')
		out = strconv.AppendInt(out, b, 10)
	}
	return out
}

// newEntry builds a 200 entry, with its ETags: "b<build>-<resource>", and
// a suffix for each coded variant.
func newEntry(key uint64, build int64, body, resource []byte) *entry {
	e := &entry{key: key, build: build, status: fasthttp.StatusOK, plain: body, slot: -1}
	base := append(make([]byte, 0, 40), '"', 'b')
	base = strconv.AppendInt(base, build, 10)
	base = append(base, '-')
	base = append(base, resource...)
	for enc := range numEncodings {
		t := make([]byte, 0, len(base)+4)
		t = append(t, base...)
		t = append(t, enc.etagSuffix()...)
		e.etag[enc] = append(t, '"')
	}
	return e
}

// writeEntry writes a cached (or just fetched) response: the coding the
// client prefers, compressed once and kept; 304 when If-None-Match matches.
func (s *server) writeEntry(ctx *fasthttp.RequestCtx, e *entry) {
	h := &ctx.Response.Header
	ctx.SetStatusCode(e.status)
	h.SetContentType(contentTypeJSON)
	if e.status != fasthttp.StatusOK {
		s.cors.apply(ctx, false)
		ctx.Response.SetBodyRaw(e.plain)
		return
	}
	s.cors.apply(ctx, true)
	h.Set(fasthttp.HeaderVary, s.vary)
	h.Set(fasthttp.HeaderCacheControl, s.cacheControl)

	enc, body := encIdentity, e.plain
	if len(e.plain) >= minCompress {
		if enc = negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding)); enc != encIdentity {
			if body = s.coded(e, enc); body == nil {
				enc, body = encIdentity, e.plain
			}
		}
	}
	h.SetBytesV(fasthttp.HeaderETag, e.etag[enc])
	if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && etagMatches(inm, e.etag[encIdentity]) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	if enc != encIdentity {
		h.Set(fasthttp.HeaderContentEncoding, enc.name())
	}
	ctx.Response.SetBodyRaw(body)
}

// coded returns e's body coded with enc, compressing it the first time;
// nil when coding does not make it smaller.
func (s *server) coded(e *entry, enc encoding) []byte {
	v := e.enc[enc].Load()
	if v == nil {
		v = s.cache.attach(e, enc, &variant{body: compress(e.plain, enc)})
	}
	return v.body
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
	b := s.metrics.appendText(make([]byte, 0, 16<<10), gauges{
		cache:        s.cache.stats(),
		batches:      s.batch.batches.Load(),
		lookups:      s.batch.lookups.Load(),
		pool:         s.pool.Stat(),
		build:        s.build.Load(),
		buildChanges: s.buildChanges.Load(),
		dbUp:         s.dbUp.Load(),
		goroutines:   runtime.NumGoroutine(),
		heapLive:     heapLive(),
	})
	ctx.Response.Header.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.Response.SetBodyRaw(b)
}
