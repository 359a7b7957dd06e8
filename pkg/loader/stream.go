package loader

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Stream is Load's other form: the same scanner and checks, but the
// accepted rows of each file go to a channel in batches instead of a
// staging table, all six files at once. A consumer that merges the six
// streams by product (the document builder) then needs no database round
// trip for the export itself: the whole export is read once, plus
// product.csv and styles.csv a second time (ReadParents) so that every
// child can be checked against complete parent sets while all files stream
// side by side.

// Parents are the products and styles (with their products) a load accepts,
// read before the children are checked.
type Parents struct {
	Products IDSet
	Styles   ParentMap
}

// ReadParents reads product.csv and styles.csv of dir with Load's checks,
// writing nothing.
func ReadParents(ctx context.Context, dir string) (*Parents, error) {
	e, err := Open(dir)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	p := &Parents{}
	res := &Result{}
	c := &checks{res: res, parents: &res.Products, styleOf: &p.Styles, stylesSeen: &p.Styles}
	l := &load{ctx: ctx, e: e, res: res, opts: Options{Log: slog.New(slog.DiscardHandler)}}
	if err := drainTable(l, Products, c.product); err != nil {
		return nil, err
	}
	if err := drainTable(l, Styles, c.style); err != nil {
		return nil, err
	}
	p.Products = res.Products
	return p, nil
}

// drainTable reads one file through its checks, keeping nothing.
func drainTable[T any](l *load, t Table, accept func(r *T, pos int32, v []any) (string, string)) error {
	ef := l.e.files[t]
	st := &FileStats{Reasons: map[string]int64{}}
	src := &source[T]{ctx: l.ctx, sc: ef.scanner.(*Scanner[T]), st: st, accept: accept,
		vals: make([]any, len(stagingColumns[t])), prog: &FileProgress{}, counter: ef.counter}
	for src.Next() {
	}
	if err := src.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", t.File(), err)
	}
	return nil
}

// Batch is a run of one file's accepted rows, in file order: each row's
// staging values (StagingColumns order), copied out of the scanner.
type Batch struct {
	Table Table
	N     int // rows
	cols  int
	ints  []int64
	spans [][2]int32 // byte values' arena spans; {-1, -1}: NULL
	arena []byte
}

// Int returns row's column col as an integer (booleans are 0 or 1).
func (b *Batch) Int(row, col int) int64 { return b.ints[row*b.cols+col] }

// Bytes returns row's column col as text, nil for NULL (an integer
// column's value is empty text, not nil).
func (b *Batch) Bytes(row, col int) []byte {
	sp := b.spans[row*b.cols+col]
	switch {
	case sp[0] == spanNull:
		return nil
	case sp[0] == spanNumber:
		return noText
	}
	return b.arena[sp[0]:sp[1]:sp[1]]
}

// Spans that are not in the arena.
const (
	spanNull   = -1
	spanNumber = -2
)

var noText = []byte{}

const (
	batchRows  = 1024
	batchBytes = 256 << 10
)

var batchPool = sync.Pool{New: func() any { return &Batch{} }}

// Release gives a consumed batch back for reuse.
func Release(b *Batch) { batchPool.Put(b) }

func newBatch(t Table) *Batch {
	b := batchPool.Get().(*Batch)
	b.Table, b.N, b.cols = t, 0, len(stagingColumns[t])
	b.ints, b.spans, b.arena = b.ints[:0], b.spans[:0], b.arena[:0]
	return b
}

func (b *Batch) add(v []any) {
	for _, x := range v {
		n, sp := int64(0), [2]int32{spanNumber, spanNumber}
		switch x := x.(type) {
		case int32:
			n = int64(x)
		case int64:
			n = x
		case bool:
			if x {
				n = 1
			}
		case []byte:
			sp[0] = int32(len(b.arena))
			b.arena = append(b.arena, x...)
			sp[1] = int32(len(b.arena))
		case nil:
			sp = [2]int32{spanNull, spanNull}
		default:
			panic(fmt.Sprintf("loader: staging value of type %T", x))
		}
		b.ints = append(b.ints, n)
		b.spans = append(b.spans, sp)
	}
	b.N++
}

// Stream reads the export e like Load, checking children against parents,
// and sends each file's accepted rows to out[table] in batches; each
// channel is closed when its file is done (or the stream fails). The
// Result's Products are the loaded products; Grouped says whether every
// file came grouped by product in ascending order.
func Stream(ctx context.Context, e *Export, parents *Parents, opts Options, out [len(Tables)]chan<- *Batch) (*Result, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.RejectDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating reject directory: %w", err)
	}
	res := &Result{}
	c := &checks{res: res, parents: &parents.Products, styleOf: &parents.Styles, stylesSeen: &ParentMap{}}
	g, gctx := errgroup.WithContext(ctx)
	l := &load{ctx: gctx, e: e, opts: opts, res: res}
	g.Go(func() error { return sendTable(l, Products, c.product, out[Products]) })
	g.Go(func() error { return sendTable(l, Styles, c.style, out[Styles]) })
	g.Go(func() error { return sendTable(l, Features, c.feature, out[Features]) })
	g.Go(func() error { return sendTable(l, Related, c.related, out[Related]) })
	g.Go(func() error { return sendTable(l, Skus, c.sku, out[Skus]) })
	g.Go(func() error { return sendTable(l, Photos, c.photo, out[Photos]) })
	if err := g.Wait(); err != nil {
		return res, err
	}
	res.Grouped = c.grouped()
	return res, nil
}

// sendTable streams one file's accepted rows to out, closing it at the end.
func sendTable[T any](l *load, t Table, accept func(r *T, pos int32, v []any) (string, string), out chan<- *Batch) error {
	defer close(out)
	src, err := openTable(l, t, accept)
	if err != nil {
		return err
	}
	b := newBatch(t)
	send := func() error {
		select {
		case out <- b:
			b = newBatch(t)
			return nil
		case <-l.ctx.Done():
			return l.ctx.Err()
		}
	}
	for src.Next() {
		b.add(src.vals)
		if b.N == batchRows || len(b.arena) >= batchBytes {
			if err := send(); err != nil {
				src.rw.Close()
				return err
			}
		}
	}
	if err := src.Err(); err != nil {
		src.rw.Close()
		return fmt.Errorf("reading %s: %w", t.File(), err)
	}
	if b.N > 0 {
		if err := send(); err != nil {
			src.rw.Close()
			return err
		}
	}
	return finishTable(l, t, src)
}
