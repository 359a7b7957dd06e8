package build

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/elier/catalogue/pkg/loader"
)

// The direct path builds the documents from the CSV files themselves: the
// loader streams all six files at once (loader.Stream, after a first pass
// over product.csv and styles.csv for the parent sets), and the merge reads
// them side by side as it reads the staging tables on the other path. No
// row of the export goes through PostgreSQL, so an incremental build costs
// about one read of the files plus what changed, and a full build one read
// plus the documents' COPY. It needs every file grouped by product in
// ascending order, as the real export is; the merge checks that row by row
// and, the first time it is not, the build starts again on the staging
// path, which sorts.

// errNotGrouped is the direct path giving up on an export out of order.
var errNotGrouped = errors.New("the export is not grouped by product")

// direct builds the documents of r's export without staging. It returns
// errNotGrouped when the export is out of order; then nothing of it is
// kept (the target is truncated by the caller's fallback).
func (r *run) direct(ctx context.Context, j *docJob) (*loader.Result, *diff, error) {
	parents, err := loader.ReadParents(ctx, r.opts.Dir, loader.Options{
		RejectDir: r.opts.RejectDir, MaxRejectRatio: r.opts.MaxRejectRatio, Log: r.log,
	})
	if err != nil {
		return nil, nil, err
	}
	var chans [len(loader.Tables)]chan *loader.Batch
	var out [len(loader.Tables)]chan<- *loader.Batch
	for i := range chans {
		chans[i] = make(chan *loader.Batch, 4)
		out[i] = chans[i]
	}
	g, gctx := errgroup.WithContext(ctx)
	var res *loader.Result
	g.Go(func() error {
		var err error
		res, err = loader.Stream(gctx, r.export, parents, loader.Options{
			RejectDir: r.opts.RejectDir, MaxRejectRatio: r.opts.MaxRejectRatio, Log: r.log,
		}, out)
		return err
	})
	var d *diff
	g.Go(func() error {
		streams := [len(loader.Tables)]*batchStream{}
		for _, t := range loader.Tables {
			streams[t] = newBatchStream(gctx, t, chans[t])
		}
		// Whatever the merge leaves unread is drained, so that the loader's
		// goroutines end.
		defer func() {
			for _, s := range streams {
				s.drain()
			}
		}()
		for _, s := range streams {
			if err := s.advance(); err != nil {
				return err
			}
		}
		var base *baseStream
		if j.compare {
			var err error
			if base, err = openBase(gctx, j, docRange{lo: 0, hi: 1<<31 - 1}); err != nil {
				return err
			}
			defer base.close()
		}
		src := &docSource{p: streams[loader.Products], f: streams[loader.Features], st: streams[loader.Styles],
			sk: streams[loader.Skus], ph: streams[loader.Photos], rel: streams[loader.Related]}
		src.hashInputs()
		var err error
		d, err = mergeInto(gctx, j, src, base)
		return err
	})
	err = g.Wait()
	if errors.Is(err, errOutOfOrder) {
		return nil, nil, fmt.Errorf("%w: %w", errNotGrouped, err)
	}
	if err != nil {
		return res, nil, err
	}
	return res, d, nil
}

// batchStream is one file's accepted rows, as the loader streams them,
// projected onto docColumns and checked to come in document order.
type batchStream struct {
	ctx    context.Context
	t      loader.Table
	in     <-chan *loader.Batch
	cur    *loader.Batch
	i      int
	cols   []int // docColumns[t][k] is staging column cols[k]
	keys   int
	k0, k1 int64

	// The input hash: every row the stream moves past is mixed into input
	// (rows counts them).
	input, rows uint64
	// A mark to come back to: the position, and the batches passed since
	// (kept, not released); queue holds batches to read again before the
	// channel's.
	marked bool
	at     streamPos
	held   []*loader.Batch
	queue  []*loader.Batch
}

type streamPos struct {
	cur    *loader.Batch
	i      int
	k0, k1 int64
}

func newBatchStream(ctx context.Context, t loader.Table, in <-chan *loader.Batch) *batchStream {
	s := &batchStream{ctx: ctx, t: t, in: in, keys: 1, k0: -1}
	staging := loader.StagingColumns(t)
	for _, name := range docColumns[t] {
		for i, c := range staging {
			if c.Name == name {
				s.cols = append(s.cols, i)
			}
		}
	}
	if len(s.cols) != len(docColumns[t]) {
		panic(fmt.Sprintf("build: %s: docColumns %v not all staging columns", t, docColumns[t]))
	}
	switch t {
	case loader.Styles, loader.Skus, loader.Photos:
		s.keys = 2
	}
	return s
}

func (s *batchStream) table() string { return s.t.String() }

func (s *batchStream) key() int64 {
	if s.cur == nil {
		return -1
	}
	return s.int(0)
}

func (s *batchStream) int(i int) int64   { return s.cur.Int(s.i, s.cols[i]) }
func (s *batchStream) bool(i int) bool   { return s.cur.Int(s.i, s.cols[i]) != 0 }
func (s *batchStream) text(i int) []byte { return s.cur.Bytes(s.i, s.cols[i]) }

// advance moves to the next row, checking that (product, second key)
// ascends, strictly for products.
func (s *batchStream) advance() error {
	if s.cur != nil {
		s.hashRow()
		s.i++
	}
	for s.cur == nil || s.i >= s.cur.N {
		if s.cur != nil {
			if s.marked {
				s.held = append(s.held, s.cur)
			} else {
				loader.Release(s.cur)
			}
			s.cur = nil
		}
		if len(s.queue) > 0 {
			s.cur, s.i = s.queue[0], 0
			s.queue = s.queue[1:]
			continue
		}
		select {
		case b, ok := <-s.in:
			if !ok {
				return nil
			}
			s.cur, s.i = b, 0
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
	k0, k1 := s.int(0), int64(0)
	if s.keys == 2 {
		k1 = s.int(1)
	}
	if k0 < s.k0 || (k0 == s.k0 && k1 < s.k1) || (s.t == loader.Products && k0 == s.k0) {
		return fmt.Errorf("%s: key (%d, %d) after (%d, %d): %w", s.t.File(), k0, k1, s.k0, s.k1, errOutOfOrder)
	}
	s.k0, s.k1 = k0, k1
	return nil
}

// hashRow adds the current row to the input hash: the row's own hash (the
// loader's, of its values), mixed in order.
func (s *batchStream) hashRow() {
	s.input = loader.Mix(s.input, s.cur.Hash(s.i))
	s.rows++
}

func (s *batchStream) resetInput()      { s.input, s.rows = 0, 0 }
func (s *batchStream) inputSum() uint64 { return s.input ^ s.rows }

// mark remembers the position, to come back to it with rewind.
func (s *batchStream) mark() {
	s.marked, s.held = true, s.held[:0]
	s.at = streamPos{cur: s.cur, i: s.i, k0: s.k0, k1: s.k1}
}

// rewind goes back to the mark: the batches passed since are read again.
func (s *batchStream) rewind() {
	var again []*loader.Batch
	if len(s.held) > 0 {
		again = append(again, s.held[1:]...) // held[0] is the mark's batch
		if s.cur != nil {
			again = append(again, s.cur)
		}
	}
	s.queue = append(again, s.queue...)
	s.cur, s.i, s.k0, s.k1 = s.at.cur, s.at.i, s.at.k0, s.at.k1
	s.marked, s.held = false, s.held[:0]
}

// unmark forgets the mark, releasing the batches passed since.
func (s *batchStream) unmark() {
	for _, b := range s.held {
		loader.Release(b)
	}
	s.marked, s.held = false, s.held[:0]
}

// drain releases what is left of the stream.
func (s *batchStream) drain() {
	s.unmark()
	for _, b := range s.queue {
		loader.Release(b)
	}
	s.queue = nil
	if s.cur != nil {
		loader.Release(s.cur)
		s.cur = nil
	}
	for {
		select {
		case b, ok := <-s.in:
			if !ok {
				return
			}
			loader.Release(b)
		case <-s.ctx.Done():
			return
		}
	}
}
