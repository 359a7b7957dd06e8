package main

import (
	"reflect"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	body := []byte(`# HELP elier_cache_hits_total Responses served from the cache.
# TYPE elier_cache_hits_total counter
elier_cache_hits_total 1234
elier_live_build_id 7
elier_http_requests_total{route="styles",code="200"} 10
elier_http_requests_total{route="list",code="200"} 5 1700000000000
weird{label="a b} c"} 2
not_a_number NaNx
elier_cache_misses_total 1.5e+06
`)
	want := map[string]float64{
		"elier_cache_hits_total":    1234,
		"elier_live_build_id":       7,
		"elier_http_requests_total": 15,
		"weird":                     2,
		"elier_cache_misses_total":  1.5e6,
	}
	if got := parseMetrics(body); !reflect.DeepEqual(got, want) {
		t.Errorf("parseMetrics:\n got %v\nwant %v", got, want)
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte("a 1\nb{x=\"y\"} 2\n# c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseMetrics(b) // never panics
	})
}
