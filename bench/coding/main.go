// Command coding measures what coding the served documents would cost and
// save, one document at a time as a build codes them: for each kind of
// document (styles, product, related, list item) of a loaded catalogue, the
// ratio (coded bytes over plain, a body that does not shrink counted as
// plain) and the speed of gzip (klauspost/compress, the levels given, and
// pkg/deflate, which pkg/stored uses),
// brotli (andybalholm/brotli) and the time to decode gzip. It decides
// pkg/stored's Level and MinCoded (docs/BENCHMARKS.md, "Stored coding").
// With a dictionary learnt, as a build learns it, from the first
// stored.DictSamples documents of each kind: pkg/stored's packed form (S2)
// and zstd's fastest level, and the time to unpack (docs/BENCHMARKS.md,
// "Product documents packed").
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
	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/elier/catalogue/pkg/deflate"
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
		var de deflate.Encoder
		var dout []byte
		row("gzip, pkg/deflate", func(b *bytes.Buffer, d []byte) { dout = de.AppendGzip(dout[:0], d); b.Write(dout) })
		for _, lvl := range []int{1, 5} {
			w := brotli.NewWriterLevel(nil, lvl)
			row(fmt.Sprintf("brotli %d", lvl), func(b *bytes.Buffer, d []byte) { w.Reset(b); w.Write(d); w.Close() })
		}
		if len(docs) > stored.DictSamples {
			packed(docs, row)
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

// packed adds the rows of a dictionary learnt from docs' first
// stored.DictSamples: pkg/stored's packed form, zstd's fastest level with
// a dictionary of the same samples, and unpacking.
func packed(docs [][]byte, row func(string, func(*bytes.Buffer, []byte))) {
	d, err := stored.TrainDict(1, docs[:stored.DictSamples])
	if err != nil || d == nil {
		log.Fatalf("learning a dictionary: %v", err)
	}
	var out []byte
	row(fmt.Sprintf("packed (S2, %d-byte dictionary)", len(d.Bytes())), func(b *bytes.Buffer, doc []byte) {
		out = d.Append(out[:0], doc)
		b.Write(out)
	})
	zd, err := dict.BuildZstdDict(docs[:stored.DictSamples], dict.Options{MaxDictSize: 16 << 10, HashBytes: 6, ZstdDictID: 1, ZstdLevel: zstd.SpeedFastest})
	if err != nil {
		log.Fatalf("learning a zstd dictionary: %v", err)
	}
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderDict(zd), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
	if err != nil {
		log.Fatal(err)
	}
	row(fmt.Sprintf("zstd fastest (%d-byte dictionary)", len(zd)), func(b *bytes.Buffer, doc []byte) {
		out = zw.EncodeAll(doc, out[:0])
		b.Write(out)
	})
	pk := make([][]byte, len(docs))
	for i, doc := range docs {
		pk[i] = d.Append(nil, doc)
	}
	var p []byte
	i := 0
	row("unpacking pkg/stored's packed form", func(b *bytes.Buffer, doc []byte) {
		if p, err = d.Unpack(p[:0], pk[i]); err != nil && stored.Packed(pk[i]) {
			log.Fatalf("unpacking: %v", err)
		}
		i++
		b.Write(doc)
	})
}

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
	raw, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, err
	}
	dicts := map[int64]*stored.Dict{}
	var docs [][]byte
	for _, b := range raw {
		if stored.Packed(b) {
			if b, err = unpack(ctx, conn, dicts, b); err != nil {
				return nil, err
			}
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
	return docs, nil
}

// unpack unpacks a packed document with its dictionary from elier.dicts.
func unpack(ctx context.Context, conn *pgx.Conn, dicts map[int64]*stored.Dict, b []byte) ([]byte, error) {
	id, err := stored.PackedDict(b)
	if err != nil {
		return nil, err
	}
	if dicts[id] == nil {
		if dicts[id], err = readmodel.ReadDict(ctx, conn, id); err != nil {
			return nil, err
		}
	}
	return dicts[id].Unpack(nil, b)
}
