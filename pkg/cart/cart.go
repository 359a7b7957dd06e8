// Package cart owns the shoppers' carts: their storage in schema elier_cart
// (sql/cart.sql, applied by elier-etl, never by the API), adding a unit
// under the live catalogue's stock check, listing a cart, and expiring idle
// carts. The cart lives on the primary and outside the builds; the only
// thing of the catalogue it reads is the view elier.skus.
package cart

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	sqlfiles "github.com/elier/catalogue/sql"
)

// MaxSkus is the most distinct skus a cart holds.
const MaxSkus = 100

// Errors of the store. Every error a Store method returns is one of these
// (wrapped), or an unexpected one the caller reports as internal.
var (
	// ErrNoSku: the live catalogue has no such sku.
	ErrNoSku = errors.New("cart: no such sku in the live catalogue")
	// ErrOverStock: one more unit would exceed the sku's live quantity.
	ErrOverStock = errors.New("cart: not enough stock")
	// ErrFull: the cart holds MaxSkus distinct skus already.
	ErrFull = errors.New("cart: the cart is full")
	// ErrUnavailable: the primary is unreachable, read-only (a standby),
	// shutting down or did not answer in time. Worth retrying later.
	ErrUnavailable = errors.New("cart: database unavailable")
	// ErrNotMigrated: the cart's tables do not exist (`elier-etl migrate`
	// has not run against this database).
	ErrNotMigrated = errors.New("cart: the cart tables are missing; run `elier-etl migrate`")
)

var q = sqlfiles.Named("cart_queries.sql")

// Migrate creates or updates the cart's schema (sql/cart.sql). It is
// idempotent and safe to run concurrently.
func Migrate(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}) error {
	if _, err := db.Exec(ctx, sqlfiles.Must("cart.sql")); err != nil {
		return fmt.Errorf("applying sql/cart.sql: %w", err)
	}
	return nil
}

// Session is the key of one cart: a digest of the session's token, so that
// the database never holds a credential. Tokens of different kinds (an
// Authorization header, a cookie) never share a cart.
type Session [sha256.Size]byte

// SessionOf returns the session named by a token of a kind ("authorization"
// or "cookie").
func SessionOf(kind string, token []byte) Session {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(token)
	var s Session
	h.Sum(s[:0])
	return s
}

// Item is one sku of a cart.
type Item struct {
	SkuID int32
	Count int32
}

// Store reads and writes carts through a pool on the primary.
type Store struct {
	pool *pgxpool.Pool
	// touchEvery is how stale a cart's touched_at may get before an add
	// rewrites it: a fraction of the idle expiry, so an add usually writes
	// one row.
	touchEvery time.Duration

	adds  batcher[*add]  // group commit (group.go)
	reads batcher[*read] // batched reads (reads.go)

	commits, committed     atomic.Uint64 // groups committed, and the adds they held
	readBatches, readsDone atomic.Uint64 // read statements run, and the reads they answered
}

// NewStore returns a Store over pool, whose carts expire after idle
// (Expire). Under load an add waits up to groupWait for others to commit
// with (batch.go's gather; 0: a group is whatever queued while the
// previous one committed). Configure the pool with ConfigurePool first.
func NewStore(pool *pgxpool.Pool, idle, groupWait time.Duration) *Store {
	s := &Store{pool: pool, touchEvery: min(idle/100, time.Hour)}
	s.adds = batcher[*add]{max: maxGroup, runners: 1, gather: groupWait, do: s.commit}
	s.reads = batcher[*read]{max: maxReadBatch, runners: readRunners, do: s.readCarts}
	return s
}

// GatherWhen makes the adds' gathering (groupWait) apply only while busy
// returns true: under CPU pressure, where a commit saved is worth a few
// milliseconds of an add's latency, and not on an otherwise idle server,
// where it would only delay the add. Call it before the Store is used.
func (s *Store) GatherWhen(busy func() bool) { s.adds.busy = busy }

// ConfigurePool makes cfg fit for the cart: connections only to a server
// that accepts writes (whatever target_session_attrs the URL names: a cart
// read after a write must see it, so a standby will not do), and a
// synchronous_commit of at least on for each, so that a commit is durable
// when it is acknowledged whatever the server's default, on the synchronous
// standby too when the server names one (a failover then loses nothing),
// and plans that use the cart's indexes however few rows the statistics
// say its tables hold (sql/cart_queries.sql, plans).
func ConfigurePool(cfg *pgxpool.Config) {
	// ValidateConnect runs on whichever host of a multi-host URL answered.
	cfg.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	prev := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if prev != nil {
			if err := prev(ctx, c); err != nil {
				return err
			}
		}
		if _, err := c.Exec(ctx, q["durable"]); err != nil {
			return fmt.Errorf("setting synchronous_commit: %w", err)
		}
		if _, err := c.Exec(ctx, q["plans"]); err != nil {
			return fmt.Errorf("setting enable_seqscan: %w", err)
		}
		return nil
	}
}

// Ready reports whether the cart's tables exist: nil, ErrNotMigrated, or
// the database's error.
func (s *Store) Ready(ctx context.Context) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, q["ready"]).Scan(&ok); err != nil {
		return translate(err, "checking the cart tables")
	}
	if !ok {
		return ErrNotMigrated
	}
	return nil
}

// Add puts one unit of sku into session's cart and returns its new count.
// It returns only after the commit is durable. Errors: ErrNoSku,
// ErrOverStock, ErrFull, ErrUnavailable, ErrNotMigrated.
//
// Concurrent adds commit together (group commit, group.go): one
// transaction, one round trip and one WAL flush for all the adds waiting
// while the previous group committed. Each add is still its own statement,
// under its session's lock: one upsert adds the unit under the stock
// check. The lock serializes one session's adds, so the distinct-sku limit
// holds under concurrency; the upsert's ON CONFLICT
// re-checks count < quantity against the row's latest version, so
// concurrent adds of one sku never overshoot the stock.
func (s *Store) Add(ctx context.Context, session Session, sku int32) (int32, error) {
	a := &add{session: session, sku: sku}
	if err := s.adds.submit(ctx, a); err != nil {
		return 0, translate(err, "adding to a cart")
	}
	return a.result()
}

// List returns session's cart in the order each sku first entered it.
// Concurrent lists are read together (reads.go): one statement for all
// the sessions waiting.
func (s *Store) List(ctx context.Context, session Session) ([]Item, error) {
	rd := &read{session: session}
	err := s.reads.submit(ctx, rd)
	if err == nil {
		err = rd.err
	}
	if err != nil {
		return nil, translate(err, "reading a cart")
	}
	return rd.items, nil
}

// Expire deletes carts idle for longer than idle, at most batch of them in
// one transaction, and returns how many it deleted: the caller repeats
// while it gets a full batch, so that no one transaction holds many locks
// or writes much WAL at once.
func (s *Store) Expire(ctx context.Context, idle time.Duration, batch int) (int64, error) {
	tag, err := s.pool.Exec(ctx, q["expire"], idle.Seconds(), batch)
	if err != nil {
		return 0, translate(err, "expiring idle carts")
	}
	return tag.RowsAffected(), nil
}

// retry runs f, and once more when the first try failed before anything
// reached the server (a pooled connection the server had closed): a write
// is retried only when it surely did not run.
func (s *Store) retry(ctx context.Context, f func() error) error {
	err := f()
	if err != nil && ctx.Err() == nil && pgconn.SafeToRetry(err) {
		err = f()
	}
	return err
}

// translate turns a database error into ErrUnavailable or ErrNotMigrated,
// or wraps it as unexpected, saying what was being done. Decisions are made
// on types and SQLSTATEs, never on message text.
func translate(err error, doing string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "42P01" || pe.Code == "3F000": // undefined_table, invalid_schema_name
			return fmt.Errorf("%s: %w: %w", doing, ErrNotMigrated, err)
		case unavailableCode(pe.Code):
			return fmt.Errorf("%s: %w: %w", doing, ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", doing, err)
	}
	// Anything else comes from the connection, not from the server: a
	// timeout, a refused or broken connection, a closed pool.
	return fmt.Errorf("%s: %w: %w", doing, ErrUnavailable, err)
}

// unavailableCode tells the SQLSTATEs that mean "not now" rather than
// "never": the server is away, read-only or busy.
func unavailableCode(code string) bool {
	if len(code) == 5 && code[:2] == "08" { // connection exception
		return true
	}
	switch code {
	case "25006", // read_only_sql_transaction: a standby, or default_transaction_read_only
		"57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"53300", "53100", "53200", // too_many_connections, disk_full, out_of_memory
		"57014",          // query_canceled (statement_timeout, or our own cancel)
		"55000", "55P03", // not accepting connections, lock_not_available
		"40001", "40P01", // serialization_failure, deadlock_detected
		"58030", // io_error
		"0A000": // cached plan must not change result type (pgx re-prepares)
		return true
	}
	return false
}
