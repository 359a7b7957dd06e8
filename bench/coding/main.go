// Command coding measures what coding the served documents would cost and
// save, one document at a time as a build codes them: for each kind of
// document (styles, product, related, list item) of a loaded catalogue, the
// ratio (coded bytes over plain, a body that does not shrink counted as
// plain) and the speed of gzip (klauspost/compress, the levels given),
// brotli (andybalholm/brotli) and the time to decode gzip. It decides
// pkg/stored's Level and MinCoded (docs/BENCHMARKS.md, "Stored coding").
//
//	go run ./bench/coding -url "$DATABASE_URL" [-n 20000]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/gzip"

	"github.com/elier/catalogue/pkg/readmodel"
	"github.com/elier/catalogue/pkg/stored"
)

func main() {
	url := flag.String("url", "", "PostgreSQL URL of a database with a live build")
	n := flag.Int("n", 20000, "documents of each kind, the first by id")
	flag.Parse()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	fmt.Println("| document | docs | median bytes | coding | ratio | MB/s | µs a document |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, col := range []string{"styles", "product", "related", "list_item"} {
		docs, err := read(ctx, conn, col, *n)
		if err != nil {
			log.Fatal(err)
		}
		sizes := make([]int, len(docs))
		total := 0
		for i, d := range docs {
			sizes[i], total = len(d), total+len(d)
		}
		slices.Sort(sizes)
		row := func(name string, f func(*bytes.Buffer, []byte)) {
			var buf bytes.Buffer
			out := 0
			t := time.Now()
			for _, d := range docs {
				buf.Reset()
				f(&buf, d)
				out += min(buf.Len(), len(d))
			}
			el := time.Since(t)
			fmt.Printf("| %s | %d | %d | %s | %.3f | %.0f | %.2f |\n", col, len(docs), sizes[len(sizes)/2], name,
				float64(out)/float64(total), float64(total)/el.Seconds()/1e6, float64(el.Microseconds())/float64(len(docs)))
		}
		for _, lvl := range []int{1, 3, 5, 6, 9} {
			w, _ := gzip.NewWriterLevel(nil, lvl)
			row(fmt.Sprintf("gzip %d", lvl), func(b *bytes.Buffer, d []byte) { w.Reset(b); w.Write(d); w.Close() })
		}
		for _, lvl := range []int{1, 5} {
			w := brotli.NewWriterLevel(nil, lvl)
			row(fmt.Sprintf("brotli %d", lvl), func(b *bytes.Buffer, d []byte) { w.Reset(b); w.Write(d); w.Close() })
		}
		enc := stored.NewEncoder()
		coded := make([][]byte, len(docs))
		for i, d := range docs {
			coded[i] = enc.Append(nil, d)
		}
		t := time.Now()
		var out []byte
		for _, c := range coded {
			if out, err = stored.Decode(out[:0], c); err != nil {
				log.Fatal(err)
			}
		}
		fmt.Printf("| %s | %d | %d | decoding pkg/stored's form | | | %.2f |\n", col, len(docs), sizes[len(sizes)/2],
			float64(time.Since(t).Microseconds())/float64(len(docs)))
	}
}

// read returns the first n documents of column col of the live build, as
// bodies (stored forms decoded).
// read returns the first n bodies of a column of elier.docs, decoded;
// list_item, which builds do not store, is cut from the product documents
// as readers do.
func read(ctx context.Context, conn *pgx.Conn, col string, n int) ([][]byte, error) {
	from := col
	if col == "list_item" {
		from = "product"
	}
	rows, err := conn.Query(ctx, "SELECT "+from+" FROM elier.docs ORDER BY id LIMIT $1", n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var docs [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		decode := stored.Decode
		if col == "list_item" {
			decode = readmodel.ListItem
		}
		body, err := decode(nil, b)
		if err != nil {
			return nil, err
		}
		docs = append(docs, body)
	}
	return docs, rows.Err()
}
