package readmodel

import (
	"context"
	"time"

	sqlfiles "github.com/elier/catalogue/sql"
)

var (
	qRole      = sqlfiles.Must("api_role.sql")
	qStaleness = sqlfiles.Must("api_staleness.sql")
)

// Role returns the database role the reader connects as and whether it is a
// superuser, which a reader never needs to be.
func (r *Reader) Role(ctx context.Context) (name string, superuser bool, err error) {
	if err := r.pool.QueryRow(ctx, qRole).Scan(&name, &superuser); err != nil {
		return "", false, translate(err, "reading the role")
	}
	return name, superuser, nil
}

// Staleness is how fresh the live build is. A zero time is unknown: no
// build yet, an export whose load predates the record of attempts, or no
// attempt of that outcome.
type Staleness struct {
	BuildID     int64
	BuiltAt     time.Time // the live build finished loading
	ExportAt    time.Time // its export was taken (the newest of its files)
	LastSuccess time.Time // the loader last made a build or found the export unchanged
	LastFailure time.Time // the loader last failed
}

// Staleness reads the freshness of the live build and the loader's last
// success and failure from the builds catalogue.
func (r *Reader) Staleness(ctx context.Context) (Staleness, error) {
	var s Staleness
	var id *int64
	var built, export, ok, failed *float64
	if err := r.pool.QueryRow(ctx, qStaleness).Scan(&id, &built, &export, &ok, &failed); err != nil {
		return s, translate(err, "reading the loader's record")
	}
	if id != nil {
		s.BuildID = *id
	}
	s.BuiltAt, s.ExportAt, s.LastSuccess, s.LastFailure = epoch(built), epoch(export), epoch(ok), epoch(failed)
	return s, nil
}

func epoch(f *float64) time.Time {
	if f == nil {
		return time.Time{}
	}
	return time.Unix(0, int64(*f*1e9))
}
