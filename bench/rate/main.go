// Command rate sends requests at a fixed rate (open loop, with vegeta) and
// prints latency percentiles as JSON. A fixed rate avoids the coordinated
// omission of closed-loop tools such as wrk: a slow response does not hold
// back the requests scheduled after it, so its delay shows in the tail.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:3300", "API base URL")
	route := flag.String("route", "styles", "list, product, styles or related")
	dist := flag.String("dist", "uniform", "uniform or skewed (P(id) proportional to 1/id)")
	n := flag.Int("n", 1000000, "number of products")
	freq := flag.Int("rate", 5000, "requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	flag.Parse()

	pick := func(max int) int {
		if *dist == "skewed" {
			return int(math.Pow(float64(max), rand.Float64()))
		}
		return 1 + rand.IntN(max)
	}
	targeter := func(t *vegeta.Target) error {
		t.Method = http.MethodGet
		switch *route {
		case "list":
			t.URL = *base + "/products?count=5&page=" + strconv.Itoa(pick(*n/5))
		case "product":
			t.URL = *base + "/products/" + strconv.Itoa(pick(*n))
		default:
			t.URL = *base + "/products/" + strconv.Itoa(pick(*n)) + "/" + *route
		}
		return nil
	}
	attacker := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Connections(256), vegeta.Timeout(5*time.Second))
	var lat []time.Duration
	errs := 0
	for res := range attacker.Attack(targeter, vegeta.Rate{Freq: *freq, Per: time.Second}, *dur, "rate") {
		lat = append(lat, res.Latency)
		if res.Code != http.StatusOK || res.Error != "" {
			errs++
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	out := map[string]any{
		"route": *route, "dist": *dist, "rate": *freq, "requests": len(lat), "errors": errs,
		"p50_ms": q(0.50), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": q(1),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
