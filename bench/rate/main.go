// Command rate sends requests at a fixed rate (open loop) and prints
// latency percentiles as JSON. A fixed rate avoids the coordinated omission
// of closed-loop tools such as wrk: a slow response does not hold back the
// requests scheduled after it, so its delay shows in the tail.
//
// Two engines send the same requests:
//
//   - vegeta (github.com/tsenart/vegeta/v12): the reference open-loop tool.
//     Measured here it costs about 100 µs of CPU per request (net/http, a
//     goroutine hand-off and a timer per hit), so on a 2-core machine it
//     cannot send much more than 10,000 requests/s at all, and at 5,000 it
//     takes half a core from the server it measures.
//   - fasthttp: the same schedule on fasthttp's client, about 10 times
//     cheaper. Request i is due at start + i/rate; a pool of connections
//     takes due requests in order, and each latency is counted from the
//     request's due time, not from when a connection was free to send it
//     (as wrk2 does), so queueing in the generator counts against the
//     server, never for it.
//
// The output includes the generator's own CPU per request, so a reader can
// see what the measurement cost.
//
// Besides the catalogue's routes, -route cart-post sends POST /cart
// {"sku_id": N} (N drawn from -skus, a file of sku ids, one a line) and
// cart-get sends GET /cart, each as one of -sessions sessions drawn at
// random (an Authorization header): the cart's write and read paths.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/valyala/fasthttp"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:3300", "API base URL")
	route := flag.String("route", "styles", "list, product, styles, related, cart-post or cart-get")
	dist := flag.String("dist", "uniform", "uniform or skewed (P(id) proportional to 1/id)")
	n := flag.Int("n", 1000000, "number of products")
	freq := flag.Int("rate", 5000, "requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	engine := flag.String("client", "fasthttp", "fasthttp or vegeta")
	conns := flag.Int("conns", 256, "connections at most")
	skuFile := flag.String("skus", "", "cart-post: a file of sku ids, one a line")
	sessions := flag.Int("sessions", 100000, "cart routes: sessions drawn from")
	flag.Parse()
	var skus []string
	if *skuFile != "" {
		b, err := os.ReadFile(*skuFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rate:", err)
			os.Exit(2)
		}
		skus = strings.Fields(string(b))
	}
	if *route == "cart-post" && len(skus) == 0 {
		fmt.Fprintln(os.Stderr, "rate: -route cart-post needs -skus FILE")
		os.Exit(2)
	}

	pick := func(max int) int {
		if *dist == "skewed" {
			return int(math.Pow(float64(max), rand.Float64()))
		}
		return 1 + rand.IntN(max)
	}
	path := func() request {
		switch *route {
		case "list":
			return request{uri: "/products?count=5&page=" + strconv.Itoa(pick(*n/5))}
		case "product":
			return request{uri: "/products/" + strconv.Itoa(pick(*n))}
		case "cart-post":
			return request{method: http.MethodPost, uri: "/cart", auth: "bench-" + strconv.Itoa(rand.IntN(*sessions)),
				body: []byte(`{"sku_id":` + skus[rand.IntN(len(skus))] + `}`)}
		case "cart-get":
			return request{uri: "/cart", auth: "bench-" + strconv.Itoa(rand.IntN(*sessions))}
		default:
			return request{uri: "/products/" + strconv.Itoa(pick(*n)) + "/" + *route}
		}
	}

	cpu0 := cpuTime()
	var res result
	switch *engine {
	case "vegeta":
		res = runVegeta(*base, path, *freq, *dur, *conns)
	case "fasthttp":
		res = runFasthttp(*base, path, *freq, *dur, *conns)
	default:
		fmt.Fprintf(os.Stderr, "rate: unknown -client %q\n", *engine)
		os.Exit(2)
	}
	cpu := cpuTime() - cpu0

	lat := res.latencies
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	out := map[string]any{
		"client": *engine, "route": *route, "dist": *dist, "rate": *freq, "requests": len(lat), "errors": res.errors,
		"achieved_rate": math.Round(float64(len(lat)) / res.elapsed.Seconds()),
		"p50_ms":        q(0.50), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": q(1),
		"client_cpu_us_per_req": math.Round(float64(cpu.Microseconds()) / float64(max(1, len(lat)))),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// request is one request of the schedule: a GET of uri unless said.
type request struct {
	method, uri, auth string
	body              []byte
}

// ok: 200, or the 201 of an add to a cart.
func ok(status int) bool { return status == http.StatusOK || status == http.StatusCreated }

type result struct {
	latencies []time.Duration
	errors    int
	elapsed   time.Duration // from the first due time to the last answer
}

func runVegeta(base string, path func() request, freq int, dur time.Duration, conns int) result {
	targeter := func(t *vegeta.Target) error {
		r := path()
		t.Method = cmp.Or(r.method, http.MethodGet)
		t.URL = base + r.uri
		t.Body = r.body
		t.Header = http.Header{}
		if r.auth != "" {
			t.Header.Set("Authorization", r.auth)
		}
		if r.body != nil {
			t.Header.Set("Content-Type", "application/json")
		}
		return nil
	}
	attacker := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Connections(conns), vegeta.Timeout(5*time.Second))
	var r result
	start := time.Now()
	for res := range attacker.Attack(targeter, vegeta.Rate{Freq: freq, Per: time.Second}, dur, "rate") {
		r.latencies = append(r.latencies, res.Latency)
		if !ok(int(res.Code)) || res.Error != "" {
			r.errors++
		}
	}
	r.elapsed = time.Since(start)
	return r
}

func runFasthttp(base string, path func() request, freq int, dur time.Duration, conns int) result {
	addr := strings.TrimPrefix(base, "http://")
	client := &fasthttp.HostClient{
		Addr: addr, MaxConns: conns, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		MaxIdemponentCallAttempts: 1,
	}
	total := int(int64(freq) * int64(dur) / int64(time.Second))
	paths := make([]request, total) // drawn up front: the schedule is not slowed by the RNG
	for i := range paths {
		paths[i] = path()
	}
	lat := make([]time.Duration, total)
	failed := make([]bool, total)
	interval := time.Second / time.Duration(freq)
	due := make(chan int, total)

	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.SetHost(addr)
			for i := range due {
				r := &paths[i]
				req.SetRequestURI(r.uri)
				req.Header.SetMethod(cmp.Or(r.method, fasthttp.MethodGet))
				req.SetBody(r.body)
				req.Header.Del(fasthttp.HeaderAuthorization)
				if r.auth != "" {
					req.Header.Set(fasthttp.HeaderAuthorization, r.auth)
				}
				if r.body != nil {
					req.Header.SetContentType("application/json")
				}
				err := client.Do(req, resp)
				lat[i] = time.Since(start.Add(time.Duration(i) * interval))
				failed[i] = err != nil || !ok(resp.StatusCode())
			}
		})
	}
	// The pacer hands out every request that is due, then sleeps until the
	// next one is: a late wake-up sends a burst, never fewer requests.
	for i := 0; i < total; {
		for now := int(time.Since(start)/interval) + 1; i < min(now, total); i++ {
			due <- i
		}
		if i < total {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
	}
	close(due)
	wg.Wait()
	r := result{latencies: lat, elapsed: time.Since(start)}
	for _, f := range failed {
		if f {
			r.errors++
		}
	}
	return r
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
