package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCart is a cart server over real HTTP whose failures the test turns
// on: 503s (with or without Retry-After) and forgetting units it already
// acknowledged, as a failover to a standby that missed them would.
type fakeCart struct {
	mu      sync.Mutex
	carts   map[string]map[int]int
	order   map[string][]int
	down    atomic.Bool
	noRetry atomic.Bool
	forget  atomic.Int64 // units to drop, one per next add
	added   atomic.Int64
}

func (f *fakeCart) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("Authorization")
	if f.down.Load() {
		if !f.noRetry.Load() {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.carts[tok]
	if c == nil {
		c = map[int]int{}
		f.carts[tok] = c
	}
	if r.Method == http.MethodGet {
		var b bytes.Buffer
		b.WriteByte('[')
		for i, sku := range f.order[tok] {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"sku_id":%d,"count":%d}`, sku, c[sku])
		}
		b.WriteByte(']')
		w.Write(b.Bytes())
		return
	}
	var a struct {
		Sku int `json:"sku_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if c[a.Sku] == 0 {
		f.order[tok] = append(f.order[tok], a.Sku)
	}
	if c[a.Sku] > 0 && f.forget.Load() > 0 {
		f.forget.Add(-1)
		c[a.Sku]-- // a unit acknowledged before is gone
	}
	c[a.Sku]++
	f.added.Add(1)
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sku_id":%d,"count":%d}`, a.Sku, c[a.Sku])
}

func runCart(t *testing.T, f *fakeCart, during func()) *cartResult {
	t.Helper()
	srv := httptest.NewServer(f)
	defer srv.Close()
	go func() {
		for f.added.Load() < 20 {
			time.Sleep(5 * time.Millisecond)
		}
		during()
	}()
	r, err := cartCmd(context.Background(), []string{"-url", srv.URL, "-skus", "7,8", "-d", "1500ms",
		"-rate", "200", "-sessions", "2", "-verify", "5s"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCartCountsLostAndUnavailable: a clean run loses nothing; units the
// server forgets are counted as lost; a 503 window is counted as
// unavailable with its span, and one without Retry-After as bad.
func TestCartCountsLostAndUnavailable(t *testing.T) {
	clean := runCart(t, &fakeCart{carts: map[string]map[int]int{}, order: map[string][]int{}}, func() {})
	if clean.Created < 20 || clean.Lost != 0 || clean.Unavailable != 0 || clean.Bad != 0 || clean.Checked == 0 {
		t.Errorf("clean run: %+v", clean)
	}

	f := &fakeCart{carts: map[string]map[int]int{}, order: map[string][]int{}}
	lossy := runCart(t, f, func() { f.forget.Store(3) })
	if f.forget.Load() != 0 {
		t.Fatalf("the server forgot only %d of 3 units", 3-f.forget.Load())
	}
	if lossy.Lost != 3 || lossy.LostBySequence != 3 {
		t.Errorf("3 units forgotten: lost %d (by sequence %d, at end %d)", lossy.Lost, lossy.LostBySequence, lossy.LostAtEnd)
	}

	f = &fakeCart{carts: map[string]map[int]int{}, order: map[string][]int{}}
	down := runCart(t, f, func() {
		f.down.Store(true)
		time.Sleep(300 * time.Millisecond)
		f.down.Store(false)
	})
	if down.Unavailable == 0 || down.Bad != 0 || down.Lost != 0 {
		t.Errorf("a 503 window: %+v", down)
	}
	// Every failure lies between the last 201 before the window and the
	// first after it.
	if down.FirstFailure < down.MaxGapFrom || down.MaxGap < down.FailureWindow {
		t.Errorf("failures from %.3f for %.3f s, outside the longest gap between 201s (from %.3f, %.3f s)",
			down.FirstFailure, down.FailureWindow, down.MaxGapFrom, down.MaxGap)
	}

	f = &fakeCart{carts: map[string]map[int]int{}, order: map[string][]int{}}
	f.noRetry.Store(true)
	bad := runCart(t, f, func() {
		f.down.Store(true)
		time.Sleep(100 * time.Millisecond)
		f.down.Store(false)
	})
	if bad.Bad == 0 || bad.Unavailable != 0 {
		t.Errorf("503s without Retry-After: bad %d, unavailable %d", bad.Bad, bad.Unavailable)
	}
}
