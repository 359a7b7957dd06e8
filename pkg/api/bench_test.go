package api

import (
	"context"
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp"
)

// benchServer is a server whose cache holds product 1's styles for build 1:
// the handler's hot path without the network or the database.
func benchServer(b *testing.B) (*server, *fasthttp.RequestCtx) {
	docs := build1(b)
	s := &server{
		log: slog.New(slog.DiscardHandler), cache: newCache(64 << 20), metrics: &metrics{},
		cors: newCORS([]string{"*"}), base: context.Background(),
		cacheControl: "public, max-age=60", vary: fasthttp.HeaderAcceptEncoding,
	}
	s.router = s.routes().Handler
	s.build.Store(1)
	s.cache.put(cacheKey{res: docKey(routeStyles, 1)}, encIdentity, 200, false, 0, 7, docs[0].Styles)
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/products/1/styles")
	ctx.Init(&req, nil, nil)
	return s, &ctx
}

func BenchmarkStylesHandler(b *testing.B) {
	for _, ae := range []string{"", "gzip, deflate, br"} {
		name := "identity"
		if ae != "" {
			name = "br"
		}
		b.Run(name, func(b *testing.B) {
			s, ctx := benchServer(b)
			if ae != "" {
				ctx.Request.Header.Set("Accept-Encoding", ae)
			}
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				s.handle(ctx)
			}
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d", ctx.Response.StatusCode())
			}
		})
	}
}

// BenchmarkBareHandler is the yardstick: a fasthttp handler that writes a
// fixed body and nothing else.
func BenchmarkBareHandler(b *testing.B) {
	docs := build1(b)
	body := docs[0].Styles
	h := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentType(contentTypeJSON)
		ctx.Response.SetBodyRaw(body)
	}
	_, ctx := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
	}
}

func BenchmarkCompress(b *testing.B) {
	docs := build1(b)
	for _, enc := range []encoding{encGzip, encBrotli} {
		b.Run(enc.name(), func(b *testing.B) {
			b.SetBytes(int64(len(docs[0].Styles)))
			var n int
			for b.Loop() {
				n = len(compress(docs[0].Styles, enc))
			}
			b.ReportMetric(float64(n), "bytes")
		})
	}
}
