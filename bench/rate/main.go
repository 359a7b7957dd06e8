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
// Besides the catalogue's routes, -route cart-post sends POST /cart
// {"sku_id": N} (N drawn from -skus, a file of sku ids, one a line) and
// cart-get sends GET /cart, each as one of -sessions sessions drawn at
// random (an Authorization header): the cart's write and read paths.
//
// The output includes the generator's own CPU per request, so a reader can
// see what the measurement cost.
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

	"github.com/elier/catalogue/bench/target"
)

func main() {
	tf := target.AddFlags(flag.CommandLine, "uniform", 1000000)
	freq := flag.Int("rate", 5000, "requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	engine := flag.String("client", "fasthttp", "fasthttp or vegeta")
	conns := flag.Int("conns", 256, "connections at most")
	skuFile := flag.String("skus", "", "-route cart-post: a file of sku ids, one a line")
	sessions := flag.Int("sessions", 100000, "cart routes: sessions drawn from")
	flag.Parse()

	path, err := requests(tf, *skuFile, *sessions)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rate:", err)
		os.Exit(2)
	}

	cpu0 := cpuTime()
	var res result
	switch *engine {
	case "vegeta":
		res = runVegeta(*tf.URL, path, *freq, *dur, *conns)
	case "fasthttp":
		res = runFasthttp(*tf.URL, path, *freq, *dur, *conns)
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
		"client": *engine, "route": *tf.Route, "dist": *tf.Dist, "rate": *freq, "requests": len(lat), "errors": res.errors,
		"achieved_rate": math.Round(float64(len(lat)) / res.elapsed.Seconds()),
		"p50_ms":        q(0.50), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": q(1),
		"client_cpu_us_per_req": math.Round(float64(cpu.Microseconds()) / float64(max(1, len(lat)))),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type result struct {
	latencies []time.Duration
	errors    int
	elapsed   time.Duration // from the first due time to the last answer
}

// request is one request of the schedule: a GET of uri unless said.
type request struct {
	method, uri, auth string
	body              []byte
}

// requests returns the schedule's request picker: the catalogue's routes
// from target, or the cart's.
func requests(tf target.Flags, skuFile string, sessions int) (func() request, error) {
	switch *tf.Route {
	case "cart-post":
		b, err := os.ReadFile(skuFile)
		if err != nil {
			return nil, fmt.Errorf("-route cart-post needs -skus FILE: %w", err)
		}
		skus := strings.Fields(string(b))
		if len(skus) == 0 {
			return nil, fmt.Errorf("%s: no sku ids", skuFile)
		}
		return func() request {
			return request{method: http.MethodPost, uri: "/cart", auth: "bench-" + strconv.Itoa(rand.IntN(sessions)),
				body: []byte(`{"sku_id":` + skus[rand.IntN(len(skus))] + `}`)}
		}, nil
	case "cart-get":
		return func() request { return request{uri: "/cart", auth: "bench-" + strconv.Itoa(rand.IntN(sessions))} }, nil
	}
	picker, err := tf.Picker(uint64(time.Now().UnixNano()))
	if err != nil {
		return nil, err
	}
	return func() request { return request{uri: picker.Path()} }, nil
}

// ok: 200, or the 201 of an add to a cart.
func ok(status int) bool { return status == http.StatusOK || status == http.StatusCreated }

func runVegeta(base string, path func() request, freq int, dur time.Duration, conns int) result {
	var mu sync.Mutex // vegeta's workers call the targeter concurrently; the picker is not safe for that
	targeter := func(t *vegeta.Target) error {
		mu.Lock()
		r := path()
		mu.Unlock()
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
