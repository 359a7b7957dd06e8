package cart

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// batcher runs concurrent requests together: a request queues itself and
// waits; up to runners goroutines at a time each take everything queued
// (up to max requests) and hand it to do as one batch. Nothing waits on
// purpose: under light load a batch is one request and costs what a lone
// request did; under load the requests that arrive while a batch runs make
// the next one, so the cost per request falls as the rate rises. The
// cart's adds (group commit) and its reads both go through one.
//
// With gather set, a runner that has just run a batch and finds fewer than
// max jobs queued waits until the oldest of them has waited gather (or
// the queue fills) before taking them: under a steady stream a batch then
// holds about gather × rate jobs instead of the few that arrived during
// one round trip, and the cost per batch (a commit, its WAL flush, its
// wakeups) is shared by that many. A job that finds the batcher idle is
// still taken at once: gather costs latency only under load, and at most
// gather. With busy set, a runner gathers only while busy says so (the
// machine's CPU is scarce): otherwise it takes what is queued at once.
type batcher[J job] struct {
	max, runners int
	gather       time.Duration
	busy         func() bool // nil: always
	do           func([]J)   // runs a batch; run then signals each of its jobs done

	mu      sync.Mutex
	queue   []J
	running int           // runner goroutines taking batches from queue
	waiting int           // runners gathering: submit wakes them when the queue fills
	full    chan struct{} // made by the first runner that gathers
}

// job is one queued request: its caller's deadline, and whether a batch has
// taken it or its caller gave up first.
type job interface{ queued() *pending }

// pending is the part of a job that the batcher owns.
type pending struct {
	deadline time.Time // the caller's, zero for none
	since    time.Time // when it was queued (set only when the batcher gathers)
	state    atomic.Int32
	done     chan struct{} // buffered: a runner never waits for a caller that gave up
}

func (p *pending) queued() *pending { return p }

// The states of a job.
const (
	jobQueued    int32 = iota
	jobTaken           // in a batch being run
	jobAbandoned       // its caller gave up before a batch took it
)

// submit queues j and waits until its batch has run. It returns ctx's error
// when ctx ends first: j may or may not have run.
func (b *batcher[J]) submit(ctx context.Context, j J) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := j.queued()
	p.done = make(chan struct{}, 1)
	p.deadline, _ = ctx.Deadline()
	if b.gather > 0 {
		p.since = time.Now()
	}
	b.mu.Lock()
	b.queue = append(b.queue, j)
	start := b.running < b.runners
	if start {
		b.running++
	}
	if b.waiting > 0 && len(b.queue) >= b.max {
		select {
		case b.full <- struct{}{}:
		default: // already signalled
		}
	}
	b.mu.Unlock()
	if start {
		go b.run()
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		p.state.CompareAndSwap(jobQueued, jobAbandoned) // not sent, if not taken yet
		return ctx.Err()
	}
}

// run takes batches until the queue is empty.
func (b *batcher[J]) run() {
	var taken, live []J
	var timer *time.Timer
	for ran := false; ; ran = true {
		b.mu.Lock()
		if ran && b.gather > 0 && len(b.queue) > 0 && len(b.queue) < b.max && (b.busy == nil || b.busy()) {
			timer = b.gatherMore(timer)
		}
		n := min(len(b.queue), b.max)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return
		}
		taken = append(taken[:0], b.queue[:n]...)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()

		// A job whose caller's deadline has passed is not sent: its caller
		// answers that it timed out, and (for an add) the unit must not
		// land in the cart behind that answer when it can be helped.
		live = live[:0]
		now := time.Now()
		for _, j := range taken {
			p := j.queued()
			if !p.deadline.IsZero() && !now.Before(p.deadline) {
				p.state.CompareAndSwap(jobQueued, jobAbandoned)
				continue
			}
			if p.state.CompareAndSwap(jobQueued, jobTaken) {
				live = append(live, j)
			}
		}
		clear(taken)
		if len(live) > 0 {
			b.do(live)
			for _, j := range live {
				j.queued().done <- struct{}{}
			}
			clear(live)
		}
	}
}

// gatherMore waits, with b.mu held on entry and on return, until the
// oldest queued job has waited b.gather or the queue holds b.max jobs. It
// returns the timer it waited on, for the next call.
func (b *batcher[J]) gatherMore(timer *time.Timer) *time.Timer {
	wait := time.Until(b.queue[0].queued().since.Add(b.gather))
	if wait <= 0 {
		return timer
	}
	if b.full == nil {
		b.full = make(chan struct{}, 1)
	}
	if timer == nil {
		timer = time.NewTimer(wait)
	} else {
		timer.Reset(wait)
	}
	b.waiting++
	b.mu.Unlock()
	select {
	case <-timer.C:
	case <-b.full:
		timer.Stop()
	}
	b.mu.Lock()
	b.waiting--
	select {
	case <-b.full: // a signal for a wait that has ended
	default:
	}
	return timer
}

// latest is the latest deadline of jobs; false when one has none.
func latest[J job](jobs []J) (time.Time, bool) {
	var d time.Time
	for _, j := range jobs {
		p := j.queued()
		if p.deadline.IsZero() {
			return time.Time{}, false
		}
		if p.deadline.After(d) {
			d = p.deadline
		}
	}
	return d, true
}

// batchContext is the context a batch of jobs runs under: it ends at the
// latest of their deadlines, so that no caller still waiting is cut short.
func batchContext[J job](jobs []J) (context.Context, context.CancelFunc) {
	if d, ok := latest(jobs); ok {
		return context.WithDeadline(context.Background(), d)
	}
	return context.Background(), func() {}
}
