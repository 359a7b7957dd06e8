package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cartResult is what `cart` reports: how POST /cart answered while
// something failed, and whether every acknowledged add (a 201) is still in
// its cart afterwards.
//
// A 201 says the unit is stored and gives the sku's new count in that
// cart. Units are never removed here, so within one session (whose adds
// are sent one at a time) the counts of a sku's 201s only go up: a 201
// whose count is not above an earlier one's means units acknowledged
// before were lost (lost_by_sequence), and a final count below the
// highest acknowledged one means the same (lost_at_end). A 503 whose add
// was committed after all shows up as a count one higher than expected,
// never as a loss.
type cartResult struct {
	URL      string         `json:"url"`
	Seconds  float64        `json:"seconds"`
	Rate     int            `json:"target_rate"`
	Sessions int            `json:"sessions"`
	Requests int64          `json:"requests"`
	Created  int64          `json:"created"`
	Statuses map[string]int `json:"statuses"`
	Errors   map[string]int `json:"errors,omitempty"`
	// Unavailable: 503s with a Retry-After; every other failure (a 503
	// without one, a 500, a transport error) is Bad.
	Unavailable int64 `json:"unavailable"`
	Bad         int64 `json:"bad"`
	// The first and last failed add (Unix seconds, 0: none) and the span.
	FirstFailure  float64 `json:"first_failure_unix"`
	LastFailure   float64 `json:"last_failure_unix"`
	FailureWindow float64 `json:"failure_window_seconds"`
	// MaxGap: the longest time without a 201 between two 201s, and when
	// (Unix seconds): the write downtime, give or take a request's time.
	MaxGap     float64 `json:"max_gap_seconds"`
	MaxGapFrom float64 `json:"max_gap_from_unix"`
	// Lost: acknowledged units not in their cart at the end.
	Lost           int64   `json:"lost"`
	LostBySequence int64   `json:"lost_by_sequence"`
	LostAtEnd      int64   `json:"lost_at_end"`
	Checked        int     `json:"carts_checked"`
	Unchecked      int     `json:"carts_unchecked"`
	Start          float64 `json:"start_unix"`
}

// cartSession is one shopper: its token and, per sku, the highest count a
// 201 gave.
type cartSession struct {
	token string
	acked map[int]int
}

func cartCmd(ctx context.Context, args []string) (*cartResult, error) {
	fs := flag.NewFlagSet("cart", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:3180", "base `URL`")
	d := fs.Duration("d", 10*time.Second, "how long to add")
	rate := fs.Int("rate", 100, "adds per second, over all sessions")
	sessions := fs.Int("sessions", 8, "concurrent shoppers, each sending one add at a time")
	skuList := fs.String("skus", "", "comma-separated sku ids with stock")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout")
	verify := fs.Duration("verify", 90*time.Second, "how long to keep trying to read the carts back")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var skus []int
	for f := range strings.SplitSeq(*skuList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("cart: -skus: bad sku id %q", f)
		}
		skus = append(skus, n)
	}
	if *d <= 0 || *d > 10*time.Minute || *sessions < 1 || *rate < 1 {
		return nil, errors.New("cart: -d must be in (0, 10m], -sessions and -rate positive")
	}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: *sessions, IdleConnTimeout: 30 * time.Second}}
	defer client.CloseIdleConnections()

	type tally struct {
		statuses  map[int]int
		errs      map[string]int
		unavail   int64
		bad       int64
		fails     []time.Time
		oks       []time.Time
		seqLost   int64
		done      []*cartSession
		requests  int64
		createdOK int64
	}
	run, cancel := context.WithTimeout(ctx, *d)
	defer cancel()
	start := time.Now()
	every := time.Duration(float64(time.Second) * float64(*sessions) / float64(*rate))
	tallies := make([]tally, *sessions)
	var wg sync.WaitGroup
	for w := range *sessions {
		t := &tallies[w]
		t.statuses, t.errs = map[int]int{}, map[string]int{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			newSession := func() *cartSession {
				s := &cartSession{token: fmt.Sprintf("cartcheck-%d-%d", w, rng.Uint64()), acked: map[int]int{}}
				t.done = append(t.done, s)
				return s
			}
			s := newSession()
			next := rng.IntN(len(skus))
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-run.Done():
					return
				case <-tick.C:
				}
				sku := skus[next]
				t0 := time.Now()
				status, retry, body, err := postCart(run, client, *url, s.token, sku)
				if run.Err() != nil {
					return // cut off by the end of the run: neither an answer nor a failure
				}
				t.requests++
				switch {
				case err != nil:
					t.errs[errKind(err)]++
					t.bad++
					t.fails = append(t.fails, t0)
				case status == http.StatusCreated:
					t.statuses[status]++
					var a struct {
						Count int `json:"count"`
					}
					if json.Unmarshal(body, &a) != nil {
						t.bad++
						t.fails = append(t.fails, t0)
						continue
					}
					t.createdOK++
					t.oks = append(t.oks, time.Now())
					if prev := s.acked[sku]; a.Count <= prev {
						t.seqLost += int64(prev - a.Count + 1)
					}
					s.acked[sku] = max(s.acked[sku], a.Count)
				case status == http.StatusUnprocessableEntity:
					// stock or a full cart: another sku, or another shopper
					t.statuses[status]++
					if bytes.Contains(body, []byte("at most")) {
						s = newSession()
					}
					next = (next + 1) % len(skus)
				default:
					t.statuses[status]++
					if status == http.StatusServiceUnavailable && retry != "" {
						t.unavail++
					} else {
						t.bad++
					}
					t.fails = append(t.fails, t0)
				}
			}
		})
	}
	wg.Wait()

	r := &cartResult{URL: *url, Seconds: time.Since(start).Seconds(), Rate: *rate, Sessions: *sessions,
		Statuses: map[string]int{}, Errors: map[string]int{}, Start: unix(start)}
	var fails, oks []time.Time
	var all []*cartSession
	for _, t := range tallies {
		r.Requests += t.requests
		r.Created += t.createdOK
		r.Unavailable += t.unavail
		r.Bad += t.bad
		r.LostBySequence += t.seqLost
		for c, n := range t.statuses {
			r.Statuses[strconv.Itoa(c)] += n
		}
		for k, n := range t.errs {
			r.Errors[k] += n
		}
		fails = append(fails, t.fails...)
		oks = append(oks, t.oks...)
		all = append(all, t.done...)
	}
	if len(fails) > 0 {
		slices.SortFunc(fails, time.Time.Compare)
		r.FirstFailure, r.LastFailure = unix(fails[0]), unix(fails[len(fails)-1])
		r.FailureWindow = round3(fails[len(fails)-1].Sub(fails[0]).Seconds())
	}
	slices.SortFunc(oks, time.Time.Compare)
	for i := 1; i < len(oks); i++ {
		if g := oks[i].Sub(oks[i-1]).Seconds(); g > r.MaxGap {
			r.MaxGap, r.MaxGapFrom = round3(g), unix(oks[i-1])
		}
	}
	// Read every cart back (the database may still be settling).
	vctx, vcancel := context.WithTimeout(ctx, *verify)
	defer vcancel()
	for _, s := range all {
		if len(s.acked) == 0 {
			continue
		}
		stored, err := listCart(vctx, client, *url, s.token)
		if err != nil {
			r.Unchecked++
			continue
		}
		r.Checked++
		for sku, n := range s.acked {
			if stored[sku] < n {
				r.LostAtEnd += int64(n - stored[sku])
			}
		}
	}
	// A cart not read back is reported (carts_unchecked), not an error:
	// the figures of the run are still worth having.
	r.Lost = r.LostBySequence + r.LostAtEnd
	return r, nil
}

func postCart(ctx context.Context, c *http.Client, base, token string, sku int) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/cart",
		strings.NewReader(fmt.Sprintf(`{"sku_id":%d}`, sku)))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Header.Get("Retry-After"), body, err
}

// listCart reads a session's cart, retrying (every 250 ms) until a 200
// or ctx ends.
func listCart(ctx context.Context, c *http.Client, base, token string) (map[int]int, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/cart", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", token)
		resp, err := c.Do(req)
		if err == nil {
			var items []struct {
				Sku   int `json:"sku_id"`
				Count int `json:"count"`
			}
			status := resp.StatusCode
			err = json.NewDecoder(resp.Body).Decode(&items)
			resp.Body.Close()
			if status == http.StatusOK && err == nil {
				m := make(map[int]int, len(items))
				for _, it := range items {
					m[it.Sku] = it.Count
				}
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reading a cart back: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func unix(t time.Time) float64 { return round3(float64(t.UnixMicro()) / 1e6) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
