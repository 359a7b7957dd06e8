package api

import (
	"cmp"
	"errors"
	"net"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/pkg/readmodel"
)

// apiError is a response the API gives instead of a document: a status and
// a JSON body {"error": "..."}. The body is a constant (ids are digits, so
// nothing ever needs escaping).
type apiError struct {
	status     int
	body       string
	retryAfter string // seconds, for 503s
	allow      string // methods, for 405s; empty: allowedMethods
}

func (e *apiError) Error() string { return e.body }

// The API's errors. A request never gets a 500 for bad input: every check
// of input ends in one of the 4xx below.
var (
	errNoRoute      = &apiError{status: fasthttp.StatusNotFound, body: `{"error":"not found"}`}
	errMethod       = &apiError{status: fasthttp.StatusMethodNotAllowed, body: `{"error":"method not allowed: use GET, HEAD or OPTIONS"}`}
	errBadID        = &apiError{status: fasthttp.StatusBadRequest, body: `{"error":"product_id must be a positive 32-bit integer"}`}
	errBadPage      = &apiError{status: fasthttp.StatusBadRequest, body: `{"error":"page must be a positive 32-bit integer"}`}
	errBadCount     = &apiError{status: fasthttp.StatusBadRequest, body: `{"error":"count must be an integer from 1 to 1000"}`}
	errNoBuild      = &apiError{status: fasthttp.StatusServiceUnavailable, body: `{"error":"no catalogue build is live yet"}`, retryAfter: "5"}
	errUnavailable  = &apiError{status: fasthttp.StatusServiceUnavailable, body: `{"error":"database unavailable"}`, retryAfter: "1"}
	errShuttingDown = &apiError{status: fasthttp.StatusServiceUnavailable, body: `{"error":"shutting down"}`, retryAfter: "1"}
	errInternal     = &apiError{status: fasthttp.StatusInternalServerError, body: `{"error":"internal error"}`}
	errHeaderLarge  = &apiError{status: fasthttp.StatusRequestHeaderFieldsTooLarge, body: `{"error":"request headers too large"}`}
	errBodyLarge    = &apiError{status: fasthttp.StatusRequestEntityTooLarge, body: `{"error":"request body too large"}`}
	errMalformed    = &apiError{status: fasthttp.StatusBadRequest, body: `{"error":"malformed request"}`}
)

// notFoundBody is the body of a 404 for product id.
func notFoundBody(id int32) []byte {
	b := make([]byte, 0, 40)
	b = append(b, `{"error":"product `...)
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, ` not found"}`...)
}

// fail is the one place that turns an error into a response. Bad input is
// an *apiError already; the read model's errors become 503s; anything else
// is a 500 with a generic body, and only those are logged here (the
// database's comings and goings are logged once each by the build poller).
func (s *server) fail(ctx *fasthttp.RequestCtx, err error) {
	ae, ok := err.(*apiError)
	if !ok {
		switch {
		case errors.Is(err, readmodel.ErrNoBuild):
			ae = errNoBuild
			if s.build.Load() != 0 {
				s.kickPoll() // the builds table says otherwise: look now
			}
		case errors.Is(err, readmodel.ErrUnavailable):
			ae = errUnavailable
		default:
			ae = errInternal
			s.log.Error("request failed",
				"method", string(ctx.Method()), "uri", string(ctx.RequestURI()), "err", err)
		}
	}
	s.writeError(ctx, ae)
}

// writeError writes ae as the response, replacing whatever was set.
func (s *server) writeError(ctx *fasthttp.RequestCtx, ae *apiError) {
	ctx.Response.ResetBody()
	h := &ctx.Response.Header
	h.Del(fasthttp.HeaderContentEncoding)
	h.Del(fasthttp.HeaderETag)
	h.Del(fasthttp.HeaderCacheControl)
	ctx.SetStatusCode(ae.status)
	h.SetContentType(contentTypeJSON)
	s.cors.apply(ctx, false)
	switch {
	case ae.status == fasthttp.StatusMethodNotAllowed:
		h.Set(fasthttp.HeaderAllow, cmp.Or(ae.allow, allowedMethods))
	case ae.retryAfter != "":
		h.Set(fasthttp.HeaderRetryAfter, ae.retryAfter)
	}
	ctx.SetBodyString(ae.body)
}

// requestError answers the requests fasthttp could not read: headers over
// ReadBufferSize (431), a body over MaxRequestBodySize (413), anything
// malformed (400), in the API's JSON, never fasthttp's text. A read timeout
// gets no answer: the connection is closed (and counted as a 408).
func (s *server) requestError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	ae := errMalformed
	switch {
	case errors.As(err, &small):
		ae = errHeaderLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		ae = errBodyLarge
	case errors.As(err, &netErr) && netErr.Timeout():
		// fasthttp calls this too for a new connection on which nothing at
		// all arrived in time (a client's pre-opened spare). A 408 written
		// there is read, by a client that sends its request at that moment,
		// as the answer to it: a failed request. A closed connection instead
		// makes the client retry on a new one (as nginx does, no answer).
		// fasthttp's own write of the response then fails on the closed
		// connection.
		s.metrics.observe(routeInvalid, fasthttp.StatusRequestTimeout, 0)
		_ = ctx.Conn().Close()
		return
	}
	s.writeError(ctx, ae)
	s.metrics.observe(routeInvalid, ae.status, 0)
}
