// Command ceiling is the benchmark's ceiling: a bare fasthttp server that
// answers every request with a fixed 2.5 KB JSON body, as fast as this
// machine serves HTTP at all. elier-api is measured against it in the same
// run (scripts/bench-api.sh).
package main

import (
	"bytes"
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3301", "listen address")
	size := flag.Int("size", 2500, "body size in bytes")
	flag.Parse()
	body := append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), *size-10)...)
	body = append(body, `"}`...)
	s := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
	}
	log.Fatal(s.ListenAndServe(*addr))
}
