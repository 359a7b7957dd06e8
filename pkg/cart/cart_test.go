package cart_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/elier/catalogue/internal/pgtest"
	"github.com/elier/catalogue/pkg/build"
	"github.com/elier/catalogue/pkg/cart"
	sqlfiles "github.com/elier/catalogue/sql"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const fixtureDir = "../../testdata/atelier-sample"

// newDB returns a fresh database's URL with the catalogue's and the cart's
// schemas, as elier-etl migrate leaves them.
func newDB(t *testing.T) string {
	t.Helper()
	url := pgtest.NewDatabase(t)
	pool := newPool(t, url, false)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, sqlfiles.Must("catalog.sql")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := cart.Migrate(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	return url
}

// newPool returns a pool on url, configured for the cart when forCart.
func newPool(t *testing.T, url string, forCart bool) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if forCart {
		cart.ConfigurePool(cfg)
	} else {
		cfg.MaxConns = build.Conns(2) // the loader's
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// setStock makes a build live whose elier.skus holds stock (sku id to
// quantity), as the loader's swap does.
func setStock(t *testing.T, pool *pgxpool.Pool, build int, stock map[int32]int32) {
	t.Helper()
	ctx := context.Background()
	schema := pgx.Identifier{"elier_t" + strings.Repeat("x", build)}.Sanitize()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, s := range []string{
			"CREATE SCHEMA " + schema,
			"CREATE TABLE " + schema + ".skus (id integer PRIMARY KEY, quantity integer NOT NULL)",
		} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		for id, q := range stock {
			if _, err := tx.Exec(ctx, "INSERT INTO "+schema+".skus VALUES ($1, $2)", id, q); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "CREATE OR REPLACE VIEW elier.skus AS SELECT id, quantity FROM "+schema+".skus")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// uniformStock is skus 1..n, each with quantity q.
func uniformStock(n, q int32) map[int32]int32 {
	stock := make(map[int32]int32, n)
	for id := int32(1); id <= n; id++ {
		stock[id] = q
	}
	return stock
}

// alterDatabase sets a default for new sessions of url's database.
func alterDatabase(t *testing.T, url, setting string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET "+setting+"', current_database()); END $$"); err != nil {
		t.Fatal(err)
	}
}

func list(t *testing.T, s *cart.Store, session cart.Session) []cart.Item {
	t.Helper()
	items, err := s.List(context.Background(), session)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestAddAndList(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	setStock(t, newPool(t, url, false), 1, map[int32]int32{1: 2, 2: 5, 3: 0, 7: 1})
	s := cart.NewStore(newPool(t, url, true), time.Hour, 0)
	ctx := context.Background()
	a, b := cart.SessionOf("authorization", []byte("Bearer a")), cart.SessionOf("cookie", []byte("Bearer a"))
	if a == b {
		t.Fatal("an Authorization header and a cookie of the same text share a session")
	}

	for _, step := range []struct {
		session cart.Session
		sku     int32
		count   int32
		err     error
	}{
		{a, 2, 1, nil},
		{a, 1, 1, nil},
		{a, 2, 2, nil},
		{a, 1, 2, nil},
		{a, 1, 0, cart.ErrOverStock}, // quantity 2
		{a, 3, 0, cart.ErrOverStock}, // quantity 0
		{a, 99, 0, cart.ErrNoSku},
		{b, 7, 1, nil},
		{b, 7, 0, cart.ErrOverStock},
	} {
		n, err := s.Add(ctx, step.session, step.sku)
		if !errors.Is(err, step.err) || n != step.count {
			t.Fatalf("add sku %d: %d, %v; want %d, %v", step.sku, n, err, step.count, step.err)
		}
	}
	// First-added order, not id order; sessions apart.
	if got, want := list(t, s, a), []cart.Item{{2, 2}, {1, 2}}; !slices.Equal(got, want) {
		t.Errorf("cart a: %v, want %v", got, want)
	}
	if got, want := list(t, s, b), []cart.Item{{7, 1}}; !slices.Equal(got, want) {
		t.Errorf("cart b: %v, want %v", got, want)
	}
	if got := list(t, s, cart.SessionOf("cookie", []byte("nobody"))); len(got) != 0 {
		t.Errorf("an unknown session's cart: %v", got)
	}
	// Failed first adds of new sessions leave nothing behind; the two
	// sessions that hold something keep their rows.
	for i := range 3 {
		if _, err := s.Add(ctx, cart.SessionOf("cookie", []byte{byte(i)}), 99); !errors.Is(err, cart.ErrNoSku) {
			t.Fatal(err)
		}
	}
	var carts int
	if err := newPool(t, url, false).QueryRow(ctx, "SELECT count(*) FROM elier_cart.carts").Scan(&carts); err != nil || carts != 2 {
		t.Errorf("%d carts rows (%v), want 2", carts, err)
	}
}

// TestCartFull: at most MaxSkus distinct skus, even when a session adds
// new skus concurrently; more units of a sku already in a full cart are
// still fine.
func TestCartFull(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	setStock(t, newPool(t, url, false), 1, uniformStock(cart.MaxSkus+50, 3))
	s := cart.NewStore(newPool(t, url, true), time.Hour, 0)
	session := cart.SessionOf("authorization", []byte("full"))
	var wg sync.WaitGroup
	errs := make([]error, cart.MaxSkus+50)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.Add(context.Background(), session, int32(i+1)) })
	}
	wg.Wait()
	full := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, cart.ErrFull):
			full++
		case err != nil:
			t.Fatal(err)
		}
	}
	items := list(t, s, session)
	if len(items) != cart.MaxSkus || full != 50 {
		t.Fatalf("%d skus in the cart, %d refused as full; want %d and 50", len(items), full, cart.MaxSkus)
	}
	if n, err := s.Add(context.Background(), session, items[0].SkuID); err != nil || n != 2 {
		t.Fatalf("another unit of a sku in a full cart: %d, %v", n, err)
	}
}

// TestDurableWhateverTheDefault: a database whose default is
// synchronous_commit = off or local still gets durable cart commits, on the
// synchronous standby too when there is one.
func TestDurableWhateverTheDefault(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	ctx := context.Background()
	alterDatabase(t, url, "synchronous_commit = off")
	check := func(pool *pgxpool.Pool, want string) {
		t.Helper()
		var got string
		if err := pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("synchronous_commit %q, want %q", got, want)
		}
	}
	check(newPool(t, url, false), "off") // the setting took: the check below can fail
	check(newPool(t, url, true), "on")
	// local does not wait for a synchronous standby: a failover could lose
	// an acknowledged add (Patroni's synchronous_mode names the standby).
	alterDatabase(t, url, "synchronous_commit = local")
	check(newPool(t, url, false), "local")
	check(newPool(t, url, true), "on")
	alterDatabase(t, url, "synchronous_commit = remote_apply")
	check(newPool(t, url, true), "remote_apply") // stronger settings are kept
}

// TestReadOnlyIsUnavailable: a server that refuses writes (a standby, or
// here a read-only default) is ErrUnavailable, not an internal error.
func TestReadOnlyIsUnavailable(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	ctx := context.Background()
	alterDatabase(t, url, "default_transaction_read_only = on")
	s := cart.NewStore(newPool(t, url, true), time.Hour, 0)
	session := cart.SessionOf("cookie", []byte("x"))
	if _, err := s.Add(ctx, session, 1); !errors.Is(err, cart.ErrUnavailable) {
		t.Errorf("add on a read-only server: %v", err)
	}
	if _, err := s.List(ctx, session); !errors.Is(err, cart.ErrUnavailable) {
		t.Errorf("list on a read-only server: %v", err)
	}
}

func TestNotMigrated(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := cart.NewStore(newPool(t, url, true), time.Hour, 0)
	ctx := context.Background()
	if err := s.Ready(ctx); !errors.Is(err, cart.ErrNotMigrated) {
		t.Errorf("Ready: %v", err)
	}
	if _, err := s.Add(ctx, cart.SessionOf("cookie", []byte("x")), 1); !errors.Is(err, cart.ErrNotMigrated) {
		t.Errorf("Add: %v", err)
	}
	if _, err := s.List(ctx, cart.SessionOf("cookie", []byte("x"))); !errors.Is(err, cart.ErrNotMigrated) {
		t.Errorf("List: %v", err)
	}
}

// TestExpire: idle carts go, in batches; active ones stay.
func TestExpire(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	setStock(t, newPool(t, url, false), 1, map[int32]int32{1: 10, 2: 10})
	pool := newPool(t, url, true)
	s := cart.NewStore(pool, time.Hour, 0)
	ctx := context.Background()
	var old []cart.Session
	for i := range 5 {
		old = append(old, cart.SessionOf("cookie", []byte{byte(i)}))
		for _, sku := range []int32{1, 2} {
			if _, err := s.Add(ctx, old[i], sku); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Age those carts by two hours, then make a fresh one.
	if _, err := pool.Exec(ctx, "UPDATE elier_cart.carts SET touched_at = touched_at - interval '2 hours'"); err != nil {
		t.Fatal(err)
	}
	fresh := cart.SessionOf("cookie", []byte("fresh"))
	if _, err := s.Add(ctx, fresh, 1); err != nil {
		t.Fatal(err)
	}
	var batches []int64
	for {
		n, err := s.Expire(ctx, time.Hour, 2)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, n)
		if n < 2 {
			break
		}
	}
	if !slices.Equal(batches, []int64{2, 2, 1}) {
		t.Errorf("batches %v, want [2 2 1]", batches)
	}
	for _, o := range old {
		if got := list(t, s, o); len(got) != 0 {
			t.Errorf("an idle cart survived: %v", got)
		}
	}
	if got := list(t, s, fresh); !slices.Equal(got, []cart.Item{{1, 1}}) {
		t.Errorf("the fresh cart: %v", got)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM elier_cart.items) + (SELECT count(*) FROM elier_cart.carts)").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Errorf("%d rows left, want the fresh cart's 2", rows)
	}
}

// TestExpireSkipsLockedSession: the sweep does not touch an idle cart whose
// session lock an add holds (the lock's key, per sql/cart_queries.sql: the
// first 8 bytes of the session as two int4s, computed here on its own),
// and it does not wait for it either; once the lock is gone, the cart goes.
func TestExpireSkipsLockedSession(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	setStock(t, newPool(t, url, false), 1, map[int32]int32{1: 10})
	pool := newPool(t, url, true)
	s := cart.NewStore(pool, time.Hour, 0)
	ctx := context.Background()
	sess := cart.SessionOf("cookie", []byte("idle"))
	if _, err := s.Add(ctx, sess, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE elier_cart.carts SET touched_at = touched_at - interval '2 hours'"); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	hi, lo := int32(binary.BigEndian.Uint32(sess[0:4])), int32(binary.BigEndian.Uint32(sess[4:8]))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1::int4, $2::int4)", hi, lo); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if n, err := s.Expire(short, time.Hour, 10); err != nil || n != 0 {
		t.Fatalf("expire with the session locked: %d, %v; want 0 carts, no wait", n, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Expire(ctx, time.Hour, 10); err != nil || n != 1 {
		t.Fatalf("expire after the lock: %d, %v; want 1", n, err)
	}
	if got := list(t, s, sess); len(got) != 0 {
		t.Errorf("the idle cart survived: %v", got)
	}
}

// TestCartSurvivesRebuildAndRollback runs the real loader: a rebuild in
// which a sku disappears and a rollback leave the cart as it was, the
// vanished sku listed; the stock check follows the live build.
func TestCartSurvivesRebuildAndRollback(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	loaderPool := newPool(t, url, false)
	rebuild := func(dir string) {
		t.Helper()
		_, err := build.Rebuild(context.Background(), loaderPool, build.Options{
			Dir: dir, RejectDir: t.TempDir(), MaxRejectRatio: 0.01, MaxShrink: 1, Ranges: 2})
		if err != nil {
			t.Fatal(err)
		}
	}
	rebuild(fixtureDir)

	s := cart.NewStore(newPool(t, url, true), time.Hour, 0)
	ctx := context.Background()
	session := cart.SessionOf("authorization", []byte("shopper"))
	for _, sku := range []int32{4, 1, 4} {
		if _, err := s.Add(ctx, session, sku); err != nil {
			t.Fatalf("sku %d: %v", sku, err)
		}
	}
	want := []cart.Item{{4, 2}, {1, 1}}

	// The next export lacks sku 4 (its line is dropped).
	changed := t.TempDir()
	for _, f := range []string{"product.csv", "features.csv", "styles.csv", "skus.csv", "photos.csv", "related.csv"} {
		b, err := os.ReadFile(filepath.Join(fixtureDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "skus.csv" {
			var keep []string
			for _, line := range strings.SplitAfter(string(b), "\n") {
				if !strings.HasPrefix(line, "4,") {
					keep = append(keep, line)
				}
			}
			b = []byte(strings.Join(keep, ""))
		}
		if err := os.WriteFile(filepath.Join(changed, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rebuild(changed)
	if got := list(t, s, session); !slices.Equal(got, want) {
		t.Fatalf("after a rebuild: %v, want %v", got, want)
	}
	if _, err := s.Add(ctx, session, 4); !errors.Is(err, cart.ErrNoSku) {
		t.Fatalf("adding the vanished sku: %v", err)
	}
	if _, err := build.Rollback(ctx, loaderPool); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, session); !slices.Equal(got, want) {
		t.Fatalf("after a rollback: %v, want %v", got, want)
	}
	if n, err := s.Add(ctx, session, 4); err != nil || n != 3 {
		t.Fatalf("sku 4 is back after the rollback: %d, %v", n, err)
	}
}

// TestGroupCommit: concurrent adds of many sessions commit in groups (here
// gathered for up to 1 ms, as --cart-group-wait 1ms does), and
// an add the server refuses (here a sku whose stock row raises an error)
// fails alone: the other adds of its group are committed all the same.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	pool := newPool(t, url, false)
	setStock(t, pool, 1, uniformStock(20, 5))
	ctx := context.Background()
	// Sku 13's quantity is a division by zero: the server's error, in the
	// middle of whatever group holds that add.
	if _, err := pool.Exec(ctx, `CREATE OR REPLACE VIEW elier.skus AS
		SELECT id, CASE WHEN id = 13 THEN quantity / 0 ELSE quantity END AS quantity FROM elier_tx.skus`); err != nil {
		t.Fatal(err)
	}
	s := cart.NewStore(newPool(t, url, true), time.Hour, time.Millisecond)
	const sessions, adds = 25, 100 // every (session, sku) pair once
	session := func(i int) cart.Session { return cart.SessionOf("cookie", []byte{byte(i % sessions)}) }
	var wg sync.WaitGroup
	counts, errs := make([]int32, adds), make([]error, adds)
	for i := range adds {
		wg.Go(func() { counts[i], errs[i] = s.Add(ctx, session(i), int32(1+i%20)) })
	}
	wg.Wait()
	want := map[cart.Session][]cart.Item{}
	for i := range adds {
		sku := int32(1 + i%20)
		if sku == 13 {
			if errs[i] == nil || errors.Is(errs[i], cart.ErrUnavailable) || errors.Is(errs[i], cart.ErrNoSku) {
				t.Errorf("add of sku 13: %v, want the server's error", errs[i])
			}
			continue
		}
		if errs[i] != nil || counts[i] != 1 {
			t.Fatalf("add %d (sku %d): %d, %v", i, sku, counts[i], errs[i])
		}
		want[session(i)] = append(want[session(i)], cart.Item{SkuID: sku, Count: 1})
	}
	for sess, items := range want {
		got := list(t, s, sess)
		slices.SortFunc(got, func(a, b cart.Item) int { return int(a.SkuID - b.SkuID) })
		slices.SortFunc(items, func(a, b cart.Item) int { return int(a.SkuID - b.SkuID) })
		if !slices.Equal(got, items) {
			t.Errorf("cart %x: %v, want %v", sess[:4], got, items)
		}
	}
	// Without an error in them, concurrent adds share groups.
	before := s.Stats()
	for i := range adds {
		wg.Go(func() { _, errs[i] = s.Add(ctx, cart.SessionOf("authorization", []byte{byte(i)}), 1) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Adds-before.Adds != adds || st.Groups-before.Groups >= adds {
		t.Errorf("stats %+v then %+v: want %d more adds in fewer groups", before, st, adds)
	}
}

// TestBatchedReads: concurrent reads of many carts, read together in
// batches, each get their own session's cart in first-added order (never
// another session's, never one sku twice), an unknown session an empty
// one; a read right after an add sees it.
func TestBatchedReads(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	setStock(t, newPool(t, url, false), 1, uniformStock(40, 10))
	s := cart.NewStore(newPool(t, url, true), time.Hour, 0)
	ctx := context.Background()
	const sessions = 30
	session := func(i int) cart.Session { return cart.SessionOf("authorization", []byte{'r', byte(i)}) }
	want := make([][]cart.Item, sessions)
	for i := range sessions {
		// Session i holds i%7+1 skus, added in descending id order (so
		// first-added order is not id order), the first of them twice.
		for k := range i%7 + 1 {
			sku := int32(40 - (i+3*k)%40)
			for range 1 + boolInt(k == 0) {
				if _, err := s.Add(ctx, session(i), sku); err != nil {
					t.Fatal(err)
				}
			}
			want[i] = append(want[i], cart.Item{SkuID: sku, Count: int32(1 + boolInt(k == 0))})
		}
		// A read right after the add: read-your-writes.
		if got := list(t, s, session(i)); !slices.Equal(got, want[i]) {
			t.Fatalf("cart %d right after its adds: %v, want %v", i, got, want[i])
		}
	}
	before := s.Stats()
	const reads = 300
	got, errs := make([][]cart.Item, reads), make([]error, reads)
	var wg sync.WaitGroup
	for r := range reads {
		wg.Go(func() {
			if r%10 == 9 {
				got[r], errs[r] = s.List(ctx, cart.SessionOf("cookie", []byte{byte(r)}))
				return
			}
			got[r], errs[r] = s.List(ctx, session(r%sessions))
		})
	}
	wg.Wait()
	for r := range reads {
		w := want[r%sessions]
		if r%10 == 9 {
			w = nil
		}
		if errs[r] != nil || !slices.Equal(got[r], w) {
			t.Errorf("read %d: %v, %v; want %v", r, got[r], errs[r], w)
		}
	}
	if st := s.Stats(); st.Reads-before.Reads != reads || st.ReadBatches-before.ReadBatches >= reads {
		t.Errorf("stats %+v then %+v: want %d more reads in fewer batches", before, st, reads)
	}
	// A caller whose context has ended gets its error, not a cart.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.List(done, session(1)); !errors.Is(err, cart.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("List with a canceled context: %v", err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestIndexPlansOnEmptiedTables: with the cart's tables empty and analyzed
// so (a new install, or every cart expired), the adds, reads and sweeps
// that follow never scan the tables whole: a prepared statement would
// otherwise keep a sequential-scan plan while the tables grow again, until
// the next autovacuum ANALYZE. Read from the server's own statistics
// (pg_stat_user_tables), once the cart's connections have closed and
// flushed them.
func TestIndexPlansOnEmptiedTables(t *testing.T) {
	t.Parallel()
	url := newDB(t)
	admin := newPool(t, url, false)
	setStock(t, admin, 1, uniformStock(200, 1000))
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "ANALYZE elier_cart.items, elier_cart.carts"); err != nil {
		t.Fatal(err)
	}
	pool := newPool(t, url, true)
	s := cart.NewStore(pool, time.Hour, 0)
	const adds = 60 // one at a time: the same connection, past the five custom plans
	for i := range adds {
		session := cart.SessionOf("authorization", []byte("Bearer "+strings.Repeat("s", i%6+1)))
		if _, err := s.Add(ctx, session, int32(i%200)+1); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			list(t, s, session)
		}
	}
	if _, err := s.Expire(ctx, time.Hour, 100); err != nil {
		t.Fatal(err)
	}
	pool.Close() // the backends exit and flush their statistics
	var seq, idx int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := admin.QueryRow(ctx, `SELECT sum(seq_scan), sum(idx_scan) FROM pg_stat_user_tables
			WHERE schemaname = 'elier_cart'`).Scan(&seq, &idx); err != nil {
			t.Fatal(err)
		}
		if idx >= adds || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if idx < adds {
		t.Fatalf("the statistics show %d index scans of the cart's tables after %d adds: not flushed", idx, adds)
	}
	if seq != 0 {
		t.Errorf("%d sequential scans of the cart's tables (and %d index scans) after %d adds on emptied, analyzed tables", seq, idx, adds)
	}
}
