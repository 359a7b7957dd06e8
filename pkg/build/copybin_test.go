package build

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCopyBinary writes rows of every type the COPYs use with copyWriter
// and reads them back through pgx's own decoding: NULL, empty and
// non-empty arrays and byteas, negative and extreme integers, and rows
// large enough that the data crosses several chunks.
func TestCopyBinary(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (i integer NOT NULL, b bigint, a integer[] NOT NULL, d bytea NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	type row struct {
		i int32
		b *int64
		a []int32
		d []byte
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*copyChunk/16+7)
	minus := int64(-1 << 63)
	var want []row
	for k := range 40 {
		r := row{i: int32(k) - 20, a: []int32{}, d: []byte{}}
		switch k % 4 {
		case 0:
			r.b = &minus
		case 1:
			v := int64(k) << 40
			r.b = &v
		}
		if k%3 != 0 {
			r.a = []int32{int32(k), -1 << 31, 1<<31 - 1}
		}
		if k%5 == 1 {
			r.d = big[:len(big)-k]
		} else if k%5 == 2 {
			r.d = []byte{0, 0xff, '\n', '\\'}
		}
		want = append(want, r)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	k := 0
	n, err := copyBinary(ctx, conn, pgx.Identifier{"t"}, []string{"i", "b", "a", "d"}, func(w *copyWriter) (bool, error) {
		if k == len(want) {
			return false, nil
		}
		r := want[k]
		k++
		w.row(4)
		w.int4(r.i)
		if r.b == nil {
			w.null()
		} else {
			w.int8(*r.b)
		}
		w.int4Array(r.a)
		w.bytea(r.d)
		return true, nil
	})
	if err != nil || n != int64(len(want)) {
		t.Fatalf("copyBinary: %d rows, %v", n, err)
	}
	rows, err := pool.Query(ctx, "SELECT i, b, a, d FROM t ORDER BY i")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.i, &x.b, &x.a, &x.d)
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows back, want %d", len(got), len(want))
	}
	for k := range want {
		g, w := got[k], want[k]
		if g.i != w.i || (g.b == nil) != (w.b == nil) || (g.b != nil && *g.b != *w.b) ||
			!slices.Equal(g.a, w.a) || !bytes.Equal(g.d, w.d) {
			t.Errorf("row %d: got %d %v %v %d bytes, want %d %v %v %d bytes", k, g.i, g.b, g.a, len(g.d), w.i, w.b, w.a, len(w.d))
		}
	}

	// A row source that fails fails the COPY: nothing is written.
	boom := errors.New("boom")
	k = 0
	_, err = copyBinary(ctx, conn, pgx.Identifier{"t"}, []string{"i", "b", "a", "d"}, func(w *copyWriter) (bool, error) {
		if k == 30 {
			return false, boom
		}
		k++
		w.row(4)
		w.int4(1000)
		w.null()
		w.int4Array(nil)
		w.bytea(big)
		return true, nil
	})
	if err == nil {
		t.Fatal("a failing source's COPY succeeded")
	}
	var count int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM t WHERE i = 1000").Scan(&count); err != nil || count != 0 {
		t.Fatalf("the failed COPY left %d rows (%v)", count, err)
	}
}
