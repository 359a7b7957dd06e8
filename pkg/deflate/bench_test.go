package deflate

import (
	"bytes"
	"os"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// BenchmarkGzip codes the contract's styles document (18 KB) as the build
// does, one document at a time, with this package and with what the build
// used before it (klauspost/compress gzip, level 3). Full-scale figures are
// in docs/BENCHMARKS.md.
func BenchmarkGzip(b *testing.B) {
	doc, err := os.ReadFile("../../testdata/atelier-sample/upstream/products-17067-styles.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("deflate", func(b *testing.B) {
		var e Encoder
		var out []byte
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			out = e.AppendGzip(out[:0], doc)
		}
		b.ReportMetric(float64(len(out))/float64(len(doc)), "ratio")
	})
	b.Run("klauspost-3", func(b *testing.B) {
		w, _ := kgzip.NewWriterLevel(nil, 3)
		var out bytes.Buffer
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			out.Reset()
			w.Reset(&out)
			_, _ = w.Write(doc)
			_ = w.Close()
		}
		b.ReportMetric(float64(out.Len())/float64(len(doc)), "ratio")
	})
}
