package build

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/internal/pgtest"
	"github.com/elier/catalogue/pkg/generate"
)

// packedState reads the live build's product documents as stored: the
// dictionary each is packed with (0: not packed), their stored bytes and
// the bytes of their bodies (pgtest.Body, independently of pkg/stored).
func packedState(t *testing.T, pool *pgxpool.Pool) (dicts map[int64]int, stored, plain int) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, "SELECT product FROM elier.docs", pgx.QueryExecModeExec)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	dicts = map[int64]int{}
	for _, b := range docs {
		var id uint64
		if len(b) > 0 && b[0] == 0 {
			id, _ = binary.Uvarint(b[1:])
		}
		dicts[int64(id)]++
		body, err := pgtest.Body(ctx, pool, b)
		if err != nil {
			t.Fatal(err)
		}
		stored, plain = stored+len(b), plain+len(body)
	}
	return dicts, stored, plain
}

func dictIDs(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	return queryColumn[int64](t, pool, "SELECT id FROM elier.dicts ORDER BY id")
}

// TestProductDocumentsPacked: a full build packs its product documents
// with a dictionary it learns and records under its id (storage format 6);
// an incremental build packs its new versions with its lineage's; the
// dictionary of a lineage goes with it. (That the bodies are right is
// every other test's business: they read the documents unpacked.)
func TestProductDocumentsPacked(t *testing.T) {
	t.Parallel()
	r0, r1 := t.TempDir(), t.TempDir()
	for i, d := range []string{r0, r1} {
		if _, err := generate.Write(context.Background(), d, generate.Options{Products: 3000, Seed: 3, Revision: i, Change: 0.05}); err != nil {
			t.Fatal(err)
		}
	}
	pool := newPool(t)
	opt := func(o *Options) { o.MaxRejectRatio = 0.05 }
	first := mustRebuild(t, pool, r0, opt)
	dicts, stored, plain := packedState(t, pool)
	if ids := dictIDs(t, pool); !slices.Equal(ids, []int64{first.BuildID}) {
		t.Fatalf("dictionaries %v after build %d", ids, first.BuildID)
	}
	// Every document packed (none of a generated catalogue's grows), with
	// the build's dictionary, to well under what gzip would make of it.
	if len(dicts) != 1 || dicts[first.BuildID] == 0 {
		t.Errorf("product documents by dictionary: %v, want all with %d", dicts, first.BuildID)
	}
	if r := float64(stored) / float64(plain); r > 0.5 {
		t.Errorf("product documents stored in %.2fx of their bytes", r)
	}

	inc := mustRebuild(t, pool, r1, opt)
	if inc.Kind != KindIncremental || inc.Documents == 0 {
		t.Fatalf("second load: %s, %d documents", inc.Kind, inc.Documents)
	}
	if dicts, _, _ := packedState(t, pool); len(dicts) != 1 || dicts[first.BuildID] == 0 {
		t.Errorf("after an incremental build, product documents by dictionary: %v, want all with %d", dicts, first.BuildID)
	}
	if ids := dictIDs(t, pool); !slices.Equal(ids, []int64{first.BuildID}) {
		t.Errorf("an incremental build recorded a dictionary: %v", ids)
	}

	// Full builds make lineages of their own, each with its dictionary;
	// the ones no kept build reads go.
	var full []int64
	for _, dir := range []string{r0, r1, r0} {
		s := mustRebuild(t, pool, dir, opt, func(o *Options) { o.Full = true })
		full = append(full, s.BuildID)
		if dicts, _, _ := packedState(t, pool); len(dicts) != 1 || dicts[s.BuildID] == 0 {
			t.Errorf("full build %d: product documents by dictionary %v", s.BuildID, dicts)
		}
	}
	if ids := dictIDs(t, pool); !slices.Equal(ids, full[1:]) {
		t.Errorf("dictionaries %v, want those of the live and previous builds' lineages %v", ids, full[1:])
	}
	// An incremental build over the last: live and previous are both of
	// its lineage, and the one before goes.
	mustRebuild(t, pool, r0, opt)
	if ids := dictIDs(t, pool); !slices.Equal(ids, full[2:]) {
		t.Errorf("dictionaries %v, want the kept lineage's %v", ids, full[2:])
	}
}
