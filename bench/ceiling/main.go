// Command ceiling is the benchmark's ceiling: a bare fasthttp server that
// answers every request with one fixed body, as fast as this machine serves
// HTTP at all. elier-api is measured against it in the same run
// (scripts/bench-api.sh), which starts it per route with -size set to that
// route's median body as the API sent it (bench/bodysize) and -encoding to
// the coding the API chose, so a route with 300-byte compressed bodies is
// compared with a server sending 300 bytes, not 2.5 KB.
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
	encoding := flag.String("encoding", "", "Content-Encoding to label the body with (br, gzip; empty: identity)")
	flag.Parse()
	// Bytes of the right count; what they say does not matter to a client
	// that does not decode them (wrk), only how many there are.
	body := bytes.Repeat([]byte("x"), max(*size, 0))
	s := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			if *encoding != "" {
				ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, *encoding)
				ctx.Response.Header.Set(fasthttp.HeaderVary, "Accept-Encoding")
			}
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
	}
	log.Fatal(s.ListenAndServe(*addr))
}
