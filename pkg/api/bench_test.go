package api

import (
	"context"
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/pkg/stored"
)

// benchServer is a server whose cache holds product 1's styles for build 1,
// in its stored form (gzip) under the gzip key, as a build and a request
// leave it: the handler's hot path without the network or the database.
func benchServer(b *testing.B) (*server, *fasthttp.RequestCtx) {
	docs := build1(b)
	s := &server{
		log: slog.New(slog.DiscardHandler), cache: newCache(64 << 20), metrics: newMetrics(),
		cors: newCORS([]string{"*"}), base: context.Background(),
		cacheControl: "public, max-age=60", vary: fasthttp.HeaderAcceptEncoding,
	}
	s.router = s.routes().Handler
	s.build.Store(1)
	st := stored.NewEncoder().Append(nil, docs[0].Styles)
	if !stored.Coded(st) {
		b.Fatal("product 1's styles are not coded")
	}
	s.cache.put(cacheKey{res: docKey(routeStyles, 1)}, encGzip, 200, false, 0, 7, st)
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

// BenchmarkProductHandler is GET /products/1 for a browser (gzip) from
// the product's split entry, as the prefill leaves it (pieces.go), beside
// the bare handler writing a body of the same size.
func BenchmarkProductHandler(b *testing.B) {
	docs := build1(b)
	s, ctx := benchServer(b)
	v, ok := appendSplit(nil, docs[0].ListItem, docs[0].Product)
	if !ok {
		b.Fatal("product 1 does not split")
	}
	s.cache.put(cacheKey{res: docKey(routeProduct, 1)}, encGzip, 200, false, 0, 7, v)
	ctx.Request.SetRequestURI("/products/1")
	ctx.Request.Header.Set("Accept-Encoding", "gzip, deflate, br")
	b.Run("api", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			s.handle(ctx)
		}
		if ctx.Response.StatusCode() != 200 || len(ctx.Response.Header.ContentEncoding()) == 0 {
			b.Fatalf("status %d, coding %q", ctx.Response.StatusCode(), ctx.Response.Header.ContentEncoding())
		}
	})
	body := append([]byte(nil), ctx.Response.Body()...)
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx.Response.Reset()
			ctx.Response.Header.SetContentType(contentTypeJSON)
			ctx.Response.SetBodyRaw(body)
		}
	})
}
