//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cartCrash: POST /cart under load while PostgreSQL is killed with -9 (the
// postmaster and every backend: WAL not yet flushed is gone, as in a power
// cut of the server process) and restarted. Every unit the API
// acknowledged with a 201 is in the carts afterwards; a request that got a
// 503 may or may not have added its unit (the commit and the crash race),
// never more than one; no request gets a 500. The suite's cluster runs
// with synchronous_commit = off (scripts/pg.sh), so this also checks that
// the cart's own setting wins.
func cartCrash(t *testing.T, e *env) {
	db := e.createDB(t, "faults_cart")
	e.mustLoad(t, db, e.export(t, 1)) // elier-etl load applies sql/cart.sql
	p := pool(t, db)
	ctx := context.Background()
	// Fewer skus than a cart may hold, each with more stock than a session
	// adds in the run: a 422 here would mean a lost or double unit.
	rows, err := p.Query(ctx, "SELECT id FROM elier.skus WHERE quantity >= 40 ORDER BY id LIMIT 80")
	if err != nil {
		t.Fatal(err)
	}
	var skus []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		skus = append(skus, id)
	}
	if rows.Err() != nil || len(skus) < 40 {
		t.Fatalf("skus with stock: %d (%v)", len(skus), rows.Err())
	}
	api := e.startAPI(t, "cart", db, true)

	const workers, maxPerSku = 8, 35
	type tally struct{ acked, maybe map[int]int }
	tallies := make([]tally, workers)
	var posts, created, unavailable, refused, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	var lastCreated atomic.Int64 // unix ns of the latest 201
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		tallies[w] = tally{map[int]int{}, map[int]int{}}
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A session adds at most maxPerSku units of a sku, fewer than
				// its stock (>= 40): a 422 stays a sign of a lost or double
				// unit however fast the machine adds.
				sku := skus[rnd.IntN(len(skus))]
				if tallies[w].acked[sku]+tallies[w].maybe[sku] >= maxPerSku {
					continue
				}
				req, _ := http.NewRequest("POST", api.base+"/cart", strings.NewReader(`{"sku_id":`+strconv.Itoa(sku)+`}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "faults-"+strconv.Itoa(w))
				posts.Add(1)
				resp, err := c.Do(req)
				status := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				switch {
				case status == 201:
					created.Add(1)
					lastCreated.Store(time.Now().UnixNano())
					tallies[w].acked[sku]++
				case status == 503 && resp.Header.Get("Retry-After") != "":
					unavailable.Add(1)
					tallies[w].maybe[sku]++
					time.Sleep(20 * time.Millisecond)
				case status == 422:
					refused.Add(1)
				default:
					failed.Add(1)
					failMu.Lock()
					if len(failures) < 5 {
						failures = append(failures, fmt.Sprintf("status %d err %v", status, err))
					}
					failMu.Unlock()
				}
			}
		})
	}

	time.Sleep(3 * time.Second)
	before := created.Load()
	killedAt := time.Now()
	killPostgres(t, filepath.Join(e.dir, "pg", "data", "postmaster.pid"))
	time.Sleep(2 * time.Second)
	e.pg(t, "start")
	upAt := time.Now()
	// Load until adds succeed again (bounded), then a little more.
	for time.Since(upAt) < 30*time.Second && lastCreated.Load() < upAt.UnixNano() {
		time.Sleep(50 * time.Millisecond)
	}
	backAfter := time.Duration(lastCreated.Load() - upAt.UnixNano())
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	if failed.Load() > 0 || refused.Load() > 0 {
		t.Errorf("%d requests failed (not 201 or 503 with Retry-After): %v; %d 422s", failed.Load(), failures, refused.Load())
	}
	if lastCreated.Load() < upAt.UnixNano() {
		t.Fatal("no add succeeded after PostgreSQL came back")
	}
	// Every session's cart, read back through the API.
	var units, extra int
	c := &http.Client{Timeout: 10 * time.Second}
	for w := range workers {
		req, _ := http.NewRequest("GET", api.base+"/cart", nil)
		req.Header.Set("Authorization", "faults-"+strconv.Itoa(w))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var items []struct {
			SkuID int `json:"sku_id"`
			Count int `json:"count"`
		}
		err = json.NewDecoder(resp.Body).Decode(&items)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("GET /cart: %d %v", resp.StatusCode, err)
		}
		got := map[int]int{}
		for _, it := range items {
			got[it.SkuID] = it.Count
		}
		for sku, n := range tallies[w].acked {
			units += n
			if got[sku] < n {
				t.Errorf("session %d sku %d: %d in the cart, %d acknowledged", w, sku, got[sku], n)
			}
		}
		for sku, n := range got {
			if over := n - tallies[w].acked[sku]; over > tallies[w].maybe[sku] {
				t.Errorf("session %d sku %d: %d in the cart, %d acknowledged and %d unanswered", w, sku, n, tallies[w].acked[sku], tallies[w].maybe[sku])
			} else {
				extra += over
			}
		}
	}
	if m := get500s(t, api); m > 0 {
		t.Errorf("/metrics counts %v 500s", m)
	}
	api.stop(t)
	e.reportf("cart_pg_kill", "%d POST /cart by %d sessions: 201 %d (%d before the kill -9), 503 %d, 422 %d, failed %d; all %d acknowledged units in the carts afterwards, %d more from 503s whose commit won the race; adds back %s after pg.sh start returned (killed at +%s)",
		posts.Load(), workers, created.Load(), before, unavailable.Load(), refused.Load(), failed.Load(), units, extra, ms(backAfter), ms(time.Since(killedAt)))
}

// killPostgres kills the postmaster of pidFile and its children with
// SIGKILL, by pid: the postmaster first, so that it restarts nothing.
func killPostgres(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatalf("%s: %v", pidFile, err)
	}
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	for _, f := range strings.Fields(string(children)) {
		if c, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
	}
	// Wait until the postmaster is gone (its pid file stays: PostgreSQL
	// finds it stale at the next start).
	for i := 0; i < 200; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("postmaster %d survived kill -9", pid)
}
