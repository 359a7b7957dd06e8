// Command bodysize measures the bodies a route really serves: it requests
// -samples paths drawn as the benchmark draws them (bench/target) from the
// API, with the client's Accept-Encoding, and prints as JSON the median,
// min and max of the bytes on the wire (the body as sent, compressed when
// the API compressed it) and the Content-Encoding the API chose. The
// benchmark's ceiling then serves a body of that median size, so a route
// is compared with a server sending as many bytes as it does.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/bench/target"
)

func main() {
	tf := target.AddFlags(flag.CommandLine, "uniform", 1000000)
	samples := flag.Int("samples", 1000, "requests to measure")
	accept := flag.String("accept-encoding", "", "the Accept-Encoding header to send (empty: none)")
	seed := flag.Uint64("seed", 1, "seed of the ids drawn")
	flag.Parse()
	if err := run(tf, *samples, *accept, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "bodysize:", err)
		os.Exit(1)
	}
}

func run(tf target.Flags, samples int, accept string, seed uint64) error {
	picker, err := tf.Picker(seed)
	if err != nil {
		return err
	}
	if samples < 1 {
		return fmt.Errorf("-samples %d: want at least 1", samples)
	}
	client := &fasthttp.Client{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	// resp.Body() is the body as it came over the wire: fasthttp's client
	// does not decompress unless asked (BodyUncompressed).
	sizes := make([]int, 0, samples)
	codings := map[string]int{}
	for range samples {
		req.Reset()
		req.SetRequestURI(*tf.URL + picker.Path())
		if accept != "" {
			req.Header.Set(fasthttp.HeaderAcceptEncoding, accept)
		}
		if err := client.Do(req, resp); err != nil {
			return fmt.Errorf("GET %s: %w", req.URI(), err)
		}
		if resp.StatusCode() != fasthttp.StatusOK {
			return fmt.Errorf("GET %s: status %d", req.URI(), resp.StatusCode())
		}
		sizes = append(sizes, len(resp.Body()))
		codings[string(resp.Header.ContentEncoding())]++
	}
	slices.Sort(sizes)
	// The coding most answers had ("" is identity).
	coding, most := "", -1
	for c, k := range codings {
		if k > most || (k == most && c < coding) {
			coding, most = c, k
		}
	}
	var mix []string
	for c, k := range codings {
		mix = append(mix, fmt.Sprintf("%s=%d", orDefault(c, "identity"), k))
	}
	slices.Sort(mix)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"route": *tf.Route, "dist": *tf.Dist, "samples": samples, "accept_encoding": accept,
		"median_bytes": sizes[(len(sizes)-1)/2], "min_bytes": sizes[0], "max_bytes": sizes[len(sizes)-1],
		"content_encoding": coding, "codings": strings.Join(mix, " "),
	})
}

// orDefault is s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
