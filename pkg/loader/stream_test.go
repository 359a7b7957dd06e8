package loader

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
)

// TestStreamMatchesChecks: the rows Stream hands out (typed adders) are,
// value for value, the staging values the checks fill for COPY, for every
// file of the dirty corpus; and Stream's counts equal Load's checks'.
func TestStreamMatchesChecks(t *testing.T) {
	t.Parallel()
	const dir = "testdata/dirty"
	ctx := context.Background()

	// What the COPY path would send: the checks' values, row by row.
	want := map[Table][]string{}
	parents, err := ReadParents(ctx, dir, Options{RejectDir: t.TempDir(), MaxRejectRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{}
	c := &checks{res: res, parents: &parents.Products, styleOf: &parents.Styles, stylesSeen: &ParentMap{}}
	l := &load{ctx: ctx, e: e, res: res, opts: Options{Log: slog.New(slog.DiscardHandler)}}
	collect := func(t Table, accept any) {
		var vals []any
		switch a := accept.(type) {
		case func(*Product, int32, []any) (string, string):
			vals = valuesOf(l, t, a)
		case func(*Feature, int32, []any) (string, string):
			vals = valuesOf(l, t, a)
		case func(*Style, int32, []any) (string, string):
			vals = valuesOf(l, t, a)
		case func(*Sku, int32, []any) (string, string):
			vals = valuesOf(l, t, a)
		case func(*Photo, int32, []any) (string, string):
			vals = valuesOf(l, t, a)
		case func(*RelatedProduct, int32, []any) (string, string):
			vals = valuesOf(l, t, a)
		}
		for _, v := range vals {
			want[t] = append(want[t], fmt.Sprint(v))
		}
	}
	collect(Products, c.product)
	collect(Styles, c.style)
	collect(Features, c.feature)
	collect(Related, c.related)
	collect(Skus, c.sku)
	collect(Photos, c.photo)
	e.Close()

	// What Stream hands out.
	e, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var chans [len(Tables)]chan *Batch
	var out [len(Tables)]chan<- *Batch
	got := map[Table][]string{}
	done := make(chan struct{})
	for i := range chans {
		chans[i] = make(chan *Batch)
		out[i] = chans[i]
	}
	// Drain in table order would block Stream's other files: read them all
	// concurrently through buffered relays.
	for i := range chans {
		relay := make(chan *Batch, 1<<10)
		go func(in chan *Batch) {
			for b := range in {
				relay <- b
			}
			close(relay)
		}(chans[i])
		chans[i] = relay
	}
	go func() {
		defer close(done)
		for _, tb := range Tables {
			for b := range chans[tb] {
				for r := 0; r < b.N; r++ {
					row := make([]any, b.cols)
					for col := range row {
						switch sp := b.spans[r*b.cols+col]; sp[0] {
						case spanNull:
						case spanNumber:
							row[col] = b.Int(r, col)
						default:
							row[col] = string(b.Bytes(r, col))
						}
					}
					got[tb] = append(got[tb], fmt.Sprint(row))
				}
			}
		}
	}()
	if _, err := Stream(ctx, e, parents, Options{RejectDir: t.TempDir(), MaxRejectRatio: 1}, out); err != nil {
		t.Fatal(err)
	}
	<-done
	for _, tb := range Tables {
		if len(want[tb]) == 0 {
			t.Errorf("%s: no rows in the corpus", tb)
		}
		if !reflect.DeepEqual(got[tb], want[tb]) {
			t.Errorf("%s: Stream's rows differ from the checks' values:\n got %v\nwant %v", tb, got[tb], want[tb])
		}
	}
}

// valuesOf runs one file through accept and returns each accepted row's
// values, normalised as Stream's batches represent them.
func valuesOf[T any](l *load, t Table, accept func(*T, int32, []any) (string, string)) []any {
	ef := l.e.files[t]
	v := make([]any, len(stagingColumns[t]))
	src := &source[T]{ctx: l.ctx, sc: ef.scanner.(*Scanner[T]), st: &FileStats{Reasons: map[string]int64{}},
		accept: accept, vals: v, prog: &FileProgress{}, counter: ef.counter}
	var out []any
	for src.Next() {
		row := make([]any, len(v))
		for i, x := range v {
			switch x := x.(type) {
			case int32:
				row[i] = int64(x)
			case bool:
				row[i] = map[bool]int64{true: 1, false: 0}[x]
			case []byte:
				row[i] = string(x)
			default:
				row[i] = x
			}
		}
		out = append(out, row)
	}
	return out
}
