package api

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/elier/catalogue/pkg/readmodel"
)

const (
	// maxBatch bounds the lookups one statement answers.
	maxBatch = 64
	// queueLen bounds the misses waiting for a worker; past it a miss
	// waits to be queued, within its timeout.
	queueLen = 4096
)

// batcher coalesces the cache misses of concurrent requests. A miss queues
// its lookup and waits; each worker (a few, each using one database
// connection at a time) takes a lookup and whatever else is queued, up to
// maxBatch, and answers them all with one statement (readmodel.Reader.Docs). Under light
// load a batch is a single lookup and costs what a lone query does; under
// load one round trip, one statement and one pair of syscalls serve many
// requests, which is what lets misses keep up.
type batcher struct {
	reader  *readmodel.Reader
	queue   chan *pending
	base    context.Context
	timeout time.Duration

	batches, lookups atomic.Uint64 // for /metrics
}

// pending is one queued lookup. The worker writes lookup then signals done
// (buffered, so it never blocks on a requester that gave up).
type pending struct {
	lookup    readmodel.Lookup
	done      chan struct{}
	abandoned atomic.Bool // the requester timed out: skip it
}

func newBatcher(reader *readmodel.Reader, base context.Context, timeout time.Duration) *batcher {
	return &batcher{reader: reader, queue: make(chan *pending, queueLen), base: base, timeout: timeout}
}

// errTimeout is what a lookup that outlived the timeout returns.
var errTimeout = fmt.Errorf("waiting for the database: %w: %w", readmodel.ErrUnavailable, context.DeadlineExceeded)

// lookup answers one document lookup, as readmodel.Reader.Doc does, within
// the batcher's timeout.
func (b *batcher) lookup(d readmodel.Doc, id int32) (build, hash int64, body []byte, err error) {
	p := &pending{lookup: readmodel.Lookup{Doc: d, ID: id}, done: make(chan struct{}, 1)}
	t := time.NewTimer(b.timeout)
	defer t.Stop()
	select {
	case b.queue <- p:
	case <-t.C:
		return 0, 0, nil, errTimeout
	}
	select {
	case <-p.done:
		return p.lookup.Build, p.lookup.Hash, p.lookup.Body, p.lookup.Err
	case <-t.C:
		p.abandoned.Store(true)
		return 0, 0, nil, errTimeout
	}
}

// work answers queued lookups until ctx ends.
func (b *batcher) work(ctx context.Context) {
	batch := make([]*pending, 0, maxBatch)
	ls := make([]readmodel.Lookup, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-b.queue:
			batch = append(batch[:0], p)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case p := <-b.queue:
				batch = append(batch, p)
			default:
				break more
			}
		}
		ls = ls[:0]
		live := batch[:0]
		for _, p := range batch {
			if !p.abandoned.Load() {
				live = append(live, p)
				ls = append(ls, p.lookup)
			}
		}
		if len(ls) == 0 {
			continue
		}
		b.batches.Add(1)
		b.lookups.Add(uint64(len(ls)))
		qctx, cancel := context.WithTimeout(b.base, b.timeout)
		err := b.reader.Docs(qctx, ls)
		cancel()
		for i, p := range live {
			p.lookup = ls[i]
			if err != nil {
				p.lookup.Err = err
			}
			p.done <- struct{}{}
		}
		clear(batch[:cap(batch)]) // let the answered lookups go
	}
}
