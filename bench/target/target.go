// Package target draws the requests the benchmark tools send: one route, and
// ids either uniform or skewed as real catalogue traffic is (P(id) ~ 1/id).
// bench/wrk/ids.lua draws the same requests for wrk; the Go tools (rate,
// bodysize, persec) share this one copy so that what they measure is what
// wrk measured.
package target

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// PageSize is the list route's count, as in bench/wrk/ids.lua.
const PageSize = 5

// Picker draws request paths. It is not safe for concurrent use (its
// random source is its own, so goroutines do not contend on one).
type Picker struct {
	route, dist string
	n           int
	rng         *rand.Rand
}

// New checks the route (list, product, styles or related), the distribution
// (uniform or skewed) and the catalogue size.
func New(route, dist string, n int, seed uint64) (*Picker, error) {
	switch route {
	case "list", "product", "styles", "related":
	default:
		return nil, fmt.Errorf("route %q: want list, product, styles or related", route)
	}
	if dist != "uniform" && dist != "skewed" {
		return nil, fmt.Errorf("distribution %q: want uniform or skewed", dist)
	}
	if n < PageSize {
		return nil, fmt.Errorf("%d products: want at least %d", n, PageSize)
	}
	return &Picker{route: route, dist: dist, n: n, rng: rand.New(rand.NewPCG(seed, 0x5eed))}, nil
}

// pick is an id (or a page) in 1..max. Skewed: floor(max^u) for u uniform in
// [0,1) is log-uniform, whose density is proportional to 1/id.
func (p *Picker) pick(max int) int {
	if p.dist == "skewed" {
		return int(math.Pow(float64(max), p.rng.Float64()))
	}
	return 1 + p.rng.IntN(max)
}

// Path is the next request's path and query.
func (p *Picker) Path() string {
	switch p.route {
	case "list":
		return "/products?page=" + strconv.Itoa(p.pick(p.n/PageSize)) + "&count=" + strconv.Itoa(PageSize)
	case "product":
		return "/products/" + strconv.Itoa(p.pick(p.n))
	default:
		return "/products/" + strconv.Itoa(p.pick(p.n)) + "/" + p.route
	}
}

// Flags are the command-line flags every benchmark tool shares: where the
// API is and which requests to draw.
type Flags struct {
	URL, Route, Dist *string
	N                *int
}

// AddFlags registers -url, -route, -dist and -n on fs.
func AddFlags(fs *flag.FlagSet, dist string, n int) Flags {
	return Flags{
		URL:   fs.String("url", "http://127.0.0.1:3300", "API base URL"),
		Route: fs.String("route", "styles", "list, product, styles or related"),
		Dist:  fs.String("dist", dist, "uniform or skewed (P(id) proportional to 1/id)"),
		N:     fs.Int("n", n, "number of products"),
	}
}

// Picker is New with the flags' route, distribution and size.
func (f Flags) Picker(seed uint64) (*Picker, error) { return New(*f.Route, *f.Dist, *f.N, seed) }
