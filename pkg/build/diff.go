package build

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/sql"
)

// diff is how a build's products compare with its base's.
type diff struct {
	unchanged               int64
	changed, added, removed []int32
	written                 int64 // document rows written
	writtenBytes            int64 // their stored documents' bytes (product, styles, related)
	built                   int64 // products whose documents were built
	// The base's versions that end at this build (of the changed and
	// removed products): ids and their since, side by side.
	endedIDs   []int32
	endedSince []int64
}

func (d *diff) counts() ProductCounts {
	return ProductCounts{Unchanged: d.unchanged, Changed: int64(len(d.changed)),
		Added: int64(len(d.added)), Removed: int64(len(d.removed))}
}

// changedIDs is every product whose documents differ from the base's
// (changed, added, removed), ascending: what a cache must drop.
func (d *diff) changedIDs() []int32 {
	out := slices.Concat(d.changed, d.added, d.removed)
	slices.Sort(out)
	return out
}

func mergeDiffs(ds []*diff) *diff {
	out := &diff{}
	for _, d := range ds {
		out.unchanged += d.unchanged
		out.written += d.written
		out.writtenBytes += d.writtenBytes
		out.built += d.built
		out.changed = append(out.changed, d.changed...)
		out.added = append(out.added, d.added...)
		out.removed = append(out.removed, d.removed...)
		out.endedIDs = append(out.endedIDs, d.endedIDs...)
		out.endedSince = append(out.endedSince, d.endedSince...)
	}
	return out
}

// comparer walks a range's new products beside the base's, both in
// ascending id order, and classifies each.
type comparer struct {
	base        *baseStream // nil: nothing to compare with (all added)
	incremental bool
	d           *diff
}

// see classifies product id with the given document hashes and says
// whether its documents are to be written.
func (c *comparer) see(id int32, h [3]int64) (bool, error) {
	if c.base == nil {
		c.d.added = append(c.d.added, id)
		return true, nil
	}
	if err := c.removeBefore(int64(id)); err != nil {
		return false, err
	}
	if !c.base.ok || c.base.id != id {
		c.d.added = append(c.d.added, id)
		return true, nil
	}
	same := c.base.h == h
	if !same {
		c.d.changed = append(c.d.changed, id)
		c.end()
	}
	if err := c.base.advance(); err != nil {
		return false, err
	}
	if same {
		c.d.unchanged++
		return !c.incremental, nil
	}
	return true, nil
}

// end records that the base's current version ends at this build.
func (c *comparer) end() {
	c.d.endedIDs = append(c.d.endedIDs, c.base.id)
	c.d.endedSince = append(c.d.endedSince, c.base.since)
}

// baseInput returns the base's input hash of product id when the base has
// a version of it whose rows were hashed; the base's products before id
// are counted removed.
func (c *comparer) baseInput(id int32) (int64, bool, error) {
	if c.base == nil {
		return 0, false, nil
	}
	if err := c.removeBefore(int64(id)); err != nil {
		return 0, false, err
	}
	if !c.base.ok || c.base.id != id || c.base.input == nil {
		return 0, false, nil
	}
	return *c.base.input, true, nil
}

// same counts the base's current product unchanged: its rows hashed the
// same (see baseInput).
func (c *comparer) same() error {
	c.d.unchanged++
	return c.base.advance()
}

// finish counts the base's products after the range's last new one as
// removed.
func (c *comparer) finish() error {
	if c.base == nil {
		return nil
	}
	return c.removeBefore(math.MaxInt64)
}

// removeBefore counts the base's products before id as removed: their
// versions end at this build.
func (c *comparer) removeBefore(id int64) error {
	for c.base.ok && int64(c.base.id) < id {
		c.d.removed = append(c.d.removed, c.base.id)
		c.end()
		if err := c.base.advance(); err != nil {
			return err
		}
	}
	return nil
}

// baseStream is the base build's document hashes for one range, in id order.
type baseStream struct {
	conn  *pgxpool.Conn
	rows  pgx.Rows
	ok    bool
	id    int32
	since int64 // the version's
	h     [3]int64
	input *int64 // h_input; nil when the base did not hash its rows
}

// openBase streams the hashes of j's base build for range r.
func openBase(ctx context.Context, j *docJob, r docRange) (*baseStream, error) {
	input := "d.h_input"
	if j.base.format < 3 {
		input = "NULL::bigint" // before h_input
	}
	query := sql.Expand(sql.Named("build_queries.sql")["base"], "base_schema", ident(j.base.docsSchema), "h_input", input)
	conn, err := j.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the base build's hashes: %w", err)
	}
	rows, err := conn.Query(ctx, query, r.lo, r.hi, j.base.id)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("reading the base build's hashes: %w", err)
	}
	b := &baseStream{conn: conn, rows: rows}
	if err := b.advance(); err != nil {
		// The first row can fail too (the load's context ended, say by
		// another file's error): the connection goes back here, or the
		// pool's Close waits for it forever.
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *baseStream) advance() error {
	b.ok = b.rows.Next()
	if !b.ok {
		if err := b.rows.Err(); err != nil {
			return fmt.Errorf("reading the base build's hashes: %w", err)
		}
		return nil
	}
	b.input = nil
	if err := b.rows.Scan(&b.id, &b.since, &b.h[0], &b.h[1], &b.h[2], &b.input); err != nil {
		return fmt.Errorf("reading the base build's hashes: %w", err)
	}
	return nil
}

func (b *baseStream) close() {
	b.rows.Close()
	b.conn.Release()
}
