package pgtest

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/pkg/readmodel"
	"github.com/elier/catalogue/pkg/stored"
	sqlfiles "github.com/elier/catalogue/sql"
)

// Doc is one product's documents: the exact bytes of the four response
// bodies. InstallBuild stores three of them coded, as a build does; like a
// build, it does not store ListItem (readers cut it from Product), which is
// the item tests expect to be served.
type Doc struct {
	ID                                 int32
	ListItem, Product, Styles, Related []byte
}

// Hash is a document's hash as builds store it (and the API's ETag):
// xxHash64 of its bytes, as a signed 64-bit integer.
func Hash(b []byte) int64 { return int64(xxhash.Sum64(b)) }

// ETag is the API's ETag of a body with the given coding suffix ("", "-gz",
// "-br").
func ETag(body []byte, suffix string) string {
	return fmt.Sprintf(`"%016x%s"`, uint64(Hash(body)), suffix)
}

// ListETag is the API's ETag of a list page (GET /products) with the given
// coding suffix: the CRC-32 and length of its plain bytes (a page assembled
// from gzip pieces knows those two, not the bytes: pkg/api/pieces.go).
func ListETag(body []byte, suffix string) string {
	return fmt.Sprintf(`"%08x%08x%s"`, crc32.ChecksumIEEE(body), uint32(len(body)), suffix)
}

// InstallBuild does by hand what a full build's swap does, through the same
// SQL files: build id's documents in a docs table of schema elier_b<id>,
// its list order, its catalogue row (based on base, when not 0, with the
// ids whose documents differ from base's), and the swap, with or without
// the NOTIFY, in one transaction.
func InstallBuild(t testing.TB, url string, id int64, docs []Doc, base int64, notify bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	schema := "elier_b" + strconv.FormatInt(id, 10)
	docs = slices.Clone(docs)
	slices.SortFunc(docs, func(a, b Doc) int { return int(a.ID) - int(b.ID) })
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlfiles.Expand(sqlfiles.Must("docs.sql"), "schema", schema)); err != nil {
			return err
		}
		stock, err := skusOf(docs, id)
		if err != nil {
			return err
		}
		skus := map[int32][]int32{}
		for _, st := range stock {
			skus[st[2].(int32)] = append(skus[st[2].(int32)], st[0].(int32))
		}
		rows := make([][]any, len(docs))
		enc := stored.NewEncoder()
		for i, d := range docs {
			rows[i] = []any{d.ID, id, Hash(d.Product), Hash(d.Styles), Hash(d.Related), append([]int32{}, skus[d.ID]...),
				enc.Append(nil, d.Product), enc.Append(nil, d.Styles), enc.Append(nil, d.Related)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{schema, "docs"},
			[]string{"id", "since", "h_product", "h_styles", "h_related", "skus", "product", "styles", "related"},
			pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{schema, "stock"}, []string{"id", "since", "product_id", "quantity"},
			pgx.CopyFromRows(stock)); err != nil {
			return err
		}
		ix := sqlfiles.Named("docs_index.sql")
		for _, name := range []string{"index", "index_skus", "finish"} {
			if _, err := tx.Exec(ctx, sqlfiles.Expand(ix[name], "schema", schema)); err != nil {
				return err
			}
		}
		var chunks [][]any
		for i := 0; i < len(docs); i += readmodel.ListChunk {
			var ids []int32
			for _, d := range docs[i:min(i+readmodel.ListChunk, len(docs))] {
				ids = append(ids, d.ID)
			}
			chunks = append(chunks, []any{id, int32(i / readmodel.ListChunk), ids})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"elier", "list_ids"}, []string{"build_id", "chunk", "ids"}, pgx.CopyFromRows(chunks)); err != nil {
			return err
		}
		var baseID *int64
		var changed []int32
		if base != 0 {
			baseID = &base
			if changed, err = changedSince(ctx, tx, docs); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO elier.builds (id, schema_name, state, docs_schema, base_id, changed, format)
			VALUES ($1, $2, 'building', $2, $3, $4, 5)`, id, schema, baseID, changed); err != nil {
			return err
		}
		swap := sqlfiles.Expand(sqlfiles.Must("swap.sql"), "docs_schema", schema, "build_id", strconv.FormatInt(id, 10))
		if !notify {
			swap = strings.Replace(swap, fmt.Sprintf("NOTIFY elier_build, '%d';", id), "", 1)
		}
		if _, err := tx.Exec(ctx, sqlfiles.Expand(sqlfiles.Must("swap_view.sql"), "docs_schema", schema)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, swap)
		return err
	})
	if err != nil {
		t.Fatalf("installing build %d: %v", id, err)
	}
}

// skusOf reads each product's skus and their stock from its styles
// document, as the cart's check sees them (elier.skus).
func skusOf(docs []Doc, since int64) ([][]any, error) {
	var rows [][]any
	for _, d := range docs {
		var styles struct {
			Results []struct {
				Skus map[string]struct {
					Quantity *int32 `json:"quantity"`
				} `json:"skus"`
			} `json:"results"`
		}
		if err := json.Unmarshal(d.Styles, &styles); err != nil {
			return nil, fmt.Errorf("product %d's styles: %w", d.ID, err)
		}
		for _, st := range styles.Results {
			for k, v := range st.Skus {
				id, err := strconv.ParseInt(k, 10, 32)
				if err != nil || v.Quantity == nil {
					continue // the placeholder "null" of a style without skus
				}
				rows = append(rows, []any{int32(id), since, d.ID, *v.Quantity})
			}
		}
	}
	return rows, nil
}

// changedSince lists the ids whose documents differ between docs and the
// live build (changed, added and removed).
func changedSince(ctx context.Context, tx pgx.Tx, docs []Doc) ([]int32, error) {
	rows, err := tx.Query(ctx, "SELECT id, h_product, h_styles, h_related FROM elier.docs")
	if err != nil {
		return nil, err
	}
	live := map[int32][3]int64{}
	for rows.Next() {
		var id int32
		var h [3]int64
		if err := rows.Scan(&id, &h[0], &h[1], &h[2]); err != nil {
			return nil, err
		}
		live[id] = h
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	changed := []int32{}
	for _, d := range docs {
		h, ok := live[d.ID]
		if !ok || h != [3]int64{Hash(d.Product), Hash(d.Styles), Hash(d.Related)} {
			changed = append(changed, d.ID)
		}
		delete(live, d.ID)
	}
	for id := range live {
		changed = append(changed, id)
	}
	slices.Sort(changed)
	return changed, nil
}
