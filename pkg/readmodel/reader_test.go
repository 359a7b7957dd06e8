package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/elier/catalogue/internal/pgtest"
	"github.com/elier/catalogue/pkg/readmodel"
	sqlfiles "github.com/elier/catalogue/sql"
)

// readerDoc is one product's stored documents.
type readerDoc struct {
	id                                 int32
	listItem, product, styles, related string
}

func readerDocs() []readerDoc {
	var docs []readerDoc
	for _, id := range []int32{2, 5, 9} {
		docs = append(docs, readerDoc{
			id:       id,
			listItem: fmt.Sprintf(`{"id":%d}`, id),
			product:  fmt.Sprintf(`{"id":%d,"features":[]}`, id),
			styles:   fmt.Sprintf(`{"product_id":"%d","results":[]}`, id),
			related:  fmt.Sprintf(`[%d]`, id+1),
		})
	}
	return docs
}

func readerExec(t *testing.T, conn *pgx.Conn, q string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// readerInstall makes build id, holding docs, the live one (what the
// loader's swap does), optionally with the NOTIFY.
func readerInstall(t *testing.T, conn *pgx.Conn, id int64, docs []readerDoc, notify bool) {
	t.Helper()
	var out []pgtest.Doc
	for _, d := range docs {
		out = append(out, pgtest.Doc{ID: d.id, ListItem: []byte(d.listItem), Product: []byte(d.product),
			Styles: []byte(d.styles), Related: []byte(d.related)})
	}
	pgtest.InstallBuild(t, conn.Config().ConnString(), id, out, 0, notify)
}

// newReader gives a Reader over a fresh catalogue database (no build yet)
// and an admin connection to it. Both are closed by the returned func,
// which the test defers (before goleak's check runs).
func newReader(t *testing.T) (*readmodel.Reader, *pgx.Conn, func()) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	readerExec(t, conn, sqlfiles.Must("catalog.sql"))
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return readmodel.NewReader(pool), conn, func() {
		pool.Close()
		conn.Close(ctx)
	}
}

func TestReader(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r, conn, closeAll := newReader(t)
	defer closeAll()
	ctx := context.Background()

	// Before the first build.
	if _, err := r.LiveBuild(ctx); !errors.Is(err, readmodel.ErrNoBuild) {
		t.Errorf("LiveBuild before any build: %v", err)
	}
	if _, _, err := r.Product(ctx, 2); !errors.Is(err, readmodel.ErrNoBuild) {
		t.Errorf("Product before any build: %v", err)
	}
	if _, _, err := r.List(ctx, nil, 1, 5); !errors.Is(err, readmodel.ErrNoBuild) {
		t.Errorf("List before any build: %v", err)
	}

	docs := readerDocs()
	readerInstall(t, conn, 7, docs, false)
	if id, err := r.LiveBuild(ctx); id != 7 || err != nil {
		t.Errorf("LiveBuild = %d, %v", id, err)
	}
	for _, d := range docs {
		for _, tc := range []struct {
			name string
			get  func(context.Context, int32) (int64, []byte, error)
			want string
		}{
			{"Product", r.Product, d.product},
			{"Styles", r.Styles, d.styles},
			{"Related", r.Related, d.related},
		} {
			build, body, err := tc.get(ctx, d.id)
			if build != 7 || string(body) != tc.want || err != nil {
				t.Errorf("%s(%d) = %d, %s, %v; want 7, %s", tc.name, d.id, build, body, err, tc.want)
			}
		}
	}
	for _, id := range []int32{1, 3, 2147483647} {
		build, body, err := r.Styles(ctx, id)
		if !errors.Is(err, readmodel.ErrNotFound) || build != 7 || body != nil {
			t.Errorf("Styles(%d) = %d, %q, %v; want 7, nil, ErrNotFound", id, build, body, err)
		}
	}
	for _, tc := range []struct {
		page, count int32
		want        string
	}{
		{1, 5, `[{"id":2},{"id":5},{"id":9}]`},
		{1, 2, `[{"id":2},{"id":5}]`},
		{2, 2, `[{"id":9}]`},
		{3, 1, `[{"id":9}]`},
		{3, 2, `[]`},
		{2147483647, 1000, `[]`},
	} {
		build, body, err := r.List(ctx, []byte("prefix:"), tc.page, tc.count)
		if build != 7 || string(body) != "prefix:"+tc.want || err != nil {
			t.Errorf("List(%d, %d) = %d, %s, %v; want 7, %s", tc.page, tc.count, build, body, err, tc.want)
		}
	}
	if _, _, err := r.List(ctx, nil, 0, 5); err == nil || errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("List(0, 5): %v", err)
	}
	if _, _, err := r.Doc(ctx, readmodel.Doc(9), 2); err == nil {
		t.Errorf("Doc(9): no error")
	}

	// A new build: the same Reader (and its prepared statements) reads it.
	docs[0].product = `{"id":2,"features":[{"feature":"New","value":null}]}`
	readerInstall(t, conn, 8, docs[:2], false)
	if build, body, err := r.Product(ctx, 2); build != 8 || string(body) != docs[0].product || err != nil {
		t.Errorf("Product(2) after the swap = %d, %s, %v", build, body, err)
	}
	if build, _, err := r.Product(ctx, 9); build != 8 || !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Product(9) after the swap = %d, %v", build, err)
	}

	// A deadline that passes is ErrUnavailable.
	expired, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	if _, _, err := r.Product(expired, 2); !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("Product with an expired context: %v", err)
	}
}

// TestReaderUnavailable: a database nobody listens for is ErrUnavailable,
// never ErrNotFound or ErrNoBuild.
func TestReaderUnavailable(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	pool, err := pgxpool.New(context.Background(), "postgres://elier@"+addr+"/nope?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	r := readmodel.NewReader(pool)
	ctx := context.Background()
	if _, err := r.LiveBuild(ctx); !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("LiveBuild: %v", err)
	}
	if _, _, err := r.Related(ctx, 1); !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("Related: %v", err)
	}
	if _, _, err := r.List(ctx, nil, 1, 5); !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("List: %v", err)
	}
	err = r.ListenBuilds(ctx, func() { t.Error("listening without a database") }, func(int64) {})
	if !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("ListenBuilds: %v", err)
	}
}

// TestReaderTerminated: backends killed under the pool (a restart, a
// failover) cost no failed read: the one retry takes a new connection.
func TestReaderTerminated(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r, conn, closeAll := newReader(t)
	defer closeAll()
	ctx := context.Background()
	readerInstall(t, conn, 1, readerDocs(), false)
	if _, _, err := r.Product(ctx, 5); err != nil {
		t.Fatal(err)
	}
	readerExec(t, conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
	if build, _, err := r.Product(ctx, 5); build != 1 || err != nil {
		t.Errorf("Product after the backends were killed: %d, %v", build, err)
	}
}

func TestListenBuilds(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r, conn, closeAll := newReader(t)
	defer closeAll()
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	got := make(chan int64, 10)
	done := make(chan error, 1)
	go func() {
		done <- r.ListenBuilds(ctx, func() { close(listening) }, func(id int64) { got <- id })
	}()
	select {
	case <-listening:
	case err := <-done:
		t.Fatalf("ListenBuilds: %v", err)
	}
	readerInstall(t, conn, 3, readerDocs(), true)
	readerExec(t, conn, "NOTIFY elier_build, 'not a number'")
	readerExec(t, conn, "NOTIFY elier_build, '-4'")
	for _, want := range []int64{3, 0, 0} {
		if id := <-got; id != want {
			t.Errorf("notified %d, want %d", id, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenBuilds after cancel: %v", err)
	}

	// A listener whose connection is killed returns an error to reconnect on.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	listening = make(chan struct{})
	go func() {
		done <- r.ListenBuilds(ctx2, func() { close(listening) }, func(int64) {})
	}()
	<-listening
	readerExec(t, conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
	if err := <-done; err == nil || !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("ListenBuilds after its connection was killed: %v", err)
	}
}
