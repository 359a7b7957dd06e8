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

// Write generates the six files into dir, creating it if needed and
// replacing files of the same names. Each file is written as NAME.tmp and
// renamed only once all six are complete, so an interrupted run never leaves
// a partial file under a real name; on error or cancellation the .tmp files
// are removed. Cancelling ctx stops the writers within a few milliseconds.
func Write(ctx context.Context, dir string, opts Options) (Stats, error) {
	if opts.Products < 0 || opts.Products > MaxProducts {
		return Stats{}, fmt.Errorf("generating: products %d out of range 0..%d", opts.Products, MaxProducts)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Stats{}, fmt.Errorf("generating: creating directory: %w", err)
	}
	g := &gen{products: opts.Products, seed: opts.Seed}
	files := exportFiles()
	writers := make([]*writer, len(files))
	for i, f := range files {
		writers[i] = &writer{
			path:  filepath.Join(dir, f.name),
			buf:   make([]byte, 0, bufCap),
			total: &g.bytes,
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	stopProgress := func() {}
	if opts.Progress != nil {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(progressEvery)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					opts.Progress(g.progress(writers))
				}
			}
		})
		stopProgress = func() { close(stop); wg.Wait() }
	}

	var wg sync.WaitGroup
	for i, f := range files {
		w := writers[i]
		wg.Go(func() {
			if err := w.write(ctx, g, f); err != nil {
				cancel(fmt.Errorf("writing %s: %w", f.name, err))
			}
		})
	}
	wg.Wait()
	stopProgress()

	if err := context.Cause(ctx); err != nil {
		for _, w := range writers {
			_ = os.Remove(w.path + ".tmp") // best effort; it may not exist
		}
		return Stats{}, fmt.Errorf("generating into %s: %w", dir, err)
	}

	st := Stats{Products: opts.Products}
	var errs []error
	for i, w := range writers {
		if err := os.Rename(w.path+".tmp", w.path); err != nil {
			errs = append(errs, fmt.Errorf("renaming %s: %w", files[i].name, err))
		}
		st.Files = append(st.Files, FileStats{Name: files[i].name, Rows: int64(w.id), Bytes: w.bytes})
		st.Defects.add(w.defects)
	}
	if err := errors.Join(errs...); err != nil {
		return Stats{}, fmt.Errorf("generating into %s: %w", dir, err)
	}
	if opts.Progress != nil {
		opts.Progress(g.progress(writers))
	}
	return st, nil
}

// gen is what every file's writer shares: read-only parameters and the
// byte counter for progress.
type gen struct {
	products int
	seed     uint64
	bytes    atomic.Int64
}

func (g *gen) progress(writers []*writer) Progress {
	done := g.products
	for _, w := range writers {
		done = min(done, int(w.done.Load()))
	}
	return Progress{Done: done, Total: g.products, Bytes: g.bytes.Load()}
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
	defects Defects
}

func (w *writer) write(ctx context.Context, g *gen, f file) (err error) {
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
	for p := 1; p <= g.products; p++ {
		pl.draw(&w.plan, g, p)
		w.r.seed(g.seed, f.stream, p)
		f.rows(w, g, p, &pl)
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
	w.done.Store(int64(g.products))
	return nil
}

func (w *writer) flush() error {
	n, err := w.out.Write(w.buf)
	w.bytes += int64(n)
	w.total.Add(int64(n))
	w.buf = w.buf[:0]
	return err
}
