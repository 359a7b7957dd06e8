//go:build faults

package faults

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/internal/pgtest"
)

// ref is what the API must answer for one export: every document the load
// may ask for, keyed by resource (p-1, s-1, r-1 for a product's three
// documents, l-2-5 for page 2 of 5 of the list), as two hashes of its bytes.
// It comes from a full build of the export in the suite's reference
// database, never from the database under test: a fault of an incremental
// build (a stale version, a lost change) shows as a body that differs.
type ref struct {
	name  string // the export's directory name, for messages
	docs  map[string]refDoc
	n     int   // products
	maxID int32 // the largest product id
}

// refDoc is one document: maphash (seeded per run) to compare bodies, and
// the hash the API's ETag must name: xxHash64 of a product document,
// CRC-32 and length of a list page (pageOf).
type refDoc struct {
	mh, xx uint64
}

// refSeed seeds the body comparison; one per run.
var refSeed = maphash.MakeSeed()

// reference returns the reference of export dir, building it the first
// time: `elier-etl load --full` into the database faults_ref, then one read
// of its documents (in ascending id order, the contract's list order).
func (e *env) reference(t *testing.T, dir string) *ref {
	t.Helper()
	e.refMu.Lock()
	defer e.refMu.Unlock()
	if r := e.refs[dir]; r != nil {
		return r
	}
	if e.refDB == "" {
		e.refDB = e.createDB(e.top, "faults_ref")
	}
	e.mustLoad(t, e.refDB, dir, "--full", "--max-shrink", "1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.refDB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Dictionaries are read on a second connection: conn streams the rows.
	dicts, err := pgx.Connect(ctx, e.refDB)
	if err != nil {
		t.Fatal(err)
	}
	defer dicts.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id, product, styles, related FROM elier.docs ORDER BY id")
	if err != nil {
		t.Fatalf("reading the reference of %s: %v", dir, err)
	}
	r := &ref{name: filepath.Base(dir), docs: map[string]refDoc{}}
	var items [][]byte
	for rows.Next() {
		var id int32
		var product, styles, related []byte
		if err := rows.Scan(&id, &product, &styles, &related); err != nil {
			t.Fatal(err)
		}
		body := storedBody(t, dicts, product)
		items = append(items, itemOf(t, body))
		n := strconv.Itoa(int(id))
		r.docs["p-"+n] = docOf(body)
		r.docs["s-"+n] = docOf(storedBody(t, dicts, styles))
		r.docs["r-"+n] = docOf(storedBody(t, dicts, related))
		r.maxID = max(r.maxID, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	r.n = len(items)
	if r.n == 0 {
		t.Fatalf("the reference of %s is empty", dir)
	}
	for _, c := range listCounts {
		for page := 1; page <= lastPage(r.n, c); page++ {
			var b bytes.Buffer
			b.WriteByte('[')
			for i := (page - 1) * c; i < min(page*c, len(items)); i++ {
				if i > (page-1)*c {
					b.WriteByte(',')
				}
				b.Write(items[i])
			}
			b.WriteByte(']')
			r.docs[fmt.Sprintf("l-%d-%d", page, c)] = pageOf(b.Bytes())
		}
	}
	e.refs[dir] = r
	return r
}

// itemOf is a product's item in GET /products: the contract's list item
// is the product document without its last member, "features" (builds
// store the document only).
func itemOf(t *testing.T, product []byte) []byte {
	t.Helper()
	head, _, ok := bytes.Cut(product, []byte(`,"features":[`))
	if !ok {
		t.Fatalf("a product document without features: %.80s", product)
	}
	return append(head[:len(head):len(head)], '}') // a copy: product stays whole
}

// storedBody is the body of a stored document (pkg/stored), decoded
// independently of it (pgtest.Body): gunzipped when it is gzip-coded,
// unpacked with its dictionary, read through db, when it is packed, as it
// is otherwise.
func storedBody(t *testing.T, db pgtest.Querier, b []byte) []byte {
	t.Helper()
	p, err := pgtest.Body(context.Background(), db, b)
	if err != nil {
		t.Fatalf("a stored document does not decode: %v", err)
	}
	return p
}

func docOf(b []byte) refDoc {
	return refDoc{mh: maphash.Bytes(refSeed, b), xx: xxhash.Sum64(b)}
}

// pageOf is a list page's reference: its ETag is the page's CRC-32 and
// length (the API puts pages together from pieces: pkg/api/pieces.go).
func pageOf(b []byte) refDoc {
	return refDoc{mh: maphash.Bytes(refSeed, b), xx: uint64(crc32.ChecksumIEEE(b))<<32 | uint64(uint32(len(b)))}
}

var emptyPage = pageOf([]byte("[]"))

// doc is the answer ref wants for res: status 200 and a document, or a 404
// (ok false) for a product the export does not hold. A page past the end
// is [].
func (r *ref) doc(res string) (refDoc, bool) {
	if d, ok := r.docs[res]; ok {
		return d, true
	}
	if strings.HasPrefix(res, "l-") {
		return emptyPage, true
	}
	return refDoc{}, false
}

// revision returns revision rev of the export of seed (the generator's
// --revision: rev days later, about 1% of the products changed, some added
// and some removed, every other line the same).
func (e *env) revision(t *testing.T, seed uint64, rev int) string {
	t.Helper()
	return e.revisionOf(t, e.products, seed, rev)
}

// swaps records when each build's swap committed, as the moment its NOTIFY
// (sent by the swap's transaction, delivered at its commit) reaches a
// listener: the same moment the API instances learn of it.
type swaps struct {
	mu   sync.Mutex
	at   map[int64]time.Time
	conn *pgx.Conn
}

func listenSwaps(t *testing.T, db string) *swaps {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "LISTEN elier_build"); err != nil {
		t.Fatal(err)
	}
	s := &swaps{at: map[int64]time.Time{}, conn: conn}
	lctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := conn.WaitForNotification(lctx)
			if err != nil {
				return
			}
			at := time.Now()
			if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
				s.mu.Lock()
				s.at[id] = at // a rollback swaps a build in again: the latest counts
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		stop()
		<-done
		conn.Close(context.Background())
	})
	return s
}

// of waits (up to 5 s) for build id's swap to be heard and returns when.
func (s *swaps) of(t *testing.T, id int64, after time.Time) time.Time {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		at, ok := s.at[id]
		s.mu.Unlock()
		if ok && !at.Before(after) {
			return at
		}
	}
	t.Fatalf("no notification of build %d's swap", id)
	return time.Time{}
}
