package loader

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
)

// ErrMissingFile is returned by Open when one of the six files is absent.
var ErrMissingFile = errors.New("missing input file")

// ErrTooManyRejects fails a load whose file rejected more than the allowed
// fraction of its lines.
var ErrTooManyRejects = errors.New("too many rejected lines")

// Options configure Load.
type Options struct {
	// RejectDir receives one reject file per input file. Required.
	RejectDir string
	// MaxRejectRatio is the fraction of a file's data lines that may be
	// rejected before the load fails.
	MaxRejectRatio float64
	// Log receives progress lines; nil discards them.
	Log *slog.Logger
}

// FileStats describes one input file's load.
type FileStats struct {
	Table    Table            `json:"-"`
	File     string           `json:"file"`
	Bytes    int64            `json:"bytes"`
	XXH64    string           `json:"xxh64"` // the file's checksum (hash.go)
	Read     int64            `json:"read"`  // data records met: loaded + rejected
	Loaded   int64            `json:"loaded"`
	Repaired int64            `json:"repaired"`
	Rejected int64            `json:"rejected"`
	Reasons  map[string]int64 `json:"rejected_by_reason"`
	Seconds  float64          `json:"seconds"`
}

// Result is what a load staged.
type Result struct {
	Files [len(Tables)]FileStats
	// Products holds the ids of the loaded products.
	Products IDSet
	// Grouped reports whether every file's loaded rows came grouped by
	// product in ascending order (styles, skus and photos also by style
	// id): then the staging tables are stored in document order and need no
	// sort.
	Grouped bool
}

// orderCheck watches whether a file's rows come in ascending (a, b) order.
type orderCheck struct {
	a, b   int32
	broken bool
}

func (o *orderCheck) see(a, b int32) {
	if a < o.a || (a == o.a && b < o.b) {
		o.broken = true
	}
	o.a, o.b = a, b
}

// Progress is a live view of a running load, safe to read concurrently.
type Progress struct {
	Files [len(Tables)]FileProgress
}

// FileProgress counts one file's progress.
type FileProgress struct {
	Size  int64
	Bytes atomic.Int64
	Rows  atomic.Int64
	Done  atomic.Bool
}

// Export is an export directory whose six files are open and whose headers
// have been read and mapped: opening it is the check that nothing required is
// missing, done before anything in the database changes.
type Export struct {
	Dir   string
	files [len(Tables)]*exportFile
	// Progress is updated while Load runs.
	Progress Progress
}

type exportFile struct {
	table   Table
	path    string
	f       *os.File
	size    int64
	hash    hash.Hash64 // fed by the read (tee) when the export is hashed
	counter *countingReader
	scanner any // *Scanner[T] for the table's row type
}

// Open opens the six files of dir and maps their headers. The error names
// the file (and the column) that is missing or unreadable.
func Open(dir string) (*Export, error) { return open(dir, true) }

// open opens the export, the files' checksums taken as they are read when
// hashed (not on a pass that only reads the parents: the main pass hashes
// every file).
func open(dir string, hashed bool) (*Export, error) {
	e := &Export{Dir: dir}
	for _, t := range Tables {
		ef, err := openFile(dir, t, hashed)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.files[t] = ef
		e.Progress.Files[t].Size = ef.size
	}
	return e, nil
}

func openFile(dir string, t Table, hashed bool) (*exportFile, error) {
	path := filepath.Join(dir, t.File())
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrMissingFile)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	ef := &exportFile{table: t, path: path, f: f, size: fi.Size()}
	ef.counter = &countingReader{r: f}
	if hashed {
		ef.hash = newChecksum()
		ef.counter.r = io.TeeReader(f, ef.hash)
	}
	var sc any
	switch t {
	case Products:
		sc, err = NewScanner[Product](ef.counter, t.File())
	case Features:
		sc, err = NewScanner[Feature](ef.counter, t.File())
	case Styles:
		sc, err = NewScanner[Style](ef.counter, t.File())
	case Skus:
		sc, err = NewScanner[Sku](ef.counter, t.File())
	case Photos:
		sc, err = NewScanner[Photo](ef.counter, t.File())
	case Related:
		sc, err = NewScanner[RelatedProduct](ef.counter, t.File())
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ef.scanner = sc
	return ef, nil
}

// Close closes the files.
func (e *Export) Close() error {
	var errs []error
	for _, ef := range e.files {
		if ef != nil {
			errs = append(errs, ef.f.Close())
		}
	}
	return errors.Join(errs...)
}

// countingReader counts the bytes read through it, for progress bars.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Load streams the export into the staging tables of schema (created from
// StagingDDL): products first, then the files that refer to products,
// then the files that refer to styles, so that every child can be checked
// against its parents as it streams by. Each file goes through its own
// connection with binary COPY; nothing is held in memory but the id sets.
func Load(ctx context.Context, pool *pgxpool.Pool, e *Export, schema string, opts Options) (*Result, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.RejectDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating reject directory: %w", err)
	}
	res := &Result{}
	var styles ParentMap
	c := &checks{res: res, parents: &res.Products, styleOf: &styles, stylesSeen: &styles}
	productsDone := make(chan struct{})
	stylesDone := make(chan struct{})

	g, gctx := errgroup.WithContext(ctx)
	wait := func(ch <-chan struct{}) error {
		select {
		case <-ch:
			return nil
		case <-gctx.Done():
			return gctx.Err()
		}
	}
	l := &load{ctx: gctx, pool: pool, e: e, schema: schema, opts: opts, res: res}
	g.Go(func() error {
		err := copyTable(l, Products, c.product)
		if err == nil {
			close(productsDone)
		}
		return err
	})
	g.Go(func() error {
		if err := wait(productsDone); err != nil {
			return err
		}
		err := copyTable(l, Styles, c.style)
		if err == nil {
			close(stylesDone)
		}
		return err
	})
	for _, t := range []Table{Features, Related} {
		g.Go(func() error {
			if err := wait(productsDone); err != nil {
				return err
			}
			if t == Features {
				return copyTable(l, Features, c.feature)
			}
			return copyTable(l, Related, c.related)
		})
	}
	for _, t := range []Table{Skus, Photos} {
		g.Go(func() error {
			if err := wait(stylesDone); err != nil {
				return err
			}
			if t == Skus {
				return copyTable(l, Skus, c.sku)
			}
			return copyTable(l, Photos, c.photo)
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	res.Grouped = c.grouped()
	return res, nil
}

// Reasons the COPY side adds to the scanner's.
const (
	reasonDuplicate = "duplicate_id"
	reasonOrphan    = "orphan"
)

// load is the state one Load call shares between its file goroutines.
type load struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	e      *Export
	schema string
	opts   Options
	res    *Result
}

// copyTable streams one file into its staging table. accept checks a parsed
// row against the other files (duplicates, parents) and fills the COPY
// values, or returns a reject reason and detail.
func copyTable[T any](l *load, t Table, accept func(r *T, pos int32, v []any) (reason, detail string)) error {
	src, err := openTable(l, t, accept)
	if err != nil {
		return err
	}
	conn, err := l.pool.Acquire(l.ctx)
	if err != nil {
		src.rw.Close()
		return fmt.Errorf("copying %s: %w", t.File(), err)
	}
	defer conn.Release()
	_, err = copyInOrder(l.ctx, conn.Conn(), pgx.Identifier{l.schema, t.String()}, columnNames(t), src)
	if err != nil {
		src.rw.Close()
		return fmt.Errorf("copying %s: %w", t.File(), err)
	}
	return finishTable(l, t, src)
}

// openTable prepares one file's source: its scanner, reject file and
// counters.
func openTable[T any](l *load, t Table, accept func(r *T, pos int32, v []any) (reason, detail string)) (*source[T], error) {
	ef := l.e.files[t]
	st := &l.res.Files[t]
	*st = FileStats{Table: t, File: t.File(), Bytes: ef.size, Reasons: map[string]int64{}}
	rw, err := newRejectWriter(filepath.Join(l.opts.RejectDir, t.File()+".rejects.csv"), t.File())
	if err != nil {
		return nil, err
	}
	return &source[T]{ctx: l.ctx, sc: ef.scanner.(*Scanner[T]), st: st, rw: rw, accept: accept,
		vals: make([]any, len(stagingColumns[t])), prog: &l.e.Progress.Files[t], counter: ef.counter, start: time.Now()}, nil
}

// finishTable closes a fully read file: its reject file, checksum, timing,
// log line, and the reject ratio's verdict.
func finishTable[T any](l *load, t Table, src *source[T]) error {
	ef, st := l.e.files[t], src.st
	src.prog.Bytes.Store(ef.counter.n.Load())
	src.prog.Done.Store(true)
	if err := src.rw.Close(); err != nil {
		return err
	}
	if err := src.sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", t.File(), err)
	}
	if ef.hash != nil {
		st.XXH64 = checksumString(ef.hash)
	}
	st.Seconds = time.Since(src.start).Seconds()
	l.opts.Log.Info("file loaded", "file", t.File(), "read", st.Read, "loaded", st.Loaded,
		"repaired", st.Repaired, "rejected", st.Rejected, "seconds", round2(st.Seconds))
	if st.Read > 0 && float64(st.Rejected) > l.opts.MaxRejectRatio*float64(st.Read) {
		return fmt.Errorf("%s: %d of %d lines rejected (%.2f%%, limit %.2f%%; see %s): %w",
			t.File(), st.Rejected, st.Read, 100*float64(st.Rejected)/float64(st.Read),
			100*l.opts.MaxRejectRatio, src.rw.path, ErrTooManyRejects)
	}
	return nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// source adapts a Scanner to pgx.CopyFromSource, writing rejects and
// counting as it goes.
type source[T any] struct {
	ctx     context.Context
	sc      *Scanner[T]
	st      *FileStats
	rw      *rejectWriter
	accept  func(r *T, pos int32, v []any) (string, string)
	vals    []any
	prog    *FileProgress
	counter *countingReader
	start   time.Time
	err     error
}

func (s *source[T]) Next() bool {
	for s.sc.Scan() {
		if err := s.drain(); err != nil {
			return false
		}
		s.st.Read++
		if s.st.Read&0xfff == 0 {
			if err := s.ctx.Err(); err != nil {
				s.err = err
				return false
			}
			s.prog.Bytes.Store(s.counter.n.Load())
			s.prog.Rows.Store(s.st.Loaded)
		}
		line := s.sc.Line()
		if reason, detail := s.accept(s.sc.Row(), int32(line), s.vals); reason != "" {
			s.st.Rejected++
			s.st.Reasons[reason]++
			if err := s.rw.write(Issue{Line: line, Reason: reason, Detail: detail, Raw: s.sc.Raw()}); err != nil {
				s.err = err
				return false
			}
			continue
		}
		s.st.Loaded++
		return true
	}
	if err := s.drain(); err != nil {
		return false
	}
	s.prog.Rows.Store(s.st.Loaded)
	return false
}

// drain writes the scanner's pending issues to the reject file. Rejected
// lines count as read; repaired ones are counted by the row that follows.
func (s *source[T]) drain() error {
	for _, is := range s.sc.Issues() {
		if is.Repaired {
			s.st.Repaired++
		} else {
			s.st.Read++
			s.st.Rejected++
			s.st.Reasons[is.Reason]++
		}
		if err := s.rw.write(is); err != nil {
			s.err = err
			return err
		}
	}
	return nil
}

func (s *source[T]) Values() ([]any, error) { return s.vals, nil }

func (s *source[T]) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.sc.Err()
}

// copyInOrder COPYs src into table so that the rows are stored in the order
// they are sent: truncating the table in the COPY's own transaction gives it
// a new file, and PostgreSQL then appends instead of filling free space in
// earlier pages through the free space map. The documents are built from
// that stored order without a sort (and verified row by row).
func copyInOrder(ctx context.Context, conn *pgx.Conn, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "TRUNCATE "+table.Sanitize()); err != nil {
			return err
		}
		var err error
		n, err = tx.CopyFrom(ctx, table, columns, src)
		return err
	})
	return n, err
}
