package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/pkg/readmodel"
	"github.com/elier/catalogue/pkg/stored"
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
			switch {
			case rt.post != nil && ctx.IsOptions():
				s.cartPreflight(ctx)
			case ctx.IsOptions():
				s.preflight(ctx)
			case rt.post != nil:
				s.cartFail(ctx, errCartMethod, cartBadRequest)
			default:
				s.fail(ctx, errMethod)
			}
		}
		r.GET(rt.path, serve)
		r.HEAD(rt.path, serve)
		if rt.post != nil {
			r.POST(rt.path, func(ctx *fasthttp.RequestCtx) {
				ctx.SetUserValue(routeKey, rt.route)
				rt.post(ctx)
			})
		}
		r.ANY(rt.path, other)
	}
	return r
}

// routeSpec is one row of the route table.
type routeSpec struct {
	path  string // as in the router and in api/openapi.json
	route route
	serve fasthttp.RequestHandler // GET and HEAD
	post  fasthttp.RequestHandler // POST, on the cart only (nil: 405)
}

func (s *server) routeTable() []routeSpec {
	return []routeSpec{
		{"/products", routeList, s.serveList, nil},
		{"/products/{product_id}", routeProduct, s.docHandler(routeProduct), nil},
		{"/products/{product_id}/styles", routeStyles, s.docHandler(routeStyles), nil},
		{"/products/{product_id}/related", routeRelated, s.docHandler(routeRelated), nil},
		{"/cart", routeCart, s.serveGetCart, s.servePostCart},
		{"/healthz", routeHealthz, func(ctx *fasthttp.RequestCtx) { s.writeJSON(ctx, fasthttp.StatusOK, `{"status":"ok"}`) }, nil},
		{"/readyz", routeReadyz, s.serveReady, nil},
		{"/metrics", routeMetrics, s.serveMetrics, nil},
		{"/openapi.json", routeOpenAPI, s.serveOpenAPI, nil},
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

// resource is what a product or list response is for: its cache key, its
// ETag (the identity body's hash), the coding the client prefers, and the
// live build when the request began (a variant made from a cached body is
// cached only if that is still the live build).
type resource struct {
	key  cacheKey
	rt   route
	enc  encoding
	hash int64
	seen int64
}

// accepted is the coding the request's Accept-Encoding prefers. The
// values browsers send are answered without parsing (TestAcceptedFastPath
// checks them against negotiate).
func accepted(ctx *fasthttp.RequestCtx) encoding {
	ae := ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding)
	switch string(ae) {
	case "":
		return encIdentity
	case "gzip, deflate, br", "gzip, deflate, br, zstd", "gzip, deflate", "gzip", "br, gzip":
		return encGzip
	}
	return negotiate(ae)
}

// serveDoc answers the three per-product routes: from the cache, or with
// a lookup (batched with concurrent misses) whose answer, 404s included, is
// then cached.
func (s *server) serveDoc(ctx *fasthttp.RequestCtx, rt route, arg string) {
	id, ok := parseID(arg)
	if !ok {
		s.fail(ctx, errBadID)
		return
	}
	r := resource{key: cacheKey{res: docKey(rt, id)}, rt: rt, enc: accepted(ctx), seen: s.build.Load()}
	now := ctx.Time().UnixNano()
	if s.serveCachedDoc(ctx, &r, now) {
		return
	}
	build, hash, body, err := s.batch.lookup(docOf(rt), id)
	switch {
	case err == nil:
		r.hash = hash
		s.serveFetchedDoc(ctx, &r, build, id, fasthttp.StatusOK, 0, body)
	case errors.Is(err, readmodel.ErrNotFound):
		s.serveFetchedDoc(ctx, &r, build, id, fasthttp.StatusNotFound, now+int64(s.negativeTTL), notFoundBody(id))
	default:
		s.fail(ctx, err)
	}
}

// A product document's cache entry is the document as stored (pkg/stored),
// under its gzip key: gzip-coded, or flagged as not coded (a small body, a
// 404). The cache thus holds each document once, in the bytes the build
// wrote, and its budget counts those. A client that takes gzip (every
// browser and CDN) is sent the entry as it is; one that takes no coding
// gets it decoded per request (about 7 µs for a 2 KB styles document),
// not cached, so identity clients do not halve what the cache holds; one
// that takes br but not gzip gets a brotli copy made once and cached under
// the br key.

// serveCachedDoc answers a product document from the cache if it can.
func (s *server) serveCachedDoc(ctx *fasthttp.RequestCtx, r *resource, now int64) bool {
	variant := encIdentity // none: the stored entry serves gzip and identity
	if r.enc == encBrotli {
		variant = encBrotli
	}
	h, answered, found := s.cachedEntry(ctx, r, variant, encGzip, now)
	if found && !answered {
		s.sendStored(ctx, r, h.status, h.expires, !h.identity, h.body)
	}
	return found
}

// serveFetchedDoc caches a document just read from the database as
// serveFetched does a list page, and sends it.
func (s *server) serveFetchedDoc(ctx *fasthttp.RequestCtx, r *resource, build int64, id int32, status int, expires int64, doc []byte) {
	if build > s.build.Load() {
		s.newerRow(build, id)
	}
	r.seen = build
	coded := status == fasthttp.StatusOK && stored.Coded(doc)
	s.putIfLive(r, encGzip, status, !coded, expires, doc)
	s.sendStored(ctx, r, status, expires, coded, doc)
}

// sendStored writes a stored document (or a split entry) in the coding r's
// client takes.
func (s *server) sendStored(ctx *fasthttp.RequestCtx, r *resource, status int, expires int64, coded bool, doc []byte) {
	if coded && isSplit(doc) {
		var ok bool
		if doc, ok = splitToGzip(doc); !ok {
			s.fail(ctx, fmt.Errorf("a corrupt split entry of a %s document", r.rt))
			return
		}
	}
	if !coded || r.enc == encGzip {
		enc := encGzip
		if !coded {
			enc = encIdentity
		}
		s.write(ctx, r, status, enc, doc)
		return
	}
	plain, err := stored.Decode(nil, doc)
	if err != nil {
		s.fail(ctx, fmt.Errorf("decoding a stored %s document: %w", r.rt, err))
		return
	}
	enc := encIdentity
	if r.enc == encBrotli {
		plain, enc = s.variant(r, encBrotli, status, expires, plain)
	}
	s.write(ctx, r, status, enc, plain)
}

// serveList answers GET /products: a page of the live build's list order.
// Its key holds the build: adding or removing a product moves every later
// position.
func (s *server) serveList(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	page, count, aerr := parsePageCount(args.Peek("page"), args.Peek("count"), args.Has("page"), args.Has("count"))
	if aerr != nil {
		s.fail(ctx, aerr)
		return
	}
	seen := s.build.Load()
	r := resource{key: cacheKey{build: seen, res: listKey(page, count)}, rt: routeList, enc: accepted(ctx), seen: seen}
	now := ctx.Time().UnixNano()
	if s.servePieces(ctx, &r, page, count, now) || s.serveCached(ctx, &r, now) {
		return
	}
	dctx, cancel := context.WithTimeout(s.base, s.dbTimeout)
	build, body, err := s.reader.List(dctx, nil, page, count)
	cancel()
	if err != nil {
		s.fail(ctx, err)
		return
	}
	r.key.build, r.hash = build, pageHash(body)
	s.serveFetched(ctx, &r, build, 0, fasthttp.StatusOK, 0, body)
}

// listOrder is a build's list order, held whole once the prefill read it.
type listOrder struct {
	build int64
	ids   []int32
}

// servePieces answers a list page from memory if it can: the live build's
// list order and every item's piece in the cache (pieces.go). The page is
// put together in gzip and sent as a stored document is (sendStored): as
// it is, decoded, or as a brotli copy cached under the page's key.
func (s *server) servePieces(ctx *fasthttp.RequestCtx, r *resource, page, count int32, now int64) bool {
	o := s.order.Load()
	if o == nil || o.build != r.seen || s.cache.fc == nil {
		return false
	}
	first := (int64(page) - 1) * int64(count)
	if first >= int64(len(o.ids)) {
		r.hash = pageHash(emptyPage)
		s.write(ctx, r, fasthttp.StatusOK, encIdentity, append(ctx.Response.SwapBody(nil)[:0], emptyPage...))
		return true
	}
	last := min(first+int64(count), int64(len(o.ids)))
	b := pageBuilders.Get().(*pageBuilder)
	defer pageBuilders.Put(b)
	b.start(ctx.Response.SwapBody(nil))
	if it := s.liveItems(r.seen); it != nil && len(it.items) == len(o.ids) {
		for i := first; i < last; i++ {
			b.add(it.piece(i))
		}
		s.fromItems.Add(1)
		return s.sendPage(ctx, r, b)
	}
	for _, id := range o.ids[first:last] {
		// The product's split entry: its list item is the first piece. (A
		// product document a request put in the cache is not split: the
		// page is then read from the database.)
		h, ok := s.cache.get(b.scratch, cacheKey{res: docKey(routeProduct, id)}, encGzip, now)
		b.scratch = h.buf
		head, _, sok := splitOf(h.body)
		if !ok || !sok {
			ctx.Response.SwapBody(b.out[:0])
			return false
		}
		b.addHead(head)
	}
	return s.sendPage(ctx, r, b)
}

// sendPage sends the page b has put together.
func (s *server) sendPage(ctx *fasthttp.RequestCtx, r *resource, b *pageBuilder) bool {
	body, hash := b.finish()
	b.out = nil // the response owns it now
	r.hash = hash
	s.fromPieces.Add(1)
	s.sendStored(ctx, r, fasthttp.StatusOK, 0, true, body) // a gzip body, as a stored document is
	return true
}

var emptyPage = []byte("[]")

var pageBuilders = sync.Pool{New: func() any { return new(pageBuilder) }}

// serveCached answers from the cache if it can: the coding the client
// prefers (compressed on the first request that asks for it, then kept),
// else the identity body. The value is copied into the response's own
// pooled body buffer: a hit allocates nothing here (the router's parameter
// matching costs 2 small allocations a request).
func (s *server) serveCached(ctx *fasthttp.RequestCtx, r *resource, now int64) bool {
	enc := r.enc
	h, answered, found := s.cachedEntry(ctx, r, enc, encIdentity, now)
	if !found || answered {
		return found
	}
	body := h.body
	if enc != encIdentity {
		body, enc = s.variant(r, enc, h.status, h.expires, h.body)
	}
	s.write(ctx, r, h.status, enc, body)
	return true
}

// cachedEntry looks r up in the cache, its value copied into the
// response's own body buffer: first the entry under coding variant (unless
// that is encIdentity), which, when there is one, answers the request
// (answered: its coded body, or the body as it is when it is flagged so);
// else the entry under coding base, returned for the caller to answer
// with, r's hash set from it. found is false on a miss of both.
func (s *server) cachedEntry(ctx *fasthttp.RequestCtx, r *resource, variant, base encoding, now int64) (h hit, answered, found bool) {
	buf := ctx.Response.SwapBody(nil)
	if variant != encIdentity {
		v, ok := s.cache.get(buf, r.key, variant, now)
		if ok {
			if v.identity {
				variant = encIdentity
			}
			r.hash = v.hash
			s.write(ctx, r, v.status, variant, v.body)
			return v, true, true
		}
		buf = v.buf
	}
	h, ok := s.cache.get(buf, r.key, base, now)
	if !ok {
		ctx.Response.SwapBody(h.buf[:0])
		return h, false, false
	}
	r.hash = h.hash
	return h, false, true
}

// serveFetched caches a body just read from the database, if its build is
// the live one (as the server knows it), and writes it. A row of an older
// build (in flight across a swap or a rollback) is served but not cached; a
// row of a newer one too, and the product's entries are dropped at once, so
// that no request is answered from an older body after this one (id is the
// product, 0 for a list page).
func (s *server) serveFetched(ctx *fasthttp.RequestCtx, r *resource, build int64, id int32, status int, expires int64, body []byte) {
	if build > s.build.Load() {
		s.newerRow(build, id)
	}
	r.seen = build
	s.putIfLive(r, encIdentity, status, true, expires, body)
	enc := r.enc
	if enc != encIdentity {
		body, enc = s.variant(r, enc, status, expires, body)
	}
	s.write(ctx, r, status, enc, body)
}

// putIfLive caches body under r's key and coding enc if r.seen is still
// the live build and no newer one has been seen. It holds the read side of
// cacheMu, which a build change and a newer row hold exclusively while they
// drop entries: a put can never land after the drop it should have met.
func (s *server) putIfLive(r *resource, enc encoding, status int, identity bool, expires int64, body []byte) {
	s.cacheMu.RLock()
	defer s.cacheMu.RUnlock()
	if b := s.build.Load(); r.seen == b && s.newestRow.Load() <= b {
		s.cache.put(r.key, enc, status, identity, expires, r.hash, body)
	}
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
	if coded == nil {
		s.putIfLive(r, enc, status, true, expires, plain)
		return plain, encIdentity
	}
	s.putIfLive(r, enc, status, false, expires, coded)
	return coded, enc
}

// write writes a product or list response: status, headers, and body,
// which becomes the response's body buffer (the caller gives it up). A 200
// gets its ETag (appendETag), and is a 304 when If-None-Match matches.
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
	h.SetCanonical(hdrVary, bytesOf(s.vary))
	h.SetCanonical(hdrCacheControl, bytesOf(s.cacheControl))
	var tag [64]byte
	h.SetCanonical(hdrETag, appendETag(tag[:0], r, enc))
	if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && etagMatches(inm, appendETag(tag[:0], r, encIdentity)) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SwapBody(body[:0])
		return
	}
	if enc != encIdentity {
		h.SetCanonical(hdrContentEncoding, enc.nameBytes())
	}
	ctx.Response.SwapBody(body)
}

// appendETag appends r's ETag for coding enc: the identity body's 64-bit
// hash in hex, then -gz or -br for a coded body, quoted. The same bytes have
// the same tag in every build, so a client revalidating a product that a
// rebuild did not change gets a 304.
func appendETag(b []byte, r *resource, enc encoding) []byte {
	b = append(b, '"')
	b = appendHex64(b, uint64(r.hash))
	b = append(b, enc.etagSuffix()...)
	return append(b, '"')
}

func appendHex64(b []byte, v uint64) []byte {
	const hex = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hex[v>>uint(shift)&0xf])
	}
	return b
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
	s.setBuild(s.base, id, "readyz")
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
		cacheDrops:   s.cacheDrops.Load(),
		cacheResets:  s.cacheResets.Load(),
		dbUp:         s.dbUp.Load(),
		goroutines:   runtime.NumGoroutine(),
		heapLive:     heapLive(),
		stale:        st,
		staleKnown:   known,
		catalogue:    s.catalogue.Load(),
		prefilled:    s.prefilled.Load(),
		fromPieces:   s.fromPieces.Load(),
		fromItems:    s.fromItems.Load(),
		items:        s.items.Load(),
		packs:        [2]uint64{s.itemsPacked.Load(), s.itemsRepacked.Load()},
	})
	s.cartMetrics.write(&b, s.cart.Stats())
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
