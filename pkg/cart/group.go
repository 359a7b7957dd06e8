package cart

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxGroup bounds the adds one transaction commits.
const maxGroup = 64

// Adds commit in groups (group commit, over the Store's batcher adds,
// batch.go): one runner at a time takes everything queued (up to maxGroup)
// and commits it in one implicit transaction: a single pipeline of
// statements, one round trip, one commit and one WAL flush for the whole
// group, instead of one of each per add (what commit_delay tries to do
// inside PostgreSQL, without the delay).
//
// Each add keeps its own statement and its own outcome: the group first
// takes its sessions' locks (advisory locks, which write nothing), then runs
// its adds in session order, each an upsert whose snapshot sees the group's
// earlier adds (READ COMMITTED), so the stock and sku limits hold within a
// group as across groups. Session order is the same lock order in every
// group (and every API instance), so groups never deadlock. An error from
// the server rolls the whole group back; its adds are then retried one by
// one, each getting its own answer.

// add is one queued add and, once done, its outcome.
type add struct {
	pending
	session Session
	sku     int32

	count, quantity *int32 // the add statement's answer
	skus            int64
	err             error
}

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

// commit runs adds in one transaction and records each its outcome.
func (s *Store) commit(adds []*add) {
	// Session order: the lock order of every group. Stable: one session's
	// adds keep their arrival order.
	slices.SortStableFunc(adds, func(a, b *add) int { return bytes.Compare(a.session[:], b.session[:]) })
	err := s.exec(adds)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !unavailableCode(pe.Code) && len(adds) > 1 {
		// The server refused one statement and rolled the group back:
		// nothing of it was committed. Each add alone gets its own answer.
		// (A server that is away or read-only answers every add alike.)
		for _, a := range adds {
			a.err = s.exec([]*add{a})
		}
		return
	}
	for _, a := range adds {
		a.err = err
	}
}

// exec sends adds as one pipeline and reads their answers. The pipeline's
// single Sync makes one implicit transaction of it; Close reads up to the
// server's ReadyForQuery, which follows that transaction's commit (and its
// WAL flush): the callers' 201s come after that, never after a statement's
// own answer.
func (s *Store) exec(adds []*add) error {
	ctx, cancel := batchContext(adds)
	defer cancel()
	err := s.retry(ctx, func() error {
		b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 1+len(adds))}
		sessions := make([][]byte, len(adds))
		for i, a := range adds {
			sessions[i] = a.session[:]
		}
		b.Queue(q["lock"], sessions)
		for _, a := range adds {
			a.count, a.quantity, a.skus = nil, nil, 0
			b.Queue(q["add"], a.session[:], a.sku, MaxSkus, s.touchEvery.Seconds()).QueryRow(func(r pgx.Row) error {
				return r.Scan(&a.count, &a.quantity, &a.skus)
			})
		}
		return s.pool.SendBatch(ctx, b).Close()
	})
	if err == nil {
		s.commits.Add(1)
		s.committed.Add(uint64(len(adds)))
	}
	return err
}

// Stats are the store's counters since it was made.
type Stats struct {
	// Groups committed, and the adds they held: Adds/Groups is the mean
	// group size (1 under light load).
	Groups, Adds uint64
	// Reads: batches of cart reads run, and the reads they held.
	ReadBatches, Reads uint64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Groups: s.commits.Load(), Adds: s.committed.Load(),
		ReadBatches: s.readBatches.Load(), Reads: s.readsDone.Load(),
	}
}
