package cart

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// testJob is a job that records nothing but its name.
type testJob struct {
	pending
	name string
}

// TestBatcherGathers: a job that finds the batcher idle runs at once, in a
// batch of its own; jobs queued while a batch runs wait for more (here for
// as long as the test runs) and go as soon as the queue holds max; jobs
// queued behind an idle-started batch without gather, or with gather while
// busy says no, go as they are.
func TestBatcherGathers(t *testing.T) {
	yes, no := func() bool { return true }, func() bool { return false }
	for _, tc := range []struct {
		name   string
		gather time.Duration
		busy   func() bool
		want   [][]string
	}{
		// The second batch waits for c, which comes 50 ms later, and is
		// full with it.
		{"gather", time.Minute, nil, [][]string{{"a"}, {"b", "c"}}},
		{"gather while busy", time.Minute, yes, [][]string{{"a"}, {"b", "c"}}},
		// Without gather, b goes alone as soon as a is done.
		{"no gather", 0, nil, [][]string{{"a"}, {"b"}, {"c"}}},
		{"gather, not busy", time.Minute, no, [][]string{{"a"}, {"b"}, {"c"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b *batcher[*testJob]
			var mu sync.Mutex
			var batches [][]string
			var wg sync.WaitGroup
			submit := func(name string) {
				wg.Go(func() {
					if err := b.submit(context.Background(), &testJob{name: name}); err != nil {
						t.Error(err)
					}
				})
			}
			queued := func(n int) {
				for {
					b.mu.Lock()
					l := len(b.queue)
					b.mu.Unlock()
					if l >= n {
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
			b = &batcher[*testJob]{max: 2, runners: 1, gather: tc.gather, busy: tc.busy, do: func(jobs []*testJob) {
				mu.Lock()
				var names []string
				for _, j := range jobs {
					names = append(names, j.name)
				}
				batches = append(batches, names)
				first := len(batches) == 1
				mu.Unlock()
				if first {
					// b is queued while a runs; c comes a while after a is done.
					submit("b")
					queued(1)
					go func() {
						time.Sleep(50 * time.Millisecond)
						submit("c")
					}()
				}
			}}
			submit("a")
			// c is submitted by a goroutine that wg does not know of yet:
			// wait until all three batches (or two) have run.
			for {
				mu.Lock()
				n := 0
				for _, bt := range batches {
					n += len(bt)
				}
				mu.Unlock()
				if n == 3 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			wg.Wait()
			if !slices.EqualFunc(batches, tc.want, slices.Equal) {
				t.Errorf("batches %v, want %v", batches, tc.want)
			}
		})
	}
}
