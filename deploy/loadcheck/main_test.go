package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/internal/pgtest"
	sqlfiles "github.com/elier/catalogue/sql"
)

// TestAwait: await sees an API switch by its /metrics and a proxy by the
// body it serves, neither before the switch, and refuses a -path whose
// document the new build did not change (its switch could not be seen).
func TestAwait(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, sqlfiles.Must("catalog.sql")); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	doc := func(styles string) []pgtest.Doc {
		return []pgtest.Doc{{ID: 1, ListItem: []byte(`{"id":1}`), Product: []byte(`{"id":1}`), Styles: []byte(styles), Related: []byte(`[]`)}}
	}
	pgtest.InstallBuild(t, url, 1, doc(`{"v":1}`), 0, false)

	// A fake API (its /metrics) and a fake proxy (the document), switched
	// by hand.
	var build atomic.Int64
	var body atomic.Value
	build.Store(1)
	body.Store(`{"v":1}`)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "# TYPE elier_live_build_id gauge\nelier_live_build_id %d\n", build.Load())
	}))
	defer api.Close()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/products/1/styles" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body.Load().(string))
	}))
	defer proxy.Close()

	type result struct {
		r   *awaitResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := awaitCmd(ctx, []string{"-after", "1", "-db", url, "-timeout", "30s", "-every", "10ms", "-body", proxy.URL, api.URL})
		done <- result{r, err}
	}()
	time.Sleep(200 * time.Millisecond) // a few polls of the old build
	select {
	case r := <-done:
		t.Fatalf("await returned before any switch: %+v, %v", r.r, r.err)
	default:
	}
	pgtest.InstallBuild(t, url, 2, doc(`{"v":2}`), 1, false)
	switched := time.Now()
	build.Store(2)
	body.Store(`{"v":2}`)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.r.Build != 2 || len(r.r.SeenAt) != 2 {
		t.Fatalf("await: %+v, want build 2 seen at both targets", r.r)
	}
	for target, at := range r.r.SeenAt {
		seen, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatal(err)
		}
		if seen.Before(switched) {
			t.Errorf("%s seen switched at %v, before it was (%v)", target, seen, switched)
		}
	}

	// Build 3 leaves the polled document as it is: a proxy's switch to it
	// cannot be told by that document.
	go func() {
		r, err := awaitCmd(ctx, []string{"-after", "2", "-db", url, "-timeout", "30s", "-every", "10ms", "-body", proxy.URL})
		done <- result{r, err}
	}()
	time.Sleep(200 * time.Millisecond)
	pgtest.InstallBuild(t, url, 3, doc(`{"v":2}`), 2, false)
	if r := <-done; r.err == nil || !strings.Contains(r.err.Error(), "pick another -path") {
		t.Errorf("await of an unchanged document: %+v, %v; want a refusal", r.r, r.err)
	}
}
