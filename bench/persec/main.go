// Command persec is a closed-loop load generator that reports every second
// (or every -interval):
// -conns connections each send the next request as soon as the previous
// answer arrives (as wrk does), and at the end of each second persec prints
// one JSON line with that interval's answers and errors, and the change over
// it of the API's own counters read from /metrics (for example
// cache hits and misses), plus the current value of some gauges (the live
// build). scripts/bench-rebuild.sh runs it across a rebuild to show
// throughput and the cache's hit ratio before, during and after the swap,
// which a single end-of-run figure (wrk) averages away. A short interval
// (100ms) places the swap within a tenth of a second, so that the 1-second
// windows that begin after it can be told from the second it fell in.
//
// It runs until -duration has passed or it gets SIGINT or SIGTERM; a
// second cut short is not printed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/elier/catalogue/bench/target"
)

func main() {
	tf := target.AddFlags(flag.CommandLine, "skewed", 100000)
	conns := flag.Int("conns", 64, "connections, each with one request in flight")
	dur := flag.Duration("duration", 0, "how long to run (0: until SIGINT or SIGTERM)")
	interval := flag.Duration("interval", time.Second, "how often to print a line")
	counters := flag.String("counters", "elier_cache_hits_total,elier_cache_misses_total,elier_build_changes_total",
		"comma-separated /metrics counters whose per-second change to report (missing ones are left out)")
	gauges := flag.String("gauges", "elier_live_build_id", "comma-separated /metrics gauges whose value to report")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	if *interval <= 0 {
		fmt.Fprintln(os.Stderr, "persec: -interval must be positive")
		os.Exit(2)
	}
	cfg := config{flags: tf, conns: *conns, interval: *interval,
		counters: split(*counters), gauges: split(*gauges)}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "persec:", err)
		os.Exit(1)
	}
}

type config struct {
	flags            target.Flags
	conns            int
	interval         time.Duration
	counters, gauges []string
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// second is one line of output: one interval (a second by default).
type second struct {
	Second   int                `json:"second"`   // 1, 2, ... from the start: the interval's number
	Interval float64            `json:"interval"` // its length, seconds
	Unix     float64            `json:"unix"`     // when it ended
	Requests int64              `json:"requests"` // answers received, errors included
	Errors   int64              `json:"errors"`   // transport errors and answers other than 200 and 404
	Counters map[string]float64 `json:"counters"` // change over the interval
	Gauges   map[string]float64 `json:"gauges"`   // value at its end
}

func run(ctx context.Context, cfg config) error {
	base := *cfg.flags.URL
	addr := strings.TrimPrefix(base, "http://")
	client := &fasthttp.HostClient{Addr: addr, MaxConns: cfg.conns, ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, MaxIdemponentCallAttempts: 1}
	scraper := &fasthttp.HostClient{Addr: addr, ReadTimeout: 2 * time.Second}
	prev, err := scrape(scraper, base)
	if err != nil {
		return err
	}
	var requests, errors atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	for i := range cfg.conns {
		picker, err := cfg.flags.Picker(uint64(time.Now().UnixNano()) + uint64(i))
		if err != nil {
			return err
		}
		wg.Go(func() { send(loadCtx, client, addr, picker, &requests, &errors) })
	}
	defer wg.Wait()

	enc := json.NewEncoder(os.Stdout)
	tick := time.NewTicker(cfg.interval)
	defer tick.Stop()
	for s := 1; ; s++ {
		select {
		case <-ctx.Done():
			return nil
		case t := <-tick.C:
			if ctx.Err() != nil {
				// Stopped during this interval: its count is partial. (select
				// picks at random when both are ready.)
				return nil
			}
			line := second{Second: s, Interval: cfg.interval.Seconds(), Unix: float64(t.UnixNano()) / 1e9,
				Requests: requests.Swap(0), Errors: errors.Swap(0),
				Counters: map[string]float64{}, Gauges: map[string]float64{}}
			cur, err := scrape(scraper, base)
			if err != nil {
				return err
			}
			for _, name := range cfg.counters {
				if v, ok := cur[name]; ok {
					line.Counters[name] = v - prev[name]
				}
			}
			for _, name := range cfg.gauges {
				if v, ok := cur[name]; ok {
					line.Gauges[name] = v
				}
			}
			prev = cur
			if err := enc.Encode(line); err != nil {
				return fmt.Errorf("writing: %w", err)
			}
		}
	}
}

// send is one connection's closed loop.
func send(ctx context.Context, client *fasthttp.HostClient, host string, picker *target.Picker, requests, errors *atomic.Int64) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetHost(host)
	for ctx.Err() == nil {
		req.SetRequestURI(picker.Path())
		err := client.Do(req, resp)
		requests.Add(1)
		// A 404 is a right answer: a product the live build removed.
		if err != nil || (resp.StatusCode() != fasthttp.StatusOK && resp.StatusCode() != fasthttp.StatusNotFound) {
			errors.Add(1)
		}
	}
}

// scrape reads /metrics: each sample's value by metric name, summed over
// label sets.
func scrape(c *fasthttp.HostClient, base string) (map[string]float64, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + "/metrics")
	if err := c.Do(req, resp); err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, fmt.Errorf("reading /metrics: status %d", resp.StatusCode())
	}
	body, err := resp.BodyUncompressed()
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	return parseMetrics(body), nil
}

// parseMetrics reads the Prometheus text format's samples ("name value" or
// "name{labels} value"); comments and unparsable lines are skipped.
func parseMetrics(body []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 && i < len(name) {
			name = line[:i]
			j := strings.LastIndexByte(line, '}')
			if j < 0 {
				continue
			}
			rest = line[j+1:]
			ok = true
		}
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out
}
