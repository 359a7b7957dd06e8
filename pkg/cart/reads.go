package cart

import (
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Reads batch like adds (batch.go): one statement reads the carts of every
// session waiting, instead of one statement, one round trip and one
// backend's turn per GET /cart. Two runners, so that one batch is being
// read while the next one gathers, and both of a small machine's cores can
// serve a batch each.
const (
	maxReadBatch = 128
	readRunners  = 2
)

// reads is the store's read batcher.
type reads struct {
	store *Store
	batcher[*read]

	batches, reads atomic.Uint64 // run so far, for Stats
}

func (r *reads) init(s *Store) {
	r.store = s
	r.batcher = batcher[*read]{max: maxReadBatch, runners: readRunners, do: r.run}
}

// read is one queued cart read and, once done, its outcome.
type read struct {
	pending
	session Session
	items   []Item
	err     error
}

// run reads the carts of reads' sessions in one statement. Its rows come
// ordered by session, then by the order each sku entered its cart; each
// read takes its session's. A read always starts after its caller asked,
// on the primary: a GET /cart after a 201 sees the unit (read-your-writes).
func (r *reads) run(reads []*read) {
	ctx, cancel := batchContext(reads)
	defer cancel()
	bySession := make(map[Session][]*read, len(reads))
	sessions := make([][]byte, 0, len(reads))
	for _, rd := range reads {
		rd.items, rd.err = nil, nil
		if _, ok := bySession[rd.session]; !ok {
			sessions = append(sessions, rd.session[:])
		}
		bySession[rd.session] = append(bySession[rd.session], rd)
	}
	carts := make(map[Session][]Item, len(sessions))
	err := r.store.retry(ctx, func() error {
		clear(carts)
		rows, err := r.store.pool.Query(ctx, q["list_many"], sessions)
		if err != nil {
			return err
		}
		var (
			raw  []byte
			s    Session
			item Item
		)
		_, err = pgx.ForEachRow(rows, []any{&raw, &item.SkuID, &item.Count}, func() error {
			copy(s[:], raw)
			carts[s] = append(carts[s], item)
			return nil
		})
		return err
	})
	for s, rds := range bySession {
		for _, rd := range rds {
			rd.items, rd.err = carts[s], err
		}
	}
	if err == nil {
		r.batches.Add(1)
		r.reads.Add(uint64(len(reads)))
	}
}
