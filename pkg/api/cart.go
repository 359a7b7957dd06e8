package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/pkg/cart"
)

const (
	cartMethods      = "GET, HEAD, POST, OPTIONS"
	cartAllowHeaders = "Authorization, Content-Type"
	// maxCartBody bounds a POST /cart body: {"sku_id":"2147483647"} is 25
	// bytes, so 1 KiB leaves room for whitespace and nothing else.
	maxCartBody = 1 << 10
	// cookieName is the session cookie of shoppers without Authorization.
	cookieName = "elier_cart"
	// tokenBytes of randomness in a session cookie (256 bits; the contract
	// asks for at least 128).
	tokenBytes = 32
	// expireBatch bounds one transaction of the idle-cart sweep.
	expireBatch = 500
)

var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// The cart's answers other than 201 and 200.
var (
	errCartBadBody = &apiError{status: fasthttp.StatusBadRequest, body: `{"error":"the body must be JSON {\"sku_id\": N} or a form sku_id=N, N a positive 32-bit integer"}`}
	errCartNoSku   = &apiError{status: fasthttp.StatusUnprocessableEntity, body: `{"error":"no such sku in the catalogue"}`}
	errCartStock   = &apiError{status: fasthttp.StatusUnprocessableEntity, body: `{"error":"not enough stock for another unit of this sku"}`}
	errCartFull    = &apiError{status: fasthttp.StatusUnprocessableEntity, body: `{"error":"a cart holds at most 100 distinct skus"}`}
	errCartLarge   = &apiError{status: fasthttp.StatusRequestEntityTooLarge, body: `{"error":"request body too large: a cart request is at most 1 KiB"}`}
	errCartMissing = &apiError{status: fasthttp.StatusServiceUnavailable, body: `{"error":"the cart is not available yet"}`, retryAfter: "30"}
	errCartMethod  = &apiError{status: fasthttp.StatusMethodNotAllowed, body: `{"error":"method not allowed: use GET, HEAD, POST or OPTIONS"}`, allow: cartMethods}
)

// servePostCart adds one unit of a sku to the session's cart: 201 once the
// unit is durably stored.
func (s *server) servePostCart(ctx *fasthttp.RequestCtx) {
	body := ctx.Request.Body()
	if len(body) > maxCartBody {
		s.cartFail(ctx, errCartLarge, cartTooLarge)
		return
	}
	sku, ok := parseCartBody(body)
	if !ok {
		s.cartFail(ctx, errCartBadBody, cartBadRequest)
		return
	}
	session, ok := s.session(ctx)
	switch {
	case !ok:
		session = s.newSessionCookie(ctx)
	case len(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)) == 0:
		// The cookie lives as long as an idle cart: renewed with each add,
		// so an active shopper's cookie does not expire before the cart.
		s.setSessionCookie(ctx, ctx.Request.Header.Cookie(cookieName))
	}
	dctx, cancel := context.WithTimeout(s.base, s.dbTimeout)
	count, err := s.cart.Add(dctx, session, sku)
	cancel()
	if err != nil {
		s.cartError(ctx, err)
		return
	}
	b := append(make([]byte, 0, 48), `{"sku_id":`...)
	b = strconv.AppendInt(b, int64(sku), 10)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	s.cartWrite(ctx, fasthttp.StatusCreated, append(b, '}'))
	s.cartMetrics.inc(cartAdded)
}

// serveGetCart lists the session's cart, in the order skus first entered
// it; no session, no cart: [].
func (s *server) serveGetCart(ctx *fasthttp.RequestCtx) {
	session, ok := s.session(ctx)
	if !ok {
		s.cartWrite(ctx, fasthttp.StatusOK, []byte("[]"))
		s.cartMetrics.inc(cartListed)
		return
	}
	dctx, cancel := context.WithTimeout(s.base, s.dbTimeout)
	items, err := s.cart.List(dctx, session)
	cancel()
	if err != nil {
		s.cartError(ctx, err)
		return
	}
	b := append(make([]byte, 0, 2+32*len(items)), '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sku_id":`...)
		b = strconv.AppendInt(b, int64(it.SkuID), 10)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(it.Count), 10)
		b = append(b, '}')
	}
	s.cartWrite(ctx, fasthttp.StatusOK, append(b, ']'))
	s.cartMetrics.inc(cartListed)
}

// cartWrite writes a cart answer: never stored by a shared cache, and
// readable cross-origin with credentials by the origins named in
// --cors-origins.
func (s *server) cartWrite(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	h := &ctx.Response.Header
	h.SetContentType(contentTypeJSON)
	h.Set(fasthttp.HeaderCacheControl, "no-store")
	s.cartCORS(ctx)
	ctx.Response.SetBodyRaw(body)
}

// cartCORS allows the request's origin, and credentials with it only when
// the origin is named in the list: never with "*", under which any site
// could act with the shopper's cookie.
func (s *server) cartCORS(ctx *fasthttp.RequestCtx) {
	if s.cors.apply(ctx, false) && !s.cors.any {
		ctx.Response.Header.Set(fasthttp.HeaderAccessControlAllowCredentials, "true")
	}
}

// cartError turns the store's error into the answer.
func (s *server) cartError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, cart.ErrNoSku):
		s.cartFail(ctx, errCartNoSku, cartNoSku)
	case errors.Is(err, cart.ErrOverStock):
		s.cartFail(ctx, errCartStock, cartOverStock)
	case errors.Is(err, cart.ErrFull):
		s.cartFail(ctx, errCartFull, cartFull)
	case errors.Is(err, cart.ErrUnavailable):
		s.cartFail(ctx, errUnavailable, cartUnavailable)
	case errors.Is(err, cart.ErrNotMigrated):
		s.logNotMigrated(err)
		s.cartFail(ctx, errCartMissing, cartNotMigrated)
	default:
		s.fail(ctx, err) // logged there, as every 500
		s.cartCommon(ctx)
		s.cartMetrics.inc(cartError)
	}
}

func (s *server) cartFail(ctx *fasthttp.RequestCtx, ae *apiError, o cartOutcome) {
	s.writeError(ctx, ae)
	s.cartCommon(ctx)
	s.cartMetrics.inc(o)
}

func (s *server) cartCommon(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	s.cartCORS(ctx)
}

// logNotMigrated says, at most once a minute, why /cart answers 503.
func (s *server) logNotMigrated(err error) {
	now := time.Now().UnixNano()
	last := s.cartMissingLogged.Load()
	if now-last < int64(time.Minute) || !s.cartMissingLogged.CompareAndSwap(last, now) {
		return
	}
	s.log.Error("the cart tables are missing: run `elier-etl migrate` on the primary; /cart answers 503 until then", "err", err)
}

// cartPreflight answers OPTIONS /cart: the storefront's JSON POST (with
// Content-Type and perhaps Authorization) needs one.
func (s *server) cartPreflight(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderAllow, cartMethods)
	if s.cors.apply(ctx, false) {
		if !s.cors.any {
			h.Set(fasthttp.HeaderAccessControlAllowCredentials, "true")
		}
		h.Set(fasthttp.HeaderAccessControlAllowMethods, cartMethods)
		h.Set(fasthttp.HeaderAccessControlAllowHeaders, cartAllowHeaders)
		h.Set(fasthttp.HeaderAccessControlMaxAge, "86400")
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// session names the request's cart: its Authorization header when it has
// one (storefronts that proxy the API send one on every request), else the
// session cookie. A cookie that cannot be one of ours (256 bits in
// base64url) is ignored, and the next add starts a new session.
func (s *server) session(ctx *fasthttp.RequestCtx) (cart.Session, bool) {
	if a := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization); len(a) > 0 {
		return cart.SessionOf("authorization", a), true
	}
	if c := ctx.Request.Header.Cookie(cookieName); validToken(c) {
		return cart.SessionOf("cookie", c), true
	}
	return cart.Session{}, false
}

func validToken(c []byte) bool {
	if len(c) != tokenLen {
		return false
	}
	var raw [tokenBytes]byte
	n, err := base64.RawURLEncoding.Decode(raw[:], c)
	return err == nil && n == tokenBytes
}

// newSessionCookie starts a session: a random token in a cookie that
// scripts cannot read (HttpOnly), that other sites' requests do not carry
// except top-level navigations (SameSite=Lax), and, when the shopper came
// over TLS, that never travels in clear (Secure).
func (s *server) newSessionCookie(ctx *fasthttp.RequestCtx) cart.Session {
	var raw [tokenBytes]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	token := base64.RawURLEncoding.AppendEncode(make([]byte, 0, tokenLen), raw[:])
	s.setSessionCookie(ctx, token)
	return cart.SessionOf("cookie", token)
}

// setSessionCookie sets the session cookie to token, for --cart-idle.
func (s *server) setSessionCookie(ctx *fasthttp.RequestCtx, token []byte) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(cookieName)
	c.SetValueBytes(token)
	c.SetPath("/")
	c.SetMaxAge(int(s.cartIdle / time.Second))
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	c.SetSecure(s.overTLS(ctx))
	ctx.Response.Header.SetCookie(c)
}

// overTLS tells whether the shopper's connection was TLS: ours, or a
// proxy's in front of us that says so (X-Forwarded-Proto) and is one of
// --trusted-proxies; anyone else could send the header.
func (s *server) overTLS(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsTLS() {
		return true
	}
	proto := ctx.Request.Header.Peek("X-Forwarded-Proto")
	if len(proto) == 0 || !s.trustedProxy(ctx) {
		return false
	}
	// A chain of proxies appends: the first is the client's.
	if i := bytes.IndexByte(proto, ','); i >= 0 {
		proto = proto[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(proto), []byte("https"))
}

func (s *server) trustedProxy(ctx *fasthttp.RequestCtx) bool {
	a, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseCartBody reads the sku of a POST /cart body: JSON {"sku_id": 1} or
// {"sku_id": "1"}, or a form sku_id=1 (whatever the Content-Type says:
// storefronts are not consistent about it). Anything else is not ok.
func parseCartBody(body []byte) (int32, bool) {
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '{' {
		var v struct {
			SkuID json.RawMessage `json:"sku_id"`
		}
		if json.Unmarshal(t, &v) != nil || len(v.SkuID) == 0 {
			return 0, false
		}
		raw := v.SkuID
		if raw[0] == '"' {
			var str string
			if json.Unmarshal(raw, &str) != nil {
				return 0, false
			}
			return parseID(str)
		}
		return parseID(raw) // digits only: 1.0, 1e0, -1, null, true are not ids
	}
	var args fasthttp.Args
	args.ParseBytes(t)
	return parseID(args.Peek("sku_id"))
}

// sweepLoop deletes idle carts every interval, a bounded batch per
// transaction, until a batch comes back short. Every API instance sweeps;
// the statement skips carts another sweep has locked.
func (s *server) sweepLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var total int64
		for ctx.Err() == nil {
			dctx, cancel := context.WithTimeout(ctx, 10*s.dbTimeout)
			n, err := s.cart.Expire(dctx, s.cartIdle, expireBatch)
			cancel()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, cart.ErrUnavailable) {
					s.log.Warn("expiring idle carts", "err", err)
				}
				break
			}
			total += n
			if n < expireBatch {
				break
			}
		}
		if total > 0 {
			s.log.Info("expired idle carts", "carts", total, "idle", s.cartIdle.String())
		}
	}
}
