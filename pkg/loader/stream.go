package loader

import (
	"context"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"path/filepath"
	"sync"

	"github.com/cespare/xxhash/v2"
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

// ReadParents reads product.csv and styles.csv of dir with Load's checks.
// It writes their reject files (the main pass writes them again, the same)
// and fails as Load would when either has too many rejects, so that a bad
// parent file is reported first, whatever the order the six files of the
// main pass finish in.
func ReadParents(ctx context.Context, dir string, opts Options) (*Parents, error) {
	e, err := open(dir, false)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if err := os.MkdirAll(opts.RejectDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating reject directory: %w", err)
	}
	p := &Parents{}
	res := &Result{}
	c := &checks{res: res, parents: &res.Products, styleOf: &p.Styles, stylesSeen: &p.Styles}
	l := &load{ctx: ctx, e: e, res: res, opts: opts}
	if err := drainTable(l, Products, c.product); err != nil {
		return nil, err
	}
	if err := drainTable(l, Styles, c.style); err != nil {
		return nil, err
	}
	p.Products = res.Products
	return p, nil
}

// drainTable reads one file through its checks, keeping nothing but its
// reject file, and applies the reject ratio.
func drainTable[T any](l *load, t Table, accept func(r *T, pos int32, v []any) (string, string)) error {
	ef := l.e.files[t]
	st := &FileStats{Reasons: map[string]int64{}}
	rw, err := newRejectWriter(filepath.Join(l.opts.RejectDir, t.File()+".rejects.csv"), t.File())
	if err != nil {
		return err
	}
	src := &source[T]{ctx: l.ctx, sc: ef.scanner.(*Scanner[T]), st: st, rw: rw, accept: accept,
		prog: &FileProgress{}, counter: ef.counter}
	for src.Next() {
	}
	if err := rw.Close(); err != nil {
		return err
	}
	if err := src.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", t.File(), err)
	}
	if st.Read > 0 && float64(st.Rejected) > l.opts.MaxRejectRatio*float64(st.Read) {
		return fmt.Errorf("%s: %d of %d lines rejected (%.2f%%, limit %.2f%%; see %s): %w",
			t.File(), st.Rejected, st.Read, 100*float64(st.Rejected)/float64(st.Read),
			100*l.opts.MaxRejectRatio, rw.path, ErrTooManyRejects)
	}
	return nil
}

// Batch is a run of one file's accepted rows, in file order: each row's
// staging values (StagingColumns order), copied out of the scanner, and a
// hash of each row's values.
type Batch struct {
	Table  Table
	N      int // rows
	cols   int
	ints   []int64
	spans  [][2]int32 // byte values' arena spans; {-1, -1}: NULL
	arena  []byte
	hashes []uint64
	start  int // arena offset where the row being added starts
}

// Hash is a 64-bit hash (xxHash64 mixed with the values' lengths) of row's
// values other than its position in the file (pos): rows that hash the
// same hold the same data, wherever they are in the file. Taken as the row
// is added, by the file's own goroutine, so that a consumer comparing rows
// (an incremental build) need not read their bytes.
func (b *Batch) Hash(row int) uint64 { return b.hashes[row] }

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
	b.ints, b.spans, b.arena, b.hashes, b.start = b.ints[:0], b.spans[:0], b.arena[:0], b.hashes[:0], 0
	return b
}

// end completes the row being added: its hash, of every value but the
// column skip (the row's position; -1: none).
func (b *Batch) end(skip int) {
	h := xxhash.Sum64(b.arena[b.start:])
	first := b.N * b.cols
	for c := range b.cols {
		if c == skip {
			continue
		}
		sp := b.spans[first+c]
		kind := int64(sp[1] - sp[0]) // a text's length
		if sp[0] < 0 {
			kind = int64(sp[0]) // spanNull or spanNumber
		}
		h = Mix(Mix(h, uint64(b.ints[first+c])), uint64(kind))
	}
	b.hashes = append(b.hashes, h)
	b.start = len(b.arena)
	b.N++
}

// Mix is one round of xxHash64's accumulator: how a row's values are
// folded into its hash, and (pkg/build) rows' hashes into a product's.
func Mix(acc, v uint64) uint64 {
	const prime1, prime2 = 11400714785074694791, 14029467366897019727
	return bits.RotateLeft64(acc+v*prime2, 31) * prime1
}

func (b *Batch) int(n int64) {
	b.ints = append(b.ints, n)
	b.spans = append(b.spans, [2]int32{spanNumber, spanNumber})
}

func (b *Batch) text(x []byte) {
	start := int32(len(b.arena))
	b.arena = append(b.arena, x...)
	b.ints = append(b.ints, 0)
	b.spans = append(b.spans, [2]int32{start, int32(len(b.arena))})
}

func (b *Batch) null() {
	b.ints = append(b.ints, 0)
	b.spans = append(b.spans, [2]int32{spanNull, spanNull})
}

// The adders append one accepted row's staging values (StagingColumns
// order, as the checks fill them for COPY) from the typed row, without
// boxing each value in an interface.

func (b *Batch) addProduct(r *Product, _ int32, _ *checks) {
	b.int(int64(r.ID))
	b.text(r.Name)
	b.text(r.Slogan)
	b.text(r.Description)
	b.text(r.Category)
	b.int(int64(r.DefaultPrice))
	b.end(-1)
}

func (b *Batch) addFeature(r *Feature, pos int32, _ *checks) {
	b.int(int64(r.ID))
	b.int(int64(r.ProductID))
	b.int(int64(pos))
	b.text(r.Feature)
	if r.ValueNull {
		b.null()
	} else {
		b.text(r.Value)
	}
	b.end(2)
}

func (b *Batch) addStyle(r *Style, _ int32, _ *checks) {
	b.int(int64(r.ID))
	b.int(int64(r.ProductID))
	b.text(r.Name)
	if r.SaleNull {
		b.null()
	} else {
		b.int(int64(r.SalePrice))
	}
	b.int(int64(r.OriginalPrice))
	if r.Default {
		b.int(1)
	} else {
		b.int(0)
	}
	b.end(-1)
}

func (b *Batch) addSku(r *Sku, pos int32, c *checks) {
	b.int(int64(r.ID))
	b.int(int64(r.StyleID))
	b.int(int64(c.styleOf.Get(r.StyleID)))
	b.int(int64(pos))
	b.text(r.Size)
	b.int(int64(r.Quantity))
	b.end(3)
}

func (b *Batch) addPhoto(r *Photo, pos int32, c *checks) {
	b.int(int64(r.ID))
	b.int(int64(r.StyleID))
	b.int(int64(c.styleOf.Get(r.StyleID)))
	b.int(int64(pos))
	b.text(r.URL)
	b.text(r.ThumbnailURL)
	b.end(3)
}

func (b *Batch) addRelated(r *RelatedProduct, pos int32, _ *checks) {
	b.int(int64(r.ID))
	b.int(int64(r.ProductID))
	b.int(int64(pos))
	b.int(int64(r.RelatedID))
	b.end(2)
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
	g.Go(func() error { return sendTable(l, c, Products, c.product, (*Batch).addProduct, out[Products]) })
	g.Go(func() error { return sendTable(l, c, Styles, c.style, (*Batch).addStyle, out[Styles]) })
	g.Go(func() error { return sendTable(l, c, Features, c.feature, (*Batch).addFeature, out[Features]) })
	g.Go(func() error { return sendTable(l, c, Related, c.related, (*Batch).addRelated, out[Related]) })
	g.Go(func() error { return sendTable(l, c, Skus, c.sku, (*Batch).addSku, out[Skus]) })
	g.Go(func() error { return sendTable(l, c, Photos, c.photo, (*Batch).addPhoto, out[Photos]) })
	if err := g.Wait(); err != nil {
		return res, err
	}
	res.Grouped = c.grouped()
	return res, nil
}

// sendTable streams one file's accepted rows to out, closing it at the end.
func sendTable[T any](l *load, c *checks, t Table, accept func(r *T, pos int32, v []any) (string, string),
	add func(*Batch, *T, int32, *checks), out chan<- *Batch) error {
	defer close(out)
	src, err := openTable(l, t, accept)
	if err != nil {
		return err
	}
	src.vals = nil // the adder takes the values from the row
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
		add(b, src.sc.Row(), int32(src.sc.Line()), c)
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
