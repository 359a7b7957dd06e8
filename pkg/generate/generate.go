// Package generate writes a synthetic ÉLIER catalogue export: the six CSV
// files of the real export (product, features, styles, skus, photos,
// related), byte for byte in its format and with its real defects, at any
// size. The loader and the API are tested and measured against it, so a
// full-scale run (about a million products, 26 million rows) must be cheap.
//
// Output is a pure function of (Products, Seed): every random choice comes
// from a PRNG seeded by (seed, file, product id), so the six files are
// written concurrently, each by one goroutine, and still agree on every id.
// The shape of a product (how many features, styles, skus per style, photos
// per style, related rows) is drawn from a separate per-product stream that
// every file's goroutine recomputes for itself; that is a few dozen
// nanoseconds per product and saves sharing state between the writers.
//
// Revisions extend this to (Products, Seed, Revision, Change): the same
// catalogue some days later, for incremental loads (revision.go). Each
// day's choices come from PRNG streams seeded by (seed, day, product), and
// revision R of a given Change builds on revision R-1 of the same Change.
package generate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// MaxProducts bounds Options.Products: skus are the most numerous rows
// (about 11.3 per product on average), and their ids must stay positive
// 32-bit integers, as the contract requires of every id.
const MaxProducts = 100_000_000

const (
	// flushAt is the buffered output per file before a write(2); large
	// enough that syscalls cost nothing, small enough that six of them are
	// a few MB of memory at any scale.
	flushAt = 1 << 20
	// bufCap leaves room for the product that crosses flushAt, so the
	// buffer is never reallocated in practice.
	bufCap        = flushAt + 64<<10
	progressEvery = 200 * time.Millisecond
)

// Options says what to generate.
type Options struct {
	// Products is the number of products, 0..MaxProducts. Every other
	// file's size follows from it (about 2,300 bytes per product in all at
	// full scale, a little less in small exports, whose ids are shorter).
	Products int
	// Seed selects the catalogue; the same Products and Seed give
	// byte-identical files.
	Seed uint64
	// Revision is the number of days since revision 0, today's export
	// (see revision.go): on each day a fraction Change of the products
	// changes and about 0.05% are added and as many removed.
	Revision int
	// Change is the fraction of products each day changes, 0..1
	// (DefaultChange is what a real catalogue sees). Only read when
	// Revision >= 1.
	Change float64
	// Changes, when set, is a file to write the products that differ
	// between revision Base and Revision into: one "kind,id" line each
	// (changed, added, removed), in ascending id order. Stats counts them
	// whether or not a file is written.
	Changes string
	// Base is the revision Changes compares with, 0..Revision-1. The
	// command line defaults it to Revision-1: what an incremental load of
	// Revision over a live Revision-1 sees.
	Base int
	// Progress, when set, is called about five times a second from a single
	// goroutine while writing, and once more at the end of a successful
	// run. It must not block for long.
	Progress func(Progress)
}

// Progress reports how far a Write has got.
type Progress struct {
	// Done products are in every file (the slowest file's position).
	Done, Total int
	// Bytes written to disk so far, over all six files.
	Bytes int64
}

// Stats describes a finished export.
type Stats struct {
	Products int
	// Files lists the six files in the order product, features, styles,
	// skus, photos, related.
	Files []FileStats
	// Defects counts the real export's defects as written, so a loader
	// test can predict its reject and repair counts exactly.
	Defects Defects
	// Changed, Added and Removed count the products that differ between
	// revision Options.Base and Options.Revision (all zero for revision 0).
	Changed, Added, Removed int
}

// FileStats describes one written file.
type FileStats struct {
	Name  string // base name, e.g. "skus.csv"
	Rows  int64  // data lines, header excluded
	Bytes int64
}

// Defects counts the deliberate defects in an export, the way the real
// export has them (docs/CONTRACT.md section 1.2).
type Defects struct {
	// BrokenPhotoLines are photos.csv lines whose last field lacks its
	// closing quote.
	BrokenPhotoLines int64
	// RelatedToZero rows have related_product_id 0 (no such product).
	RelatedToZero int64
	// SelfRelated rows relate a product to itself.
	SelfRelated int64
	// DuplicateRelated rows repeat an earlier current→related pair of the
	// same product.
	DuplicateRelated int64
	// NullSalePrices and NullFeatureValues are `null` fields.
	NullSalePrices, NullFeatureValues int64
	// SwappedSkuIDs and SwappedPhotoIDs count styles whose rows have two
	// adjacent ids swapped (8 before 7), in skus.csv and photos.csv.
	SwappedSkuIDs, SwappedPhotoIDs int64
	// DuplicateSizes counts styles that list a size twice.
	DuplicateSizes int64
	// DuplicateFeatures counts feature rows repeating an earlier feature
	// and value of the same product.
	DuplicateFeatures int64
	// Products without styles, without features, and with styles but
	// none of them the default.
	ProductsWithoutStyles, ProductsWithoutFeatures, ProductsWithoutDefault int64
}

func (d *Defects) add(o Defects) {
	d.BrokenPhotoLines += o.BrokenPhotoLines
	d.RelatedToZero += o.RelatedToZero
	d.SelfRelated += o.SelfRelated
	d.DuplicateRelated += o.DuplicateRelated
	d.NullSalePrices += o.NullSalePrices
	d.NullFeatureValues += o.NullFeatureValues
	d.SwappedSkuIDs += o.SwappedSkuIDs
	d.SwappedPhotoIDs += o.SwappedPhotoIDs
	d.DuplicateSizes += o.DuplicateSizes
	d.DuplicateFeatures += o.DuplicateFeatures
	d.ProductsWithoutStyles += o.ProductsWithoutStyles
	d.ProductsWithoutFeatures += o.ProductsWithoutFeatures
	d.ProductsWithoutDefault += o.ProductsWithoutDefault
}

// Rows is the number of data lines over all files.
func (s Stats) Rows() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Rows
	}
	return n
}

// Bytes is the size of all files together.
func (s Stats) Bytes() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Bytes
	}
	return n
}

// errBusy: another run is writing into the same directory (lockDir).
var errBusy = errors.New("another elier-etl generate is writing into this directory")

// Write generates the six files into dir, creating it if needed and
// replacing files of the same names. Each file is written as NAME.tmp and
// renamed only once all six are complete, so an interrupted run never leaves
// a partial file under a real name; on error or cancellation the .tmp files
// are removed. Cancelling ctx stops the writers within a few milliseconds.
// A run holds dir's lock while it writes (lockDir): a second run into the
// same directory at the same time fails at once, writing nothing.
func Write(ctx context.Context, dir string, opts Options) (Stats, error) {
	if err := opts.check(); err != nil {
		return Stats{}, fmt.Errorf("generating: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Stats{}, fmt.Errorf("generating: creating directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return Stats{}, fmt.Errorf("generating: %w", err)
	}
	defer unlock()
	g := &gen{products: opts.Products, seed: opts.Seed, total: opts.Products}
	if opts.Revision > 0 {
		rv, err := newRev(ctx, g, opts.Revision, opts.Change)
		if err != nil {
			return Stats{}, fmt.Errorf("generating: %w", err)
		}
		g.rev, g.total = rv, rv.addedStart[opts.Revision+1]-1
	}
	files := exportFiles()
	writers := make([]*writer, len(files))
	for i, f := range files {
		writers[i] = &writer{
			path:  filepath.Join(dir, f.name),
			buf:   make([]byte, 0, bufCap),
			total: &g.bytes,
		}
	}
	var cl *changeList
	if g.rev != nil {
		cl = &changeList{writer: writer{path: opts.Changes, buf: make([]byte, 0, bufCap), total: new(atomic.Int64)}}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopProgress := startProgress(opts.Progress, g, writers)
	var wg sync.WaitGroup
	for i, f := range files {
		w := writers[i]
		wg.Go(func() {
			if err := w.write(ctx, g, f, i); err != nil {
				cancel(fmt.Errorf("writing %s: %w", f.name, err))
			}
		})
	}
	if cl != nil {
		wg.Go(func() {
			if err := cl.write(ctx, g, opts.Base); err != nil {
				cancel(fmt.Errorf("writing the changes: %w", err))
			}
		})
	}
	wg.Wait()
	stopProgress()

	st, err := finish(ctx, files, writers, cl)
	if err != nil {
		return Stats{}, fmt.Errorf("generating into %s: %w", dir, err)
	}
	if opts.Progress != nil {
		opts.Progress(g.progress(writers))
	}
	return st, nil
}

// startProgress calls progress about five times a second from one
// goroutine until the returned stop is called; nil progress does nothing.
func startProgress(progress func(Progress), g *gen, writers []*writer) (stop func()) {
	if progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress(g.progress(writers))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// finish renames the written .tmp files to their names, or removes them
// when ctx was cancelled (by a writer's error or the caller), and sums up
// what was written.
func finish(ctx context.Context, files []file, writers []*writer, cl *changeList) (Stats, error) {
	tmps := make([]string, 0, len(writers)+1)
	for _, w := range writers {
		tmps = append(tmps, w.path)
	}
	if cl != nil && cl.path != "" {
		tmps = append(tmps, cl.path)
	}
	if err := context.Cause(ctx); err != nil {
		for _, path := range tmps {
			_ = os.Remove(path + ".tmp") // best effort; it may not exist
		}
		return Stats{}, err
	}
	var errs []error
	for _, path := range tmps {
		if err := os.Rename(path+".tmp", path); err != nil {
			errs = append(errs, fmt.Errorf("renaming %s: %w", filepath.Base(path), err))
		}
	}
	st := Stats{Products: int(writers[fProduct].rows)}
	for i, w := range writers {
		st.Files = append(st.Files, FileStats{Name: files[i].name, Rows: w.rows, Bytes: w.bytes})
		st.Defects.add(w.defects)
	}
	if cl != nil {
		st.Changed, st.Added, st.Removed = cl.changed, cl.added, cl.removed
	}
	return st, errors.Join(errs...)
}

func (o Options) check() error {
	switch {
	case o.Products < 0 || o.Products > MaxProducts:
		return fmt.Errorf("products %d out of range 0..%d", o.Products, MaxProducts)
	case o.Revision < 0:
		return fmt.Errorf("revision %d is negative", o.Revision)
	case o.Revision > 0 && !(o.Change >= 0 && o.Change <= 1):
		return fmt.Errorf("change %v out of range 0..1", o.Change)
	case o.Revision > 0 && (o.Base < 0 || o.Base >= o.Revision):
		return fmt.Errorf("base revision %d out of range 0..%d", o.Base, o.Revision-1)
	case o.Revision == 0 && o.Changes != "":
		return fmt.Errorf("revision 0 has no changes to list")
	}
	return nil
}

// gen is what every file's writer shares: read-only parameters and the
// byte counter for progress.
type gen struct {
	products int
	seed     uint64
	rev      *rev // nil for revision 0
	total    int  // product ids to walk: products, plus those added since
	bytes    atomic.Int64
}

func (g *gen) progress(writers []*writer) Progress {
	done := g.total
	for _, w := range writers {
		done = min(done, int(w.done.Load()))
	}
	return Progress{Done: done, Total: g.total, Bytes: g.bytes.Load()}
}

// file is one CSV file of the export: its name, header, PRNG stream and
// the function that appends one product's rows.
type file struct {
	name   string
	header string
	stream uint64
	rows   func(w *writer, g *gen, p int, pl *plan)
}

func exportFiles() []file {
	return []file{
		{"product.csv", "id,name,slogan,description,category,default_price", streamProduct, productRows},
		{"features.csv", "id,product_id,feature,value", streamFeatures, featureRows},
		{"styles.csv", "id,productId,name,sale_price,original_price,default_style", streamStyles, styleRows},
		{"skus.csv", "id,styleId,size,quantity", streamSkus, skuRows},
		{"photos.csv", "id,styleId,url,thumbnail_url", streamPhotos, photoRows},
		{"related.csv", "id,current_product_id,related_product_id", streamRelated, relatedRows},
	}
}

// writer writes one file. Rows are appended straight into buf, which goes
// to disk whenever it passes flushAt: no bufio, no fmt, no per-row
// allocation.
type writer struct {
	path  string
	out   *os.File
	buf   []byte
	bytes int64         // written to out
	total *atomic.Int64 // bytes written by all writers, for progress
	done  atomic.Int64  // products fully written to out

	plan    rng // the product's shape, identical in every file
	r       rng // this file's own choices for the product
	id      int // last row id written (for product.csv: the product id)
	styleID int // last style id seen, for skus.csv and photos.csv
	rows    int64
	defects Defects
	wk      *walker // revisions only
}

func (w *writer) write(ctx context.Context, g *gen, f file, fi int) (err error) {
	w.out, err = os.Create(w.path + ".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := w.out.Close(); err == nil {
			err = cerr
		}
	}()
	w.buf = append(w.buf, f.header...)
	w.buf = append(w.buf, '\n')
	var pl plan
	if g.rev != nil {
		w.wk = newWalker(g)
	}
	for p := 1; p <= g.total; p++ {
		if w.wk != nil {
			w.revisionRows(g, f, fi, p)
		} else {
			pl.draw(&w.plan, g, p)
			w.r.seed(g.seed, f.stream, p)
			f.rows(w, g, p, &pl)
		}
		if len(w.buf) >= flushAt {
			if err := w.flush(); err != nil {
				return err
			}
			w.done.Store(int64(p))
			// Checked once per MB written: a few milliseconds at most.
			if err := context.Cause(ctx); err != nil {
				return err
			}
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	if w.wk == nil {
		w.rows = int64(w.id) // ids run 1..rows in revision 0
	}
	w.done.Store(int64(g.total))
	return nil
}

// revisionRows appends product p's rows of file f (index fi) in revision
// g.rev: revision 0's rows, written as today, for the products no day
// touched; the replayed product's rows otherwise, or none once removed.
func (w *writer) revisionRows(g *gen, f file, fi, p int) {
	wk := w.wk
	if !wk.step(p) {
		w.id = wk.offs[fi]
		w.styleID = wk.offs[fStyles]
		w.r.seed(g.seed, f.stream, p)
		f.rows(w, g, p, &wk.pl)
		w.rows += int64(wk.pl.counts(g)[fi])
	} else if st := wk.build(p); wk.replay(st, p, 0, g.rev.days) {
		w.buf = st.render(w.buf, fi)
		st.classify(fi, p, &w.defects)
		w.rows += int64(len(st.rows[fi]))
	}
	wk.done(p)
}

func (w *writer) flush() error {
	n, err := w.out.Write(w.buf)
	w.bytes += int64(n)
	w.total.Add(int64(n))
	w.buf = w.buf[:0]
	return err
}
