package api

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/elier/catalogue/pkg/cart"
)

// cartOutcome is what became of one /cart request, for
// elier_cart_requests_total.
type cartOutcome uint8

const (
	cartAdded       cartOutcome = iota // POST: 201
	cartListed                         // GET: 200
	cartBadRequest                     // 400: not JSON or a form, no or bad sku_id
	cartNoSku                          // 422: no such sku in the live build
	cartOverStock                      // 422: one more unit than the live quantity
	cartFull                           // 422: already cart.MaxSkus distinct skus
	cartTooLarge                       // 413: body over maxCartBody
	cartUnavailable                    // 503: primary down, read-only or slow
	cartNotMigrated                    // 503: elier-etl migrate has not run
	cartError                          // 500: unexpected
	numCartOutcomes
)

func (o cartOutcome) String() string {
	return [numCartOutcomes]string{"added", "listed", "bad_request", "no_sku", "over_stock",
		"cart_full", "too_large", "unavailable", "not_migrated", "error"}[o]
}

// cartMetrics counts /cart requests by outcome; atomics only, like metrics.
type cartMetrics struct {
	n [numCartOutcomes]atomic.Uint64
}

func (m *cartMetrics) inc(o cartOutcome) { m.n[o].Add(1) }

// write writes elier_cart_requests_total, every outcome listed (0
// included: an alert on a rate needs the series to exist).
// One family: its TYPE line once (the library's writers add one per call),
// then a sample per outcome. Then the store's group commits: the
// transactions that committed adds, and the adds they held (their ratio is
// the mean group size, 1 under light load), and its batched reads: the
// statements that read carts, and the GET /cart reads they answered.
func (m *cartMetrics) write(w io.Writer, st cart.Stats) {
	fmt.Fprintln(w, "# TYPE elier_cart_requests_total counter")
	for o := range numCartOutcomes {
		fmt.Fprintf(w, "elier_cart_requests_total{outcome=%q} %d\n", o.String(), m.n[o].Load())
	}
	fmt.Fprintf(w, "# TYPE elier_cart_commits_total counter\nelier_cart_commits_total %d\n", st.Groups)
	fmt.Fprintf(w, "# TYPE elier_cart_committed_adds_total counter\nelier_cart_committed_adds_total %d\n", st.Adds)
	fmt.Fprintf(w, "# TYPE elier_cart_read_batches_total counter\nelier_cart_read_batches_total %d\n", st.ReadBatches)
	fmt.Fprintf(w, "# TYPE elier_cart_reads_total counter\nelier_cart_reads_total %d\n", st.Reads)
}
