package api

import (
	"testing"
	"time"
)

// BenchmarkObserveParallel is the metrics' cost on every request's path:
// a counter and a histogram update, from all cores at once.
func BenchmarkObserveParallel(b *testing.B) {
	m := newMetrics()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.observe(routeStyles, 200, 300*time.Microsecond)
		}
	})
}
