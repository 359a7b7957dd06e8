package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/pkg/stored"
	sqlfiles "github.com/elier/catalogue/sql"
)

// Errors of the read side. Every database error a Reader method returns is
// one of these (wrapped), or an unexpected error that the caller reports as
// an internal one.
var (
	// ErrNotFound: the live build has no such product.
	ErrNotFound = errors.New("readmodel: not found")
	// ErrNoBuild: no build is live yet (before the first load).
	ErrNoBuild = errors.New("readmodel: no build is live")
	// ErrUnavailable: the database is unreachable, refused the connection,
	// went away mid-query or did not answer in time. Worth retrying later.
	ErrUnavailable = errors.New("readmodel: database unavailable")
	// ErrStandby means the database is a hot standby, where LISTEN is not
	// allowed and the primary's NOTIFYs never arrive: builds are found by
	// polling and by the build id on every row instead.
	ErrStandby = errors.New("readmodel: the database is a standby; NOTIFY does not reach it")
)

// Doc names one of the documents stored for each product.
type Doc int

// The per-product documents, each the whole body of one route.
const (
	DocProduct Doc = iota + 1 // GET /products/:id
	DocStyles                 // GET /products/:id/styles
	DocRelated                // GET /products/:id/related
)

// ListChunk is how many product ids one elier.list_ids row holds.
const ListChunk = 1000

// The statements, read once; the pool prepares each on every connection
// (QueryExecModeCacheStatement).
var (
	qDocs      = sqlfiles.Must("api_docs.sql")
	qList      = sqlfiles.Must("api_list.sql")
	qLiveBuild = sqlfiles.Must("api_live_build.sql")
	qListen    = sqlfiles.Must("api_listen.sql")
	qChanges   = sqlfiles.Must("api_changes.sql")
	qCatalogue = sqlfiles.Must("api_catalogue.sql")
	qAll       = sqlfiles.Must("api_prefill.sql")
	qSome      = sqlfiles.Must("api_prefill_ids.sql")
	qOrder     = sqlfiles.Must("api_list_order.sql")
)

// Reader reads the served documents of the live build from the elier.docs
// view. It is safe for concurrent use; its methods never keep ctx.
type Reader struct {
	pool  *pgxpool.Pool
	dicts stored.Dicts // the packed documents' dictionaries met so far
}

// NewReader returns a Reader over pool. For prepared statements, create the
// pool with DefaultQueryExecMode = pgx.QueryExecModeCacheStatement.
func NewReader(pool *pgxpool.Pool) *Reader {
	return &Reader{pool: pool}
}

// Product returns the body of GET /products/:id and the build it belongs to.
// See Doc for the errors.
func (r *Reader) Product(ctx context.Context, id int32) (buildID int64, body []byte, err error) {
	return r.Doc(ctx, DocProduct, id)
}

// Styles returns the body of GET /products/:id/styles; see Doc.
func (r *Reader) Styles(ctx context.Context, id int32) (buildID int64, body []byte, err error) {
	return r.Doc(ctx, DocStyles, id)
}

// Related returns the body of GET /products/:id/related; see Doc.
func (r *Reader) Related(ctx context.Context, id int32) (buildID int64, body []byte, err error) {
	return r.Doc(ctx, DocRelated, id)
}

// Doc returns product id's document d of the live build, as stored (the
// exact response body, in a new slice the caller may keep), and the id of
// the build it came from. When the live build has no such product the error
// is ErrNotFound and buildID is still the live build's id, so that the
// caller may cache the 404 for that build; before the first load it is
// ErrNoBuild.
func (r *Reader) Doc(ctx context.Context, d Doc, id int32) (buildID int64, body []byte, err error) {
	l := [1]Lookup{{Doc: d, ID: id}}
	if err := r.Docs(ctx, l[:]); err != nil {
		return 0, nil, err
	}
	return l[0].Build, l[0].Body, l[0].Err
}

// Lookup is one document a batch asks for (Doc, ID), and the answer Docs
// gives it (Build, Body, Err), as Doc would return them.
type Lookup struct {
	Doc Doc
	ID  int32

	Build int64
	Hash  int64 // the body's hash: the same bytes have the same hash in every build
	Body  []byte
	Err   error // nil, ErrNotFound or ErrNoBuild
}

// Docs answers a batch of lookups with one statement: a primary-key probe
// each, one round trip and one snapshot for all, so concurrent requests
// that miss the API's cache share the cost of a query. Its own error is the
// statement's (ErrUnavailable, or an unexpected one); then no lookup is
// answered.
func (r *Reader) Docs(ctx context.Context, ls []Lookup) error {
	ids := make([]int32, len(ls))
	kinds := make([]int32, len(ls))
	for i := range ls {
		if ls[i].Doc < DocProduct || ls[i].Doc > DocRelated {
			return fmt.Errorf("readmodel: unknown document %d", ls[i].Doc)
		}
		ids[i], kinds[i] = ls[i].ID, int32(ls[i].Doc)
	}
	err := r.withDicts(ctx, func() error {
		return r.retry(ctx, func() error {
			for i := range ls {
				ls[i].Build, ls[i].Body, ls[i].Err = 0, nil, ErrNoBuild // no row: no build
			}
			rows, err := r.pool.Query(ctx, qDocs, ids, kinds)
			if err != nil {
				return err
			}
			defer rows.Close()
			var i, live int64
			var docBuild, hash pgtype.Int8
			for rows.Next() {
				var body []byte
				if err := rows.Scan(&i, &live, &docBuild, &hash, &body); err != nil {
					return err
				}
				if i < 1 || i > int64(len(ls)) {
					return fmt.Errorf("readmodel: lookup %d of %d", i, len(ls))
				}
				l := &ls[i-1]
				if !docBuild.Valid {
					l.Build, l.Body, l.Err = live, nil, ErrNotFound
					continue
				}
				if stored.Packed(body) {
					if body, err = r.unpack(nil, body); err != nil {
						return err
					}
				}
				l.Build, l.Hash, l.Body, l.Err = docBuild.Int64, hash.Int64, body, nil
			}
			return rows.Err()
		})
	})
	if err != nil {
		return translate(err, "reading "+strconv.Itoa(len(ls))+" product documents")
	}
	return nil
}

// List appends to dst page page of count list items of the live build as a
// JSON array (the whole body of GET /products?page=&count=) and returns it
// with the build it came from. A page past the end is "[]". Before the first
// load the error is ErrNoBuild. The page is one or two rows of the build's
// list order and an index probe per item, in one statement, so it never
// mixes two builds.
func (r *Reader) List(ctx context.Context, dst []byte, page, count int32) (buildID int64, body []byte, err error) {
	if page < 1 || count < 1 {
		return 0, dst, fmt.Errorf("readmodel: page %d, count %d: both must be positive", page, count)
	}
	first := (int64(page)-1)*int64(count) + 1
	last := int64(page) * int64(count)
	start := len(dst)
	var plain []byte
	err = r.withDicts(ctx, func() error {
		return r.retry(ctx, func() error {
			buildID, dst = 0, append(dst[:start], '[')
			rows, err := r.pool.Query(ctx, qList, first, last, ListChunk)
			if err != nil {
				return err
			}
			defer rows.Close()
			n := 0
			var live int64
			var docBuild pgtype.Int8
			for rows.Next() {
				// The item is cut from the row's raw bytes (bytea in binary
				// format is the bytes themselves), appended in place.
				if err := rows.Scan(&live, &docBuild, nil); err != nil {
					return err
				}
				buildID = live
				if !docBuild.Valid {
					continue // past the end: the row only names the live build
				}
				buildID = docBuild.Int64
				if n > 0 {
					dst = append(dst, ',')
				}
				product := rows.RawValues()[2]
				if stored.Packed(product) {
					if plain, err = r.unpack(plain[:0], product); err != nil {
						return err
					}
					product = plain
				}
				if dst, err = ListItem(dst, product); err != nil {
					return fmt.Errorf("item %d of the page: %w", n+1, err)
				}
				n++
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if buildID == 0 {
				return pgx.ErrNoRows
			}
			dst = append(dst, ']')
			return nil
		})
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, dst[:start], ErrNoBuild
	case err != nil:
		return 0, dst[:start], translate(err, "reading page "+strconv.Itoa(int(page)))
	}
	return buildID, dst, nil
}

// Changed returns the product ids whose documents differ between builds
// from and to, when one of them was built on the other; ok is false when the
// builds are not related that way (the caller then drops everything).
func (r *Reader) Changed(ctx context.Context, from, to int64) (ids []int32, ok bool, err error) {
	type info struct {
		base    *int64
		changed []int32
	}
	var got map[int64]info
	err = r.retry(ctx, func() error {
		got = map[int64]info{}
		rows, err := r.pool.Query(ctx, qChanges, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var in info
			if err := rows.Scan(&id, &in.base, &in.changed); err != nil {
				return err
			}
			got[id] = in
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, translate(err, "reading the builds' changes")
	}
	if t, ok := got[to]; ok && t.base != nil && *t.base == from && t.changed != nil {
		return t.changed, true, nil
	}
	if f, ok := got[from]; ok && f.base != nil && *f.base == to && f.changed != nil {
		return f.changed, true, nil
	}
	return nil, false, nil
}

// LiveBuild returns the id of the live build, or ErrNoBuild.
func (r *Reader) LiveBuild(ctx context.Context) (int64, error) {
	var id int64
	err := r.retry(ctx, func() error {
		return r.pool.QueryRow(ctx, qLiveBuild).Scan(&id)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, ErrNoBuild
	case err != nil:
		return 0, translate(err, "reading the live build")
	}
	return id, nil
}

// Catalogue is a build's size: its products, and the stored bytes of their
// served documents (pkg/stored), or -1 when its load did not record them.
type Catalogue struct {
	Products    int64
	StoredBytes int64
}

// Catalogue returns build id's size as its load recorded it; ErrNoBuild
// when there is no such build.
func (r *Reader) Catalogue(ctx context.Context, id int64) (Catalogue, error) {
	var c Catalogue
	var b pgtype.Int8
	err := r.retry(ctx, func() error {
		return r.pool.QueryRow(ctx, qCatalogue, id).Scan(&b, &c.Products)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return c, ErrNoBuild
	case err != nil:
		return c, translate(err, "reading the size of build "+strconv.FormatInt(id, 10))
	}
	c.StoredBytes = -1
	if b.Valid {
		c.StoredBytes = b.Int64
	}
	return c, nil
}

// Product is one product's three served documents as stored, with their
// hashes and the build they belong to; the slices are valid only during
// the callback that receives them.
type Product struct {
	Build  int64
	ID     int32
	Hashes [3]int64  // DocProduct, DocStyles, DocRelated
	Docs   [3][]byte // the same order
}

// EachProduct streams the live build's products (those of ids only, when
// ids is not nil) to fn, in no particular order, in one statement (one
// snapshot): the API fills its cache with them. It stops at fn's first
// error, which it returns; ErrNoBuild is not an error here (no rows).
func (r *Reader) EachProduct(ctx context.Context, ids []int32, fn func(*Product) error) error {
	q, args := qAll, []any(nil)
	if ids != nil {
		q, args = qSome, []any{ids}
	}
	if err := r.loadKeptDicts(ctx); err != nil {
		return err
	}
	rows, err := r.pool.Query(ctx, q, args...)
	if err != nil {
		return translate(err, "reading the live build's documents")
	}
	defer rows.Close()
	var p Product
	var plain []byte
	for rows.Next() {
		raw := rows.RawValues()
		if err := rows.Scan(&p.Build, &p.ID, &p.Hashes[0], &p.Hashes[1], &p.Hashes[2], nil, nil, nil); err != nil {
			return translate(err, "reading the live build's documents")
		}
		// The bytes as received: bytea (and text) in binary format are the
		// bytes themselves.
		p.Docs = [3][]byte{raw[5], raw[6], raw[7]}
		if stored.Packed(raw[5]) {
			// A build's dictionary is loaded before its stream starts,
			// unless a swap came in between: then it is read now, on
			// another of the pool's connections.
			var err error
			if plain, err = r.unpack(plain[:0], raw[5]); err != nil {
				var nd *needDict
				if !errors.As(err, &nd) {
					return err
				}
				if err := r.loadDict(ctx, nd.id); err != nil {
					return err
				}
				if plain, err = r.unpack(plain[:0], raw[5]); err != nil {
					return err
				}
			}
			p.Docs[0] = plain
		}
		if err := fn(&p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return translate(err, "reading the live build's documents")
	}
	return nil
}

// ListOrder returns build id's list order: its product ids, position 1
// first (4 bytes a product: 4 MB at a million). Empty for an unknown
// build.
func (r *Reader) ListOrder(ctx context.Context, id int64) ([]int32, error) {
	var ids []int32
	err := r.retry(ctx, func() error {
		ids = ids[:0]
		rows, err := r.pool.Query(ctx, qOrder, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		var chunk []int32
		for rows.Next() {
			if err := rows.Scan(&chunk); err != nil {
				return err
			}
			ids = append(ids, chunk...)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, translate(err, "reading the list order of build "+strconv.FormatInt(id, 10))
	}
	return ids, nil
}

// ListenBuilds opens a connection of its own (outside the pool), LISTENs for
// the loader's announcements of new builds, calls listening once it is in
// place, then notify with each announced build id (0 when a payload is not a
// build id) until ctx ends or the connection fails. It returns nil when ctx
// ends, else the error; the caller reconnects, with backoff.
func (r *Reader) ListenBuilds(ctx context.Context, listening func(), notify func(buildID int64)) error {
	conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return translate(err, "connecting to listen for builds")
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	var standby bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return translate(err, "listening for builds")
	}
	if standby {
		return ErrStandby
	}
	if _, err := conn.Exec(ctx, qListen, pgx.QueryExecModeSimpleProtocol); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return translate(err, "listening for builds")
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return translate(err, "waiting for builds")
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil || id < 0 {
			id = 0
		}
		notify(id)
	}
}

// retry runs f, and once more when it failed for a transient reason: every
// statement here is a read, so a second try is always safe, and it hides the
// one dead connection a pool may hand out after the server restarted or
// killed its backends.
func (r *Reader) retry(ctx context.Context, f func() error) error {
	err := f()
	if err != nil && ctx.Err() == nil && transient(err) {
		err = f()
	}
	return err
}

// transient tells a failure of the connection (network, refused, closed,
// server shutting down) or a momentary refusal from an answer of the server
// that would be the same next time.
func transient(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// A stored document that does not read: the same next time.
	var nd *needDict
	if errors.As(err, &nd) || errors.Is(err, stored.ErrCorrupt) || errors.Is(err, stored.ErrNoDict) || errors.Is(err, ErrNoItem) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return transientCode(pe.Code)
	}
	// Anything else pgx returns comes from the connection, not from the
	// server: an I/O error, an unexpected EOF, a closed connection or pool.
	return true
}

// transientCode tells the SQLSTATEs that mean "the server cannot answer
// now" rather than "the statement is wrong".
func transientCode(code string) bool {
	if len(code) == 5 && code[:2] == "08" { // connection exception
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"53300",          // too_many_connections
		"57014",          // query_canceled (statement_timeout, or our own cancel)
		"55000",          // object_not_in_prerequisite_state: database not accepting connections
		"55P03",          // lock_not_available
		"40001", "40P01", // serialization_failure, deadlock_detected
		"42P01", // undefined_table: a swap dropped what a cached plan read
		"0A000": // cached plan must not change result type (pgx re-prepares)
		return true
	}
	return false
}

// translate turns a database error into ErrUnavailable (timeouts and
// connection failures) or a wrapped unexpected error, saying what was being
// done. Decisions are made on types and SQLSTATEs, never on message text.
func translate(err error, doing string) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || pgconn.Timeout(err) || transient(err) {
		return fmt.Errorf("%s: %w: %w", doing, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
