package build

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The documents and the skus' stock are COPYed in PostgreSQL's binary
// format, written here row by row (copyWriter) rather than handed to pgx as
// []any: pgx encodes each value through its type map, a plan lookup per
// value, and a stock row as []any is four allocations. At 1,000,011
// products that is 11.3 million stock rows and a million documents rows:
// 1.8 s of the loader's CPU in a full build's profile, and most of its
// allocations (docs/BENCHMARKS.md, "A deflate encoder for short
// documents"). The columns' types are sql/docs.sql's; a mismatch is an
// error from PostgreSQL, not a wrong value (binary COPY checks each
// field's length against its type).

// copyWriter appends binary COPY data (the format of PostgreSQL's COPY
// documentation, "Binary Format").
type copyWriter struct{ buf []byte }

// copySignature is the binary format's header: its signature, flags (0)
// and header extension length (0).
const copySignature = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

func (w *copyWriter) row(fields int) { w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(fields)) }

func (w *copyWriter) int4(v int32) {
	w.buf = binary.BigEndian.AppendUint32(w.buf, 4)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(v))
}

func (w *copyWriter) int8(v int64) {
	w.buf = binary.BigEndian.AppendUint32(w.buf, 8)
	w.buf = binary.BigEndian.AppendUint64(w.buf, uint64(v))
}

func (w *copyWriter) null() { w.buf = binary.BigEndian.AppendUint32(w.buf, 0xffffffff) }

func (w *copyWriter) bytea(b []byte) {
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(b)))
	w.buf = append(w.buf, b...)
}

// open starts a field whose bytes the caller appends to buf; close, given
// what open returned, ends it and returns its length.
func (w *copyWriter) open() int {
	at := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0, 0)
	return at
}

func (w *copyWriter) close(at int) int {
	n := len(w.buf) - at - 4
	binary.BigEndian.PutUint32(w.buf[at:], uint32(n))
	return n
}

// int4Array writes v as integer[]: one dimension (none when empty), no
// NULLs, element type int4 (OID 23), lower bound 1.
func (w *copyWriter) int4Array(v []int32) {
	if len(v) == 0 {
		w.buf = binary.BigEndian.AppendUint32(w.buf, 12)
		w.buf = append(w.buf, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23)
		return
	}
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(20+8*len(v)))
	w.buf = append(w.buf, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(v)))
	w.buf = append(w.buf, 0, 0, 0, 1)
	for _, x := range v {
		w.buf = append(w.buf, 0, 0, 0, 4)
		w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(x))
	}
}

// copyChunk: a copyReader writes rows until it holds this much, then hands
// it to the connection.
const copyChunk = 64 << 10

// copyReader is the COPY data of the rows next writes, as an io.Reader
// for pgconn.CopyFrom: next writes one row and tells whether it did; at the
// end (false) the trailer follows.
type copyReader struct {
	next    func(*copyWriter) (bool, error)
	w       copyWriter
	off     int
	rows    int64
	started bool
	done    bool
}

func (r *copyReader) Read(p []byte) (int, error) {
	if r.off == len(r.w.buf) {
		if r.done {
			return 0, io.EOF
		}
		r.w.buf = r.w.buf[:0]
		if !r.started {
			r.w.buf = append(r.w.buf, copySignature...)
			r.started = true
		}
		r.off = 0
		for len(r.w.buf) < copyChunk {
			ok, err := r.next(&r.w)
			if err != nil {
				return 0, err
			}
			if !ok {
				r.w.buf = append(r.w.buf, 0xff, 0xff) // the trailer
				r.done = true
				break
			}
			r.rows++
		}
	}
	n := copy(p, r.w.buf[r.off:])
	r.off += n
	return n, nil
}

// copyBinary COPYs into table's columns the rows next writes, on conn, and
// returns how many it wrote.
func copyBinary(ctx context.Context, conn *pgxpool.Conn, table pgx.Identifier, columns []string,
	next func(*copyWriter) (bool, error)) (int64, error) {
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", table.Sanitize(), strings.Join(cols, ", "))
	r := &copyReader{next: next}
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, r, sql); err != nil {
		return r.rows, err
	}
	return r.rows, nil
}
