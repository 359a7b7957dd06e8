package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/pkg/stored"
	sqlfiles "github.com/elier/catalogue/sql"
)

// Product documents of storage format 6 are packed with their lineage's
// dictionary (pkg/stored); the Reader unpacks them, so that what it returns
// is always a body in a coding clients take (gzip, or none). It loads a
// dictionary the first time a document needs it, and keeps it.

var (
	qDict      = sqlfiles.Named("dicts.sql")["dict"]
	qLiveDicts = sqlfiles.Named("dicts.sql")["kept_dicts"]
)

// needDict: a packed document needs dictionary id, not loaded yet.
type needDict struct{ id int64 }

func (e *needDict) Error() string {
	return fmt.Sprintf("readmodel: a document needs dictionary %d", e.id)
}

// unpack appends to dst the body of the packed document b. One whose
// dictionary is not loaded is a *needDict (withDicts loads it).
func (r *Reader) unpack(dst, b []byte) ([]byte, error) {
	id, err := stored.PackedDict(b)
	if err != nil {
		return dst, err
	}
	d := r.dicts.Get(id)
	if d == nil {
		return dst, &needDict{id}
	}
	return d.Unpack(dst, b)
}

// withDicts runs f, and again after loading the dictionary f needed (a new
// build's, once per process).
func (r *Reader) withDicts(ctx context.Context, f func() error) error {
	for {
		err := f()
		var nd *needDict
		if !errors.As(err, &nd) {
			return err
		}
		if r.dicts.Get(nd.id) != nil {
			return fmt.Errorf("readmodel: dictionary %d loaded and still missing", nd.id)
		}
		if err := r.loadDict(ctx, nd.id); err != nil {
			return err
		}
	}
}

// RowQuerier reads one row: a *pgx.Conn, a pool, a transaction.
type RowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ReadDict reads dictionary id from elier.dicts through q: for a tool
// that reads elier.docs itself (a Reader loads and keeps its own).
func ReadDict(ctx context.Context, q RowQuerier, id int64) (*stored.Dict, error) {
	var raw []byte
	err := q.QueryRow(ctx, qDict, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: a document is packed with dictionary %d, which elier.dicts does not have", stored.ErrCorrupt, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading dictionary %d: %w", id, err)
	}
	return stored.NewDict(id, raw)
}

// loadDict reads dictionary id from elier.dicts and keeps it.
func (r *Reader) loadDict(ctx context.Context, id int64) error {
	var d *stored.Dict
	err := r.retry(ctx, func() (err error) { d, err = ReadDict(ctx, r.pool, id); return err })
	if errors.Is(err, stored.ErrCorrupt) {
		return err
	}
	if err != nil {
		return translate(err, "loading a document's dictionary")
	}
	r.dicts.Add(d)
	return nil
}

// loadKeptDicts reads the dictionaries of the live and previous builds'
// lineages that are not loaded yet: what a stream of documents needs
// before it starts.
func (r *Reader) loadKeptDicts(ctx context.Context) error {
	rows, err := r.pool.Query(ctx, qLiveDicts)
	if err != nil {
		return translate(err, "reading the live build's dictionary")
	}
	type row struct {
		ID   int64
		Dict []byte
	}
	ds, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return translate(err, "reading the live build's dictionary")
	}
	for _, d := range ds {
		if r.dicts.Get(d.ID) != nil {
			continue
		}
		dict, err := stored.NewDict(d.ID, d.Dict)
		if err != nil {
			return err
		}
		r.dicts.Add(dict)
	}
	return nil
}
