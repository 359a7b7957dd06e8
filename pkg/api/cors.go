package api

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// cors is the cross-origin policy: any origin ("*", the default, sent on
// every response) or a list of origins, echoed back when they ask.
type cors struct {
	any     bool
	origins [][]byte
}

func newCORS(origins []string) cors {
	var c cors
	for _, o := range origins {
		if o == "*" {
			return cors{any: true}
		}
		c.origins = append(c.origins, []byte(o))
	}
	return c
}

// apply sets Access-Control-Allow-Origin when the request's origin is
// allowed and reports whether it did. With a list of origins the answer
// depends on Origin, so Vary says so; varySet tells that the caller sets a
// Vary that includes Origin already.
func (c *cors) apply(ctx *fasthttp.RequestCtx, varySet bool) bool {
	h := &ctx.Response.Header
	if c.any {
		h.SetCanonical(hdrAllowOrigin, valueAnyOrigin)
		return true
	}
	if !varySet {
		h.SetCanonical(hdrVary, valueOrigin)
	}
	o := ctx.Request.Header.Peek(fasthttp.HeaderOrigin)
	if len(o) == 0 {
		return false
	}
	for _, allowed := range c.origins {
		if bytes.Equal(o, allowed) {
			h.SetCanonical(hdrAllowOrigin, o)
			return true
		}
	}
	return false
}
