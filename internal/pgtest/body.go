package pgtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/s2"

	sqlfiles "github.com/elier/catalogue/sql"
)

// Querier is what Body reads a dictionary with: a *pgx.Conn, a pool, a
// transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Body is the response body of a document as a build stored it, decoded
// independently of pkg/stored and pkg/readmodel: gzip with the standard
// library; a packed product document (first byte 0x00, a uvarint
// dictionary id, an S2 block) with S2 and the dictionary read from
// elier.dicts; anything else is the body itself.
func Body(ctx context.Context, db Querier, b []byte) ([]byte, error) {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("a gzip document: %w", err)
		}
		return io.ReadAll(r)
	case len(b) > 0 && b[0] == 0x00:
		id, n := binary.Uvarint(b[1:])
		if n <= 0 {
			return nil, fmt.Errorf("a packed document without a dictionary id: % x", b[:min(len(b), 12)])
		}
		d, err := dictOf(ctx, db, id)
		if err != nil {
			return nil, err
		}
		out, err := d.Decode(nil, b[1+n:])
		if err != nil {
			return nil, fmt.Errorf("a document packed with dictionary %d: %w", id, err)
		}
		return out, nil
	}
	return b, nil
}

// dicts caches the dictionaries read, by database handle and id (a
// database never reuses a build id; another database is another handle).
var dicts sync.Map // dictKey -> *s2.Dict

type dictKey struct {
	db Querier
	id uint64
}

func dictOf(ctx context.Context, db Querier, id uint64) (*s2.Dict, error) {
	if d, ok := dicts.Load(dictKey{db, id}); ok {
		return d.(*s2.Dict), nil
	}
	var raw []byte
	if err := db.QueryRow(ctx, sqlfiles.Named("dicts.sql")["dict"], int64(id)).Scan(&raw); err != nil {
		return nil, fmt.Errorf("dictionary %d: %w", id, err)
	}
	d := s2.NewDict(raw)
	if d == nil {
		return nil, fmt.Errorf("dictionary %d does not read", id)
	}
	dicts.Store(dictKey{db, id}, d)
	return d, nil
}

// Queryer reads rows: a *pgx.Conn, a pool.
type Queryer interface {
	Querier
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// LiveBytes counts the live build's products and the bytes of their
// documents as a reader gets them: each as stored, but a packed product
// document as its body (Body), which is what a load's stored_bytes counts
// and what the API's cache rule is fed. packed is how many product
// documents were packed.
func LiveBytes(ctx context.Context, db Queryer) (products, bytes, packed int64, err error) {
	// Not a cached statement: the columns' types changed across formats.
	rows, err := db.Query(ctx, "SELECT product, octet_length(styles) + octet_length(related) FROM elier.docs", pgx.QueryExecModeExec)
	if err != nil {
		return 0, 0, 0, err
	}
	type row struct {
		Product []byte
		Others  int64
	}
	docs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return 0, 0, 0, err
	}
	for _, d := range docs {
		n := len(d.Product)
		if len(d.Product) > 0 && d.Product[0] == 0 {
			b, err := Body(ctx, db, d.Product)
			if err != nil {
				return 0, 0, 0, err
			}
			n, packed = len(b), packed+1
		}
		products, bytes = products+1, bytes+int64(n)+d.Others
	}
	return products, bytes, packed, nil
}
