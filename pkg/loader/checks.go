package loader

import "fmt"

// checks are the per-row checks of one load that involve other rows and
// files: duplicate ids (the first wins), parents that must exist, and
// whether each file comes grouped by product in ascending order. Each
// method fills the row's staging values (StagingColumns order; v nil: the
// caller takes them from the row itself, see Stream) or returns a reject
// reason and detail. Load and Stream share them, so both load
// exactly the same rows.
type checks struct {
	res *Result // res.Products collects the loaded products (and finds duplicates)
	// parents and styleOf are complete when the child files are checked:
	// after the products and styles phases in Load, from a first pass in
	// Stream. stylesSeen finds duplicate styles (the same map as styleOf in
	// Load; a fresh one in Stream).
	parents    *IDSet
	styleOf    *ParentMap
	stylesSeen *ParentMap
	tables     [len(Tables)]tableChecks
}

// tableChecks is one file's state, written on each of its rows by the
// file's own goroutine (Stream reads the six files at once): padded so that
// no two files' states share a cache line, which would make the cores take
// the line from each other on every row.
type tableChecks struct {
	seen  IDSet
	order orderCheck
	_     [64]byte
}

func (c *checks) grouped() bool {
	for _, t := range c.tables {
		if t.order.broken {
			return false
		}
	}
	return true
}

func (c *checks) product(r *Product, _ int32, v []any) (string, string) {
	if !c.res.Products.Add(r.ID) {
		return reasonDuplicate, fmt.Sprintf("product id %d already loaded", r.ID)
	}
	c.tables[Products].order.see(r.ID, 0)
	if v != nil {
		v[0], v[1], v[2], v[3], v[4], v[5] = r.ID, r.Name, r.Slogan, r.Description, r.Category, int64(r.DefaultPrice)
	}
	return "", ""
}

func (c *checks) style(r *Style, _ int32, v []any) (string, string) {
	if !c.parents.Has(r.ProductID) {
		return reasonOrphan, fmt.Sprintf("product %d does not exist", r.ProductID)
	}
	if !c.stylesSeen.Set(r.ID, r.ProductID) {
		return reasonDuplicate, fmt.Sprintf("style id %d already loaded", r.ID)
	}
	c.tables[Styles].order.see(r.ProductID, r.ID)
	if v != nil {
		var sale any
		if !r.SaleNull {
			sale = int64(r.SalePrice)
		}
		v[0], v[1], v[2], v[3], v[4], v[5] = r.ID, r.ProductID, r.Name, sale, int64(r.OriginalPrice), r.Default
	}
	return "", ""
}

func (c *checks) feature(r *Feature, pos int32, v []any) (string, string) {
	if !c.parents.Has(r.ProductID) {
		return reasonOrphan, fmt.Sprintf("product %d does not exist", r.ProductID)
	}
	if !c.tables[Features].seen.Add(r.ID) {
		return reasonDuplicate, fmt.Sprintf("feature id %d already loaded", r.ID)
	}
	c.tables[Features].order.see(r.ProductID, 0)
	if v != nil {
		var value any
		if !r.ValueNull {
			value = r.Value
		}
		v[0], v[1], v[2], v[3], v[4] = r.ID, r.ProductID, pos, r.Feature, value
	}
	return "", ""
}

func (c *checks) related(r *RelatedProduct, pos int32, v []any) (string, string) {
	if !c.parents.Has(r.ProductID) {
		return reasonOrphan, fmt.Sprintf("product %d does not exist", r.ProductID)
	}
	if !c.parents.Has(r.RelatedID) {
		return reasonOrphan, fmt.Sprintf("related product %d does not exist", r.RelatedID)
	}
	if !c.tables[Related].seen.Add(r.ID) {
		return reasonDuplicate, fmt.Sprintf("related id %d already loaded", r.ID)
	}
	c.tables[Related].order.see(r.ProductID, 0)
	if v != nil {
		v[0], v[1], v[2], v[3] = r.ID, r.ProductID, pos, r.RelatedID
	}
	return "", ""
}

func (c *checks) sku(r *Sku, pos int32, v []any) (string, string) {
	p := c.styleOf.Get(r.StyleID)
	if p == 0 {
		return reasonOrphan, fmt.Sprintf("style %d does not exist", r.StyleID)
	}
	if !c.tables[Skus].seen.Add(r.ID) {
		return reasonDuplicate, fmt.Sprintf("sku id %d already loaded", r.ID)
	}
	c.tables[Skus].order.see(p, r.StyleID)
	if v != nil {
		v[0], v[1], v[2], v[3], v[4], v[5] = r.ID, r.StyleID, p, pos, r.Size, r.Quantity
	}
	return "", ""
}

func (c *checks) photo(r *Photo, pos int32, v []any) (string, string) {
	p := c.styleOf.Get(r.StyleID)
	if p == 0 {
		return reasonOrphan, fmt.Sprintf("style %d does not exist", r.StyleID)
	}
	if !c.tables[Photos].seen.Add(r.ID) {
		return reasonDuplicate, fmt.Sprintf("photo id %d already loaded", r.ID)
	}
	c.tables[Photos].order.see(p, r.StyleID)
	if v != nil {
		v[0], v[1], v[2], v[3], v[4], v[5] = r.ID, r.StyleID, p, pos, r.URL, r.ThumbnailURL
	}
	return "", ""
}
