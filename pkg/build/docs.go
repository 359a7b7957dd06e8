package build

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/elier/catalogue/pkg/loader"
	"github.com/elier/catalogue/pkg/stored"
	"github.com/elier/catalogue/sql"
)

// The documents are built in Go from six sorted streams, one per staging
// table, merged by product id: PostgreSQL does what it is good at (sorting
// tens of millions of rows, in parallel backends) and Go does the JSON,
// which a single jsonb_agg statement does about ten times slower. The
// product ids are split into ranges, each merged by its own goroutine with
// its own connections, so both cores work. Each product's documents are
// hashed as they are built and, when there is a base build, compared with
// its hashes, streamed in id order beside the six: that is how a rebuild
// knows what changed without reading the base's documents.

// docRange is a span of product ids.
type docRange struct {
	lo, hi int32
}

// splitRanges cuts the product ids into n ranges of about equal counts that
// together cover every id (a removed product below the first or above the
// last new one must still be met in the base's stream).
func splitRanges(ids *loader.IDSet, n int) []docRange {
	total := ids.Len()
	if total == 0 {
		return []docRange{{lo: 0, hi: 1<<31 - 1}}
	}
	if n < 1 {
		n = 1
	}
	per := (total + n - 1) / n
	var out []docRange
	i := 0
	ids.Ascending(func(id int32) bool {
		if i%per == 0 {
			if len(out) > 0 {
				out[len(out)-1].hi = id - 1
			}
			out = append(out, docRange{lo: id})
		}
		i++
		return true
	})
	out[0].lo = 0
	out[len(out)-1].hi = 1<<31 - 1
	return out
}

// errOutOfOrder means a stored-order stream was not in document order after
// all; the sorted variant is used instead.
var errOutOfOrder = errors.New("staging rows out of document order")

// docJob is one build's document work.
type docJob struct {
	pool     *pgxpool.Pool
	schema   string // the build's schema: staging tables in, a full build's docs out
	products *loader.IDSet
	grouped  bool // the loader saw every file grouped by product
	ranges   int
	since    int64 // the build id: the versions' since
	log      *slog.Logger
	// compare: hash-compare with the live build, base (its id and the
	// schema of its lineage); incremental: write only what differs, into
	// the lineage, as new versions.
	compare, incremental bool
	base                 *baseBuild
	pack                 *packer // the product documents' dictionary
}

// docsColumns and stockColumns are the columns of a lineage's docs and
// stock tables (sql/docs.sql), in the order the COPYs send them.
var (
	docsColumns = []string{"id", "since", "h_product", "h_styles", "h_related", "h_input", "skus",
		"product", "styles", "related"}
	stockColumns = []string{"since", "id", "product_id", "quantity"}
)

// skuTarget is the table the skus' stock goes to: the build's own, or for
// an incremental build its lineage's (see target).
func (j *docJob) skuTarget() pgx.Identifier {
	if j.incremental {
		return pgx.Identifier{j.base.docsSchema, "stock"}
	}
	return pgx.Identifier{j.schema, "stock"}
}

// target is the table the documents go to: a full build's own docs table,
// or, for an incremental build, its lineage's, as new versions (since is
// the build's id). No view shows them before the swap makes the build live
// (every view reads since <= its build, and build ids only grow); the
// versions of a build that fails are deleted by its run or, after a kill,
// by the next one, before it writes any (dropDebris).
func (j *docJob) target() pgx.Identifier {
	if j.incremental {
		return pgx.Identifier{j.base.docsSchema, "docs"}
	}
	return pgx.Identifier{j.schema, "docs"}
}

// buildDocs fills the job's target from the staging tables. When the loader
// saw every file grouped by product, the tables are read in stored order
// with no sort, in one range; otherwise, or if that turns out wrong,
// PostgreSQL sorts them, split into ranges merged in parallel.
func buildDocs(ctx context.Context, j *docJob) (*diff, error) {
	quoted := pgx.Identifier{j.schema}.Sanitize()
	queries := sql.Named("build_queries.sql")
	for k, q := range queries {
		t, _, _ := strings.Cut(k, "_")
		queries[k] = sql.Expand(q, "schema", quoted, "columns", strings.Join(docColumns[tableNamed(t)], ", "))
	}
	grouped := j.grouped
	var d *diff
	var err error
	if grouped {
		d, err = buildRanges(ctx, j, queries, splitRanges(j.products, 1), true)
		if errors.Is(err, errOutOfOrder) {
			j.log.Warn("staging tables not in stored order; sorting instead", "err", err)
			if err = j.truncate(ctx); err != nil {
				return nil, err
			}
			grouped = false
		}
	}
	if !grouped {
		d, err = buildRanges(ctx, j, queries, splitRanges(j.products, j.ranges), false)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// docColumns are the columns the merge reads of each table, in the order
// docSource uses them: the product id first, then the second column of the
// order key where there is one (styles, skus, photos). The staging queries
// select them (sql/build_queries.sql) and the direct path projects the
// loader's rows onto them.
var docColumns = [len(loader.Tables)][]string{
	loader.Products: {"id", "name", "slogan", "description", "category", "default_price"},
	loader.Features: {"product_id", "feature", "value"},
	loader.Styles:   {"product_id", "id", "name", "sale_price", "original_price", "default_style"},
	loader.Skus:     {"product_id", "style_id", "id", "size", "quantity"},
	loader.Photos:   {"product_id", "style_id", "url", "thumbnail_url"},
	loader.Related:  {"product_id", "related_product_id"},
}

func tableNamed(name string) loader.Table {
	for _, t := range loader.Tables {
		if t.String() == name {
			return t
		}
	}
	return loader.Products // "base": no columns expanded
}

// create makes a full build's docs table (an incremental build writes into
// its lineage's).
func (j *docJob) create(ctx context.Context) error {
	if j.incremental {
		return nil
	}
	if _, err := j.pool.Exec(ctx, sql.Expand(sql.Must("docs.sql"), "schema", ident(j.schema))); err != nil {
		return fmt.Errorf("creating the documents table: %w", err)
	}
	return nil
}

// truncate empties the job's targets, for a start over on another path:
// a full build's tables, or the versions an incremental build has written
// into its lineage so far.
func (j *docJob) truncate(ctx context.Context) error {
	if j.incremental {
		return unwrite(ctx, j.pool, j.base.docsSchema, j.since)
	}
	if _, err := j.pool.Exec(ctx, "TRUNCATE "+j.target().Sanitize()+", "+j.skuTarget().Sanitize()); err != nil {
		return fmt.Errorf("truncating documents: %w", err)
	}
	return nil
}

// unwrite deletes the versions build id wrote into lineage docsSchema
// (their stock first). It scans both tables, on the paths of a failure and
// of a start over only.
func unwrite(ctx context.Context, db txExec, docsSchema string, id int64) error {
	q := sql.Named("incremental.sql")
	for _, name := range []string{"unwrite_skus", "unwrite"} {
		if _, err := db.Exec(ctx, sql.Expand(q[name], "docs_schema", ident(docsSchema)), id); err != nil {
			return fmt.Errorf("deleting build %d's versions from %s: %w", id, docsSchema, err)
		}
	}
	return nil
}

// finish indexes a full build's documents.
func (j *docJob) finish(ctx context.Context) error {
	if j.incremental {
		return nil
	}
	return indexDocs(ctx, j.pool, pgx.Identifier{j.schema}.Sanitize(), j.log)
}

// indexDocs indexes a full build's documents and gathers statistics.
func indexDocs(ctx context.Context, pool *pgxpool.Pool, schema string, log *slog.Logger) error {
	t := time.Now()
	defer func() { log.Debug("documents indexed", "seconds", time.Since(t).Seconds()) }()
	ix := sql.Named("docs_index.sql")
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("indexing documents: %w", err)
	}
	defer conn.Release()
	// Per session, whatever the server's default: the index sort in memory.
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '"+wantMaintenanceWorkMem+"'"); err != nil {
		return fmt.Errorf("indexing documents: %w", err)
	}
	// The two primary keys at once, on two connections (they take
	// compatible locks on different tables), then the rest.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, err := conn.Exec(gctx, sql.Expand(ix["index"], "schema", schema))
		return err
	})
	g.Go(func() error {
		c, err := pool.Acquire(gctx)
		if err != nil {
			return err
		}
		defer c.Release()
		if _, err := c.Exec(gctx, "SET maintenance_work_mem = '"+wantMaintenanceWorkMem+"'"); err != nil {
			return err
		}
		_, err = c.Exec(gctx, sql.Expand(ix["index_skus"], "schema", schema))
		return err
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("indexing documents: %w", err)
	}
	if _, err := conn.Exec(ctx, sql.Expand(ix["finish"], "schema", schema)); err != nil {
		return fmt.Errorf("indexing documents: %w", err)
	}
	return nil
}

func buildRanges(ctx context.Context, j *docJob, queries map[string]string, rs []docRange, stored bool) (*diff, error) {
	g, gctx := errgroup.WithContext(ctx)
	diffs := make([]*diff, len(rs))
	for i, r := range rs {
		g.Go(func() error {
			var err error
			diffs[i], err = buildRange(gctx, j, queries, r, stored)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return mergeDiffs(diffs), nil
}

// rowStream is one of the six inputs of the merge, in document order:
// product id first (key), then the columns of docColumns for its table.
type rowStream interface {
	table() string
	key() int64 // the current row's product id; -1 when exhausted
	int(i int) int64
	bool(i int) bool
	text(i int) []byte // nil: NULL
	advance() error
}

// stream is one sorted query's rows, read one ahead.
type stream struct {
	name string
	conn *pgxpool.Conn
	rows pgx.Rows
	vals [][]byte // current row's raw values; nil when exhausted
	fmts []int16
	// The (column 0, column 1) key of the previous row, checked to ascend:
	// it proves the document order that the merge relies on.
	k0, k1 int64
	keys   int // how many leading columns form the order key
}

func openStream(ctx context.Context, pool *pgxpool.Pool, name, query string, r docRange, stored bool) (*stream, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("building documents (%s): %w", name, err)
	}
	// Sorts of millions of rows: give them the memory to stay in RAM. Stored
	// order: a plain sequential scan from the first block (no synchronized
	// scans, no parallel workers).
	set := "SET work_mem = '1GB'"
	if stored {
		set = "SET synchronize_seqscans = off; SET max_parallel_workers_per_gather = 0"
	}
	if _, err := conn.Exec(ctx, set); err != nil {
		conn.Release()
		return nil, fmt.Errorf("building documents (%s): %w", name, err)
	}
	rows, err := conn.Query(ctx, query, r.lo, r.hi)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("building documents (%s): %w", name, err)
	}
	s := &stream{name: name, conn: conn, rows: rows, keys: 1, k0: -1}
	switch name {
	case "styles", "skus", "photos":
		s.keys = 2
	}
	for _, fd := range rows.FieldDescriptions() {
		s.fmts = append(s.fmts, fd.Format)
	}
	if err := s.advance(); err != nil {
		s.close() // as openBase: the caller gets no stream to close
		return nil, err
	}
	return s, nil
}

func (s *stream) advance() error {
	if s.rows.Next() {
		s.vals = s.rows.RawValues()
		k0, k1 := s.int(0), int64(0)
		if s.keys == 2 {
			k1 = s.int(1)
		}
		if k0 < s.k0 || (k0 == s.k0 && k1 < s.k1) || (s.name == "products" && k0 == s.k0) {
			return fmt.Errorf("building documents (%s): key (%d, %d) after (%d, %d): %w", s.name, k0, k1, s.k0, s.k1, errOutOfOrder)
		}
		s.k0, s.k1 = k0, k1
		return nil
	}
	s.vals = nil
	if err := s.rows.Err(); err != nil {
		return fmt.Errorf("building documents (%s): %w", s.name, err)
	}
	return nil
}

func (s *stream) table() string     { return s.name }
func (s *stream) text(i int) []byte { return s.vals[i] }

func (s *stream) close() {
	s.rows.Close()
	s.conn.Release()
}

// int reads column i as an integer, in either wire format.
func (s *stream) int(i int) int64 {
	b := s.vals[i]
	if s.fmts[i] == pgx.TextFormatCode {
		n, _ := strconv.ParseInt(string(b), 10, 64)
		return n
	}
	switch len(b) {
	case 2:
		return int64(int16(binary.BigEndian.Uint16(b)))
	case 4:
		return int64(int32(binary.BigEndian.Uint32(b)))
	case 8:
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (s *stream) bool(i int) bool {
	b := s.vals[i]
	if s.fmts[i] == pgx.TextFormatCode {
		return len(b) > 0 && b[0] == 't'
	}
	return len(b) == 1 && b[0] == 1
}

// key is the stream's current product id, or -1 when it is exhausted.
func (s *stream) key() int64 {
	if s.vals == nil {
		return -1
	}
	return s.int(0)
}

// buildRange merges one range's streams into documents, compares them with
// the base's and COPYs those to write into the job's target.
func buildRange(ctx context.Context, j *docJob, queries map[string]string, r docRange, stored bool) (*diff, error) {
	names := []string{"products", "features", "styles", "skus", "photos", "related"}
	streams := map[string]*stream{}
	var base *baseStream
	defer func() {
		for _, s := range streams {
			s.close()
		}
		if base != nil {
			base.close()
		}
	}()
	// Open the six streams at once: each waits for its sort, and the sorts
	// run in parallel backends.
	t := time.Now()
	// (Not an errgroup: its context ends with Wait, and the streams live on.)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opened := make([]*stream, len(names))
	errs := make([]error, len(names)+1)
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			q := queries[n]
			if stored {
				q = queries[n+"_stored"]
			}
			opened[i], errs[i] = openStream(ctx, j.pool, n, q, r, stored)
		})
	}
	if j.compare {
		wg.Go(func() { base, errs[len(names)] = openBase(ctx, j, r) })
	}
	wg.Wait()
	for i, s := range opened {
		if s != nil {
			streams[names[i]] = s
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	j.log.Debug("document streams sorted", "lo", r.lo, "hi", r.hi, "seconds", time.Since(t).Seconds())
	t = time.Now()
	defer func() { j.log.Debug("documents merged and copied", "lo", r.lo, "seconds", time.Since(t).Seconds()) }()
	src := &docSource{
		p: streams["products"], f: streams["features"], st: streams["styles"],
		sk: streams["skus"], ph: streams["photos"], rel: streams["related"],
	}
	return mergeInto(ctx, j, src, base)
}

// mergeInto builds the documents src yields, compares them with base (nil:
// none) and COPYs those to write into the job's target.
func mergeInto(ctx context.Context, j *docJob, src *docSource, base *baseStream) (*diff, error) {
	cmp := &comparer{base: base, incremental: j.incremental, d: &diff{}}
	// One goroutine merges and compares; copyStreams connections COPY the
	// documents in, so that PostgreSQL's side of the COPY (TOAST
	// compression, WAL) runs in parallel with itself and with the merge.
	batches := make(chan *docBatch, 2*copyStreams)
	skuBatches := make(chan []stockRow, 4)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		defer close(skuBatches)
		err := produce(gctx, src, cmp, j.pack, batches, skuBatches)
		if err == nil {
			// The COPYs wait for no more samples: this merge has no more.
			// (One that fails does not settle: its COPYs end with it, and
			// a start over on another path goes on sampling.)
			j.pack.settle()
		}
		return err
	})
	table := j.target()
	g.Go(func() error { return copySkus(gctx, j, skuBatches) })
	var total, bytes atomic.Int64
	for range copyStreams {
		g.Go(func() error {
			conn, err := j.pool.Acquire(gctx)
			if err != nil {
				return fmt.Errorf("building documents: %w", err)
			}
			defer conn.Release()
			src := &batchSource{ctx: gctx, in: batches, since: j.since, pack: j.pack}
			n, err := copyBinary(gctx, conn, table, docsColumns, src.next)
			total.Add(n)
			bytes.Add(src.bytes)
			if err != nil {
				return fmt.Errorf("building documents: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if src.err != nil {
			return nil, src.err
		}
		return nil, err
	}
	cmp.d.written, cmp.d.writtenBytes = total.Load(), bytes.Load()
	return cmp.d, nil
}

// produce builds the range's documents, keeps those the comparer says to
// write, and hands them on in batches, their skus' stock beside them.
func produce(ctx context.Context, src *docSource, cmp *comparer, pack *packer, out chan<- *docBatch, skus chan<- []stockRow) error {
	for {
		b := batchPool.Get().(*docBatch)
		b.reset()
		var stock []stockRow
		for len(b.rows) < batchRows && !src.done() {
			skipped, err := skipUnchanged(src, cmp)
			if err != nil {
				return err
			}
			if skipped {
				continue
			}
			if !src.Next() {
				break
			}
			cmp.d.built++
			write, err := cmp.see(src.id, src.hashes)
			if err != nil {
				return err
			}
			if write {
				b.add(src)
				pack.sample(src.prod)
				for _, sk := range src.skus {
					stock = append(stock, stockRow{id: sk[0], product: src.id, quantity: sk[1]})
				}
			}
		}
		if src.err != nil {
			return src.err
		}
		if len(b.rows) == 0 && src.done() {
			return cmp.finish()
		}
		if len(b.rows) == 0 {
			batchPool.Put(b)
			continue
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		if len(stock) == 0 {
			continue
		}
		select {
		case skus <- stock:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// skipUnchanged moves src past its current product without building it
// when the build is incremental and the product's rows hash as the base's
// version did: its documents are the base's.
func skipUnchanged(src *docSource, cmp *comparer) (bool, error) {
	if !cmp.incremental || src.inputs == nil {
		return false, nil
	}
	h, ok, err := cmp.baseInput(int32(src.p.key()))
	if err != nil || !ok {
		return false, err
	}
	same, err := src.skipIf(h)
	if err != nil || !same {
		return false, err
	}
	return true, cmp.same()
}

// stockRow is one sku's stock, in stockColumns' order after since.
type stockRow struct{ id, product, quantity int32 }

// copySkus COPYs the written products' skus' stock into the job's sku
// table (a full build's own, an incremental build's lineage's).
func copySkus(ctx context.Context, j *docJob, in <-chan []stockRow) error {
	conn, err := j.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("writing the skus' stock: %w", err)
	}
	defer conn.Release()
	var cur []stockRow
	i := 0
	next := func(w *copyWriter) (bool, error) {
		for i >= len(cur) {
			select {
			case b, ok := <-in:
				if !ok {
					return false, nil
				}
				cur, i = b, 0
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		r := cur[i]
		i++
		w.row(len(stockColumns))
		w.int8(j.since)
		w.int4(r.id)
		w.int4(r.product)
		w.int4(r.quantity)
		return true, nil
	}
	if _, err := copyBinary(ctx, conn, j.skuTarget(), stockColumns, next); err != nil {
		return fmt.Errorf("writing the skus' stock: %w", err)
	}
	return nil
}

const (
	copyStreams   = 2                       // COPY connections per range
	batchRows     = 256                     // products per batch handed to a COPY
	connsPerRange = 6 + 1 + copyStreams + 1 // streams, base, docs COPYs, skus COPY
)

// docBatch holds finished documents, their bytes in one arena, their skus'
// ids in another.
type docBatch struct {
	arena []byte
	skus  []int32
	rows  []docRow
}

type docRow struct {
	id      int32
	hashes  [3]int64
	input   int64
	inputOK bool   // h_input is NULL when not hashed
	end     [3]int // arena offsets where product, styles, related end
	skusEnd int    // offset in skus where this row's end
}

var batchPool = sync.Pool{New: func() any { return &docBatch{} }}

func (b *docBatch) reset() { b.arena, b.skus, b.rows = b.arena[:0], b.skus[:0], b.rows[:0] }

func (b *docBatch) add(d *docSource) {
	r := docRow{id: d.id, hashes: d.hashes, input: d.input, inputOK: d.inputOK}
	for i, part := range [3][]byte{d.prod, d.styles, d.related} {
		b.arena = append(b.arena, part...)
		r.end[i] = len(b.arena)
	}
	for _, sk := range d.skus {
		b.skus = append(b.skus, sk[0])
	}
	r.skusEnd = len(b.skus)
	b.rows = append(b.rows, r)
}

// batchSource feeds batches from a channel to one COPY, in docsColumns'
// order, each document in its stored form: the COPY goroutines code them
// (pkg/stored), copyStreams at a time, beside the merge; the product
// documents packed with the lineage's dictionary when it has one.
type batchSource struct {
	ctx   context.Context
	in    <-chan *docBatch
	since int64
	cur   *docBatch
	i     int
	enc   *stored.Encoder
	pack  *packer
	bytes int64 // the documents' bytes as readers get them (elier.body_length), so far
}

// next writes the next document's row, coded straight into the COPY data;
// false at the end.
func (s *batchSource) next(w *copyWriter) (bool, error) {
	for s.cur == nil || s.i >= len(s.cur.rows) {
		if s.cur != nil {
			batchPool.Put(s.cur)
			s.cur = nil
		}
		select {
		case b, ok := <-s.in:
			if !ok {
				return false, nil
			}
			s.cur, s.i = b, 0
		case <-s.ctx.Done():
			return false, s.ctx.Err()
		}
	}
	r := s.cur.rows[s.i]
	s.i++
	start, skus := 0, 0
	if s.i > 1 {
		prev := &s.cur.rows[s.i-2]
		start, skus = prev.end[2], prev.skusEnd
	}
	a := s.cur.arena
	if s.enc == nil {
		s.enc = stored.NewEncoder()
	}
	dict, err := s.pack.wait(s.ctx) // at once, after the first row
	if err != nil {
		return false, err
	}
	w.row(len(docsColumns))
	w.int4(r.id)
	w.int8(s.since)
	for _, h := range r.hashes {
		w.int8(h)
	}
	if r.inputOK {
		w.int8(r.input)
	} else {
		w.null()
	}
	w.int4Array(s.cur.skus[skus:r.skusEnd]) // no skus: an empty array, not NULL
	prod := a[start:r.end[0]]
	at := w.open()
	if dict != nil {
		w.buf = dict.Append(w.buf, prod)
		s.bytes += int64(len(prod)) // readers unpack it
	} else {
		w.buf = s.enc.Append(w.buf, prod)
	}
	if n := w.close(at); dict == nil {
		s.bytes += int64(n)
	}
	for _, doc := range [2][]byte{a[r.end[0]:r.end[1]], a[r.end[1]:r.end[2]]} {
		at := w.open()
		w.buf = s.enc.Append(w.buf, doc)
		s.bytes += int64(w.close(at))
	}
	return true, nil
}

// docSource produces one product's documents per row for COPY.
type docSource struct {
	p, f, st, sk, ph, rel rowStream
	id                    int32
	prod, styles          []byte
	related               []byte
	hashes                [3]int64   // of prod, styles, related
	skus                  [][2]int32 // the product's skus: id, quantity
	err                   error

	// The input hash of the product's rows (h_input), when every stream
	// hashes its rows (the direct path's do; the staging path's do not).
	inputs  []inputStream
	input   int64
	inputOK bool
}

// inputStream is a rowStream that hashes the rows it moves past and can go
// back to a mark: what lets an incremental build skip a product whose rows
// are the base's.
type inputStream interface {
	rowStream
	resetInput()
	inputSum() uint64
	mark()
	rewind()
	unmark()
}

// hashInputs makes src hash its rows, when all six streams can.
func (d *docSource) hashInputs() {
	d.inputs = d.inputs[:0]
	for _, s := range [...]rowStream{d.p, d.f, d.st, d.sk, d.ph, d.rel} {
		is, ok := s.(inputStream)
		if !ok {
			d.inputs = nil
			return
		}
		d.inputs = append(d.inputs, is)
	}
}

func (d *docSource) resetInputs() {
	for _, s := range d.inputs {
		s.resetInput()
	}
}

// inputHash combines the six streams' hashes of the product's rows.
func (d *docSource) inputHash() int64 {
	var b [6 * 8]byte
	for i, s := range d.inputs {
		binary.LittleEndian.PutUint64(b[8*i:], s.inputSum())
	}
	return int64(xxhash.Sum64(b[:]))
}

// skipIf moves past the current product without building its documents
// when its rows hash to h (the base's h_input for it), and reports whether
// it did; otherwise it leaves every stream where it was.
func (d *docSource) skipIf(h int64) (bool, error) {
	id := d.p.key()
	d.resetInputs()
	for _, s := range d.inputs {
		s.mark()
	}
	if err := d.p.advance(); err != nil {
		return false, err
	}
	for _, c := range d.inputs[1:] {
		for c.key() == id {
			if err := c.advance(); err != nil {
				return false, err
			}
		}
	}
	if err := d.checkChildren(id); err != nil {
		return false, err
	}
	same := d.inputHash() == h
	for _, s := range d.inputs {
		if same {
			s.unmark()
		} else {
			s.rewind()
		}
	}
	if same {
		d.id = int32(id)
	}
	return same, nil
}

// Next builds the next product's documents.
func (d *docSource) Next() bool {
	if d.done() || d.err != nil {
		return false
	}
	d.err = d.build()
	return d.err == nil
}

func (d *docSource) done() bool { return d.p.key() == -1 }

func (d *docSource) build() error {
	id := d.p.key()
	d.resetInputs()
	if err := d.buildProduct(id); err != nil {
		return err
	}
	if err := d.buildStyles(id); err != nil {
		return err
	}
	if err := d.buildRelated(id); err != nil {
		return err
	}
	if err := d.checkChildren(id); err != nil {
		return err
	}
	d.id = int32(id)
	d.hashes = [3]int64{hashOf(d.prod), hashOf(d.styles), hashOf(d.related)}
	if err := d.p.advance(); err != nil {
		return err
	}
	if d.inputOK = d.inputs != nil; d.inputOK {
		d.input = d.inputHash()
	}
	return nil
}

// checkChildren: children sort by product id like the products do, so
// after product id none may still point at an id at or below it.
func (d *docSource) checkChildren(id int64) error {
	for _, c := range [...]rowStream{d.f, d.st, d.sk, d.ph, d.rel} {
		if k := c.key(); k != -1 && k <= id {
			return fmt.Errorf("building documents: %s row for product %d after product %d: %w", c.table(), k, id, errOutOfOrder)
		}
	}
	return nil
}

// buildProduct writes GET /products/:id. Its item in GET /products is the
// document up to "features", closed: readers cut it out
// (readmodel.ListItem), so it is not stored.
func (d *docSource) buildProduct(id int64) error {
	p := d.p
	b := d.prod[:0]
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = appendField(b, "name", p.text(1))
	b = appendField(b, "slogan", p.text(2))
	b = appendField(b, "description", p.text(3))
	b = appendField(b, "category", p.text(4))
	b = append(b, `,"default_price":"`...)
	b = loader.Cents(p.int(5)).AppendText(b)
	b = append(b, '"')

	pr := append(b, `,"features":[`...)
	for n := 0; d.f.key() == id; n++ {
		if n > 0 {
			pr = append(pr, ',')
		}
		pr = append(pr, `{"feature":`...)
		pr = appendJSONString(pr, d.f.text(1))
		pr = append(pr, `,"value":`...)
		if d.f.text(2) == nil {
			pr = append(pr, "null"...)
		} else {
			pr = appendJSONString(pr, d.f.text(2))
		}
		pr = append(pr, '}')
		if err := d.f.advance(); err != nil {
			return err
		}
	}
	d.prod = append(pr, "]}"...)
	return nil
}

// buildStyles writes GET /products/:id/styles.
func (d *docSource) buildStyles(id int64) error {
	d.skus = d.skus[:0]
	s := append(d.styles[:0], `{"product_id":"`...)
	s = strconv.AppendInt(s, id, 10)
	s = append(s, `","results":[`...)
	for n := 0; d.st.key() == id; n++ {
		if n > 0 {
			s = append(s, ',')
		}
		var err error
		if s, err = d.appendStyle(s, id); err != nil {
			return err
		}
	}
	d.styles = append(s, "]}"...)
	return nil
}

// appendStyle appends the current style with its photos and skus.
func (d *docSource) appendStyle(s []byte, id int64) ([]byte, error) {
	st := d.st
	sid := st.int(1)
	s = append(s, `{"style_id":`...)
	s = strconv.AppendInt(s, sid, 10)
	s = appendField(s, "name", st.text(2))
	s = append(s, `,"original_price":"`...)
	s = loader.Cents(st.int(4)).AppendText(s)
	s = append(s, `","sale_price":`...)
	if st.text(3) == nil {
		s = append(s, "null"...)
	} else {
		s = append(s, '"')
		s = loader.Cents(st.int(3)).AppendText(s)
		s = append(s, '"')
	}
	if st.bool(5) {
		s = append(s, `,"default?":true,"photos":[`...)
	} else {
		s = append(s, `,"default?":false,"photos":[`...)
	}
	k := 0
	for ; d.ph.key() == id && d.ph.int(1) == sid; k++ {
		if k > 0 {
			s = append(s, ',')
		}
		s = append(s, `{"thumbnail_url":`...)
		s = appendJSONString(s, d.ph.text(3))
		s = append(s, `,"url":`...)
		s = appendJSONString(s, d.ph.text(2))
		s = append(s, '}')
		if err := d.ph.advance(); err != nil {
			return s, err
		}
	}
	if k == 0 {
		s = append(s, `{"thumbnail_url":null,"url":null}`...)
	}
	s = append(s, `],"skus":{`...)
	k = 0
	for ; d.sk.key() == id && d.sk.int(1) == sid; k++ {
		if k > 0 {
			s = append(s, ',')
		}
		s = append(s, '"')
		s = strconv.AppendInt(s, d.sk.int(2), 10)
		s = append(s, `":{"quantity":`...)
		s = strconv.AppendInt(s, d.sk.int(4), 10)
		d.skus = append(d.skus, [2]int32{int32(d.sk.int(2)), int32(d.sk.int(4))})
		s = append(s, `,"size":`...)
		s = appendJSONString(s, d.sk.text(3))
		s = append(s, '}')
		if err := d.sk.advance(); err != nil {
			return s, err
		}
	}
	if k == 0 {
		s = append(s, `"null":{"quantity":null,"size":null}`...)
	}
	return append(s, "}}"...), st.advance()
}

// buildRelated writes GET /products/:id/related.
func (d *docSource) buildRelated(id int64) error {
	rl := append(d.related[:0], '[')
	for n := 0; d.rel.key() == id; n++ {
		if n > 0 {
			rl = append(rl, ',')
		}
		rl = strconv.AppendInt(rl, d.rel.int(1), 10)
		if err := d.rel.advance(); err != nil {
			return err
		}
	}
	d.related = append(rl, ']')
	return nil
}

// hashOf is a document's 64-bit hash as PostgreSQL stores it (bigint): the
// change detector and the API's ETag. xxHash64: fast (GB/s) and well
// distributed; a collision would keep one changed product's old version
// until its next change, at odds of about 1 in 2^64 per change.
func hashOf(b []byte) int64 { return int64(xxhash.Sum64(b)) }

// appendField appends `,"name":"value"`.
func appendField(b []byte, name string, v []byte) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

// appendJSONString appends s as a JSON string. The loader rejected invalid
// UTF-8, so only quotes, backslashes and control characters need escapes;
// U+2028 and U+2029 are escaped too, for JavaScript consumers.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time: nearly every string (URLs, names)
		// is ASCII with nothing to escape.
		for i+8 <= len(s) && needsEscape(binary.LittleEndian.Uint64(s[i:])) == 0 {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRune(s[i:])
			if r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				b = append(b, `\u202`...)
				b = append(b, hex[r&0xf])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// needsEscape is non-zero when one of the 8 bytes of w is a control
// character (< 0x20), a quote, a backslash or not ASCII (>= 0x80): the
// bytes appendJSONString must look at one by one. (x - k*lo) &^ x & hi is
// non-zero exactly when some byte of x is below k (the classic has-less
// test: a borrow only crosses into a byte after a byte that is below k).
func needsEscape(w uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := w ^ (lo * '"')
	b := w ^ (lo * '\\')
	return ((w-lo*0x20)&^w | (q-lo)&^q | (b-lo)&^b | w) & hi
}
