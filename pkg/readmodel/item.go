package readmodel

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/elier/catalogue/pkg/stored"
)

// ErrNoItem means a product document does not have the shape its list item
// is cut from: the build wrote something else than a product document.
var ErrNoItem = errors.New("readmodel: not a product document")

// featuresKey is where a product document stops being its list item. In
// JSON text an unescaped quote only delimits a string, so this comma, then
// a key "features" opening an array, is the document's features member and
// never bytes inside a string (where each quote is escaped).
var featuresKey = []byte(`,"features":[`)

// ListItem appends to dst the item of GET /products for a product whose
// document GET /products/:id is product, in its stored form (pkg/stored):
// the document up to its features member, closed. The build writes the two
// from the same bytes (pkg/build's buildProduct), which is why builds of
// storage format 5 on store the document only.
func ListItem(dst, product []byte) ([]byte, error) {
	start := len(dst)
	b, err := stored.Decode(dst, product) // appends product as it is when not coded
	if err != nil {
		return dst, err
	}
	i := bytes.Index(b[start:], featuresKey)
	if i < 0 || b[start] != '{' {
		return b[:start], fmt.Errorf("%w: no features member", ErrNoItem)
	}
	return append(b[:start+i], '}'), nil
}
