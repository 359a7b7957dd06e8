package cart

import "github.com/jackc/pgx/v5"

// Reads batch like adds (over the Store's batcher reads, batch.go): one
// statement reads the carts of every session waiting, instead of one
// statement, one round trip and one backend's turn per GET /cart. Two
// runners, so that one batch is being read while the next one gathers, and
// both of a small machine's cores can serve a batch each.
const (
	maxReadBatch = 128
	readRunners  = 2
)

// read is one queued cart read and, once done, its outcome.
type read struct {
	pending
	session Session
	items   []Item
	err     error
}

// readCarts reads the carts of reads' sessions in one statement (a session
// asked twice is simply named twice: ANY matches each row once). Its rows
// come ordered by session, then by the order each sku entered its cart;
// each read takes its session's. A read always starts after its caller
// asked, on the primary: a GET /cart after a 201 sees the unit
// (read-your-writes).
func (s *Store) readCarts(reads []*read) {
	ctx, cancel := batchContext(reads)
	defer cancel()
	sessions := make([][]byte, len(reads))
	for i, rd := range reads {
		sessions[i] = rd.session[:]
	}
	carts := make(map[Session][]Item, len(reads))
	err := s.retry(ctx, func() error {
		clear(carts)
		rows, err := s.pool.Query(ctx, q["list_many"], sessions)
		if err != nil {
			return err
		}
		var (
			raw  []byte
			sess Session
			item Item
		)
		_, err = pgx.ForEachRow(rows, []any{&raw, &item.SkuID, &item.Count}, func() error {
			copy(sess[:], raw)
			carts[sess] = append(carts[sess], item)
			return nil
		})
		return err
	})
	for _, rd := range reads {
		rd.items, rd.err = carts[rd.session], err
	}
	if err == nil {
		s.readBatches.Add(1)
		s.readsDone.Add(uint64(len(reads)))
	}
}
