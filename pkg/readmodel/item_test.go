package readmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/elier/catalogue/pkg/stored"
)

// item and product are the contract's two shapes, written by encoding/json
// (not by the build): the list item is the product without "features".
type item struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	Slogan       string `json:"slogan"`
	Description  string `json:"description"`
	Category     string `json:"category"`
	DefaultPrice string `json:"default_price"`
}

type feature struct {
	Feature string  `json:"feature"`
	Value   *string `json:"value"`
}

type product struct {
	item
	Features []feature `json:"features"`
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestListItem(t *testing.T) {
	v := "Canvas"
	tricky := item{ID: 7, Name: `Quote "features":[ inside`, Slogan: `,"features":[1]`, Description: strings.Repeat("long words, ", 200),
		Category: "Pants", DefaultPrice: "40.00"}
	for _, tc := range []struct {
		name string
		p    product
	}{
		{"plain", product{item: item{ID: 1, Name: "Camo Onesie", Category: "Jackets", DefaultPrice: "140.00"},
			Features: []feature{{"Fabric", &v}, {"Buttons", nil}}}},
		{"no features", product{item: item{ID: 2}, Features: []feature{}}},
		// Over 1 KiB: stored gzip-coded; the key's bytes inside strings.
		{"coded, key inside strings", product{item: tricky, Features: []feature{{`"features":[`, &v}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := marshal(t, tc.p)
			st := stored.NewEncoder().Append(nil, doc)
			if tc.name == "coded, key inside strings" && !stored.Coded(st) {
				t.Fatalf("a %d-byte document was stored as it is; the test wants it coded", len(doc))
			}
			want := marshal(t, tc.p.item)
			got, err := ListItem([]byte("prefix"), st)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("ListItem:\n got %s\nwant prefix%s", got, want)
			}
		})
	}
}

func TestListItemRefusesOtherDocuments(t *testing.T) {
	for _, b := range []string{``, `[]`, `{"product_id":"1","results":[]}`, `[1,2]`, "\x1f\x8bnot gzip"} {
		got, err := ListItem([]byte("x"), []byte(b))
		if err == nil {
			t.Errorf("ListItem(%q) = %q, want an error", b, got)
		}
		if string(got) != "x" {
			t.Errorf("ListItem(%q) left dst %q, want it as it was", b, got)
		}
		if !errors.Is(err, ErrNoItem) && !errors.Is(err, stored.ErrCorrupt) {
			t.Errorf("ListItem(%q): %v, want ErrNoItem or stored.ErrCorrupt", b, err)
		}
	}
}

// FuzzListItem: for any field values, the item cut from the product
// document is the item encoding/json writes; any other input is refused,
// never a panic.
func FuzzListItem(f *testing.F) {
	f.Add("Camo Onesie", `,"features":[`, "140.00", `"features":[`, []byte(`{"id":1}`))
	f.Add("", "", "", "", []byte("\x1f\x8b\x08"))
	f.Fuzz(func(t *testing.T, name, desc, price, feat string, junk []byte) {
		p := product{item: item{ID: len(name), Name: name, Description: desc, DefaultPrice: price},
			Features: []feature{{feat, &desc}}}
		doc := marshal(t, p)
		got, err := ListItem(nil, stored.NewEncoder().Append(nil, doc))
		if err != nil {
			t.Fatal(err)
		}
		if want := marshal(t, p.item); !bytes.Equal(got, want) {
			t.Fatalf("ListItem:\n got %s\nwant %s", got, want)
		}
		_, _ = ListItem(nil, junk)
	})
}
