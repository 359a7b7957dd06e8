package cart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxGroup bounds the adds one transaction commits.
const maxGroup = 64

// group commits concurrent adds together. An add queues itself; one runner
// at a time takes everything queued (up to maxGroup) and commits it in one
// implicit transaction: a single pipeline of statements, one round trip,
// one commit and one WAL flush for the whole group, instead of one of each
// per add. Nothing waits on purpose: under light load a group is one add
// and costs what a lone add did; under load the adds that arrive while a
// group commits make the next group, so the database's and the API's cost
// per add falls as the rate rises (what commit_delay tries to do inside
// PostgreSQL, without the delay).
//
// Each add keeps its own statements and its own outcome: the group's adds
// run in session order, each its lock then its upsert, and a statement's
// snapshot sees the group's earlier adds (READ COMMITTED), so the stock and
// sku limits hold within a group as across groups. Session order is the
// same lock order in every group (and every API instance), so groups never
// deadlock. An error from the server rolls the whole group back; its adds
// are then retried one by one, each getting its own answer.
type group struct {
	store *Store

	mu      sync.Mutex
	queue   []*add
	running bool // a runner goroutine is taking groups from queue

	groups, adds atomic.Uint64 // committed so far, for Stats
}

// add is one queued add and, once done is signalled, its outcome.
type add struct {
	session  Session
	sku      int32
	deadline time.Time // the caller's, zero for none
	state    atomic.Int32
	done     chan struct{} // buffered: the runner never waits for a caller that gave up

	count, quantity *int32 // the add statement's answer
	skus            int64
	err             error
}

// The states of an add.
const (
	addQueued    int32 = iota
	addTaken           // in a group being committed
	addAbandoned       // its caller gave up before a group took it
)

// result is the add's outcome as Store.Add returns it.
func (a *add) result() (int32, error) {
	switch {
	case a.err != nil:
		return 0, translate(a.err, "adding to a cart")
	case a.count != nil:
		return *a.count, nil
	case a.quantity == nil:
		return 0, fmt.Errorf("sku %d: %w", a.sku, ErrNoSku)
	case a.skus >= MaxSkus:
		return 0, fmt.Errorf("sku %d: %d skus: %w", a.sku, a.skus, ErrFull)
	}
	return 0, fmt.Errorf("sku %d: quantity %d: %w", a.sku, *a.quantity, ErrOverStock)
}

// submit queues a and waits for its group to commit. It returns ctx's
// error when ctx ends first: the add may or may not have been committed.
func (g *group) submit(ctx context.Context, a *add) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.deadline, _ = ctx.Deadline()
	g.mu.Lock()
	g.queue = append(g.queue, a)
	start := !g.running
	g.running = true
	g.mu.Unlock()
	if start {
		go g.run()
	}
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		a.state.CompareAndSwap(addQueued, addAbandoned) // not sent, if not taken yet
		return ctx.Err()
	}
}

// run commits groups until the queue is empty.
func (g *group) run() {
	var taken, live []*add
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		taken = append(taken[:0], g.queue[:n]...)
		rest := copy(g.queue, g.queue[n:])
		clear(g.queue[rest:])
		g.queue = g.queue[:rest]
		g.mu.Unlock()

		// An add whose caller's deadline has passed is not sent: its
		// caller answers that it timed out, and the unit must not land in
		// the cart behind that answer when it can be helped.
		live = live[:0]
		now := time.Now()
		for _, a := range taken {
			if !a.deadline.IsZero() && !now.Before(a.deadline) {
				a.state.CompareAndSwap(addQueued, addAbandoned)
				continue
			}
			if a.state.CompareAndSwap(addQueued, addTaken) {
				live = append(live, a)
			}
		}
		clear(taken)
		if len(live) > 0 {
			g.commit(live)
			clear(live)
		}
	}
}

// commit runs adds in one transaction and signals each its outcome.
func (g *group) commit(adds []*add) {
	// Session order: the lock order of every group. Stable: one session's
	// adds keep their arrival order.
	slices.SortStableFunc(adds, func(a, b *add) int { return bytes.Compare(a.session[:], b.session[:]) })
	err := g.exec(adds)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !unavailableCode(pe.Code) && len(adds) > 1 {
		// The server refused one statement and rolled the group back:
		// nothing of it was committed. Each add alone gets its own answer.
		// (A server that is away or read-only answers every add alike.)
		for _, a := range adds {
			a.err = g.exec([]*add{a})
		}
	} else {
		for _, a := range adds {
			a.err = err
		}
	}
	for _, a := range adds {
		a.done <- struct{}{}
	}
}

// exec sends adds as one pipeline and reads their answers. The pipeline's
// single Sync makes one implicit transaction of it; Close reads up to the
// server's ReadyForQuery, which follows that transaction's commit (and its
// WAL flush): the callers' 201s come after that, never after a statement's
// own answer.
func (g *group) exec(adds []*add) error {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if d, ok := latest(adds); ok {
		ctx, cancel = context.WithDeadline(ctx, d)
	}
	defer cancel()
	s := g.store
	err := s.retry(ctx, func() error {
		b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2*len(adds))}
		for _, a := range adds {
			a.count, a.quantity, a.skus = nil, nil, 0
			b.Queue(q["lock"], a.session[:], s.touchEvery.Seconds())
			b.Queue(q["add"], a.session[:], a.sku, MaxSkus).QueryRow(func(r pgx.Row) error {
				return r.Scan(&a.count, &a.quantity, &a.skus)
			})
		}
		return s.pool.SendBatch(ctx, b).Close()
	})
	if err == nil {
		g.groups.Add(1)
		g.adds.Add(uint64(len(adds)))
	}
	return err
}

// latest is the latest deadline of adds; false when one has none.
func latest(adds []*add) (time.Time, bool) {
	var d time.Time
	for _, a := range adds {
		if a.deadline.IsZero() {
			return time.Time{}, false
		}
		if a.deadline.After(d) {
			d = a.deadline
		}
	}
	return d, true
}

// Stats are the store's counters since it was made.
type Stats struct {
	// Groups committed, and the adds they held: Adds/Groups is the mean
	// group size (1 under light load).
	Groups, Adds uint64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Groups: s.group.groups.Load(), Adds: s.group.adds.Load()}
}
