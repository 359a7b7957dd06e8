//go:build faults

package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// TestChecker shows that the checker, which every scenario trusts, fails
// what it must: a body of neither export, an ETag that is not the body's
// hash, a 404 of a product the export holds, a document of a build that
// never went live, and an older body after a newer one on one instance.
func TestChecker(t *testing.T) {
	mk := func(name string, styles string, list string) *ref {
		return &ref{name: name, n: 1, maxID: 1, docs: map[string]refDoc{
			"s-1": docOf([]byte(styles)), "p-1": docOf([]byte(`{"id":1}`)), "l-1-5": pageOf([]byte(list)),
		}}
	}
	oldR, newR := mk("r0", `{"old":1}`, `[{"id":1,"name":"a"}]`), mk("r1", `{"new":1}`, `[{"id":1,"name":"b"}]`)
	tag := func(b string) string { return etagOf(xxhash.Sum64String(b), "") }
	ptag := func(b string) string { return etagOf(pageOf([]byte(b)).xx, "") } // a list page's
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type call struct {
		inst, res, key string
		status         int
		body, tag      string
		start, end     int
		want           string // "" ok, else part of the error
	}
	run := func(t *testing.T, c *checker, calls []call) {
		t.Helper()
		for i, k := range calls {
			var body []byte
			if k.status != 304 {
				body = []byte(k.body)
			}
			err := c.check(k.inst, k.res, k.key, k.status, body, k.tag, false, at(k.start), at(k.end))
			switch {
			case k.want == "" && err != nil:
				t.Errorf("call %d: %v", i, err)
			case k.want != "" && (err == nil || !strings.Contains(err.Error(), k.want)):
				t.Errorf("call %d: error %v, want one saying %q", i, err, k.want)
			}
		}
	}

	c := newChecker(oldR)
	run(t, c, []call{
		{"a", "s-1", "1", 200, `{"old":1}`, tag(`{"old":1}`), 0, 1, ""},
		{"a", "s-1", "1", 200, `{"new":1}`, tag(`{"new":1}`), 2, 3, "not the document"},
		{"a", "s-1", "1", 200, `{"old":1}`, `"0000000000000001"`, 4, 5, "the body's hash"},
		{"a", "s-1", "1", 304, "", tag(`{"old":1}`), 4, 5, ""},
		{"a", "s-1", "1", 304, "", tag(`{"new":1}`), 4, 5, "not the document"},
		{"a", "p-1", "1", 404, `{"error":"product 1 not found"}`, "", 6, 7, "not the document"},
		{"a", "p-2", "2", 404, `{"error":"product 2 not found"}`, "", 6, 7, ""},
		{"a", "l-9-5", "l-9-5", 200, `[]`, ptag(`[]`), 6, 7, ""},
	})

	// A killed build: its documents must never have been served.
	c.expect(newR)
	run(t, c, []call{{"a", "s-1", "1", 200, `{"new":1}`, tag(`{"new":1}`), 10, 11, ""}})
	if err := c.abort(); err == nil || !strings.Contains(err.Error(), "never went live") {
		t.Errorf("abort after a new body: %v", err)
	}
	run(t, c, []call{{"a", "s-1", "1", 200, `{"new":1}`, tag(`{"new":1}`), 12, 13, "not the document"}})

	// A swap: old and new are both right, but not old after new on one
	// instance; another instance has its own order.
	c = newChecker(oldR)
	c.expect(newR)
	g := c.live(2, at(20))
	run(t, c, []call{
		{"a", "s-1", "1", 200, `{"old":1}`, tag(`{"old":1}`), 15, 16, ""},
		{"a", "s-1", "1", 200, `{"new":1}`, tag(`{"new":1}`), 21, 22, ""},
		{"b", "s-1", "1", 200, `{"old":1}`, tag(`{"old":1}`), 23, 24, ""},
		{"a", "s-1", "1", 200, `{"old":1}`, tag(`{"old":1}`), 21, 25, ""}, // in flight with the new one
		{"a", "s-1", "1", 200, `{"old":1}`, tag(`{"old":1}`), 26, 27, "older body"},
		{"a", "l-1-5", "l-1-5", 200, `[{"id":1,"name":"a"}]`, ptag(`[{"id":1,"name":"a"}]`), 1500, 1501, ""},
	})
	lag, late, _ := c.swapFigures(g)
	if lag != 1481*time.Millisecond || late != 1 {
		t.Errorf("swap figures: last old %v after the commit, %d late; want 1.481s, 1", lag, late)
	}
}
