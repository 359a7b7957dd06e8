package generate

import (
	"bytes"
	"slices"
	"strconv"
)

// change applies day d's change to product p: a kind drawn by weight, or a
// price change when the product has nothing that kind could change (no
// skus, one style...). Every kind really changes a served document: a new
// value always differs from the old one.
func (wk *walker) change(st *state, d, p int) {
	var r rng
	r.seed(wk.g.seed, dayStream(streamChange, d), p)
	if !wk.apply(st, r.pick(changeWeights[:]), &r, d, p) {
		wk.apply(st, chPrice, &r, d, p)
	}
}

// apply makes one change of kind k and reports whether it could. It
// allocates ids only once it knows it can, so a refused kind reserves
// nothing.
func (wk *walker) apply(st *state, k int, r *rng, d, p int) bool {
	switch k {
	case chSkuQuantity:
		return st.changeSkuQuantity(r)
	case chPrice:
		st.changePrice(r)
		return true
	case chSalePrice:
		return st.changeSalePrice(r)
	case chFeatureValue:
		return st.changeFeatureValue(r)
	case chStyleAdded:
		wk.addStyle(st, r, d, p)
		return true
	case chStyleRemoved:
		return st.removeStyle(r)
	case chPhotoReplaced:
		rows := st.rows[fPhotos]
		if len(rows) == 0 {
			return false
		}
		i := r.intn(len(rows))
		rows[i] = row{id: wk.alloc(d, fPhotos, 1), parent: rows[i].parent, rest: newPhoto(r)}
		return true
	case chPhotosReordered:
		return st.reorderPhotos(r)
	case chRelated:
		return wk.changeRelated(st, r, d, p)
	}
	return false
}

func (st *state) changeSkuQuantity(r *rng) bool {
	rows := st.rows[fSkus]
	if len(rows) == 0 {
		return false
	}
	i := r.intn(len(rows))
	head, q := cutLast(rows[i].rest)
	nq := (intOf(q) + 1 + r.intn(60)) % 61 // 0..60, never the old value
	rows[i].rest = withLast(head, strconv.AppendInt(nil, int64(nq), 10))
	return true
}

// price is the product's default price, the last field of its row.
func (st *state) price() int {
	_, last := cutLast(st.rows[fProduct][0].rest)
	return intOf(last)
}

func (st *state) changePrice(r *rng) {
	old := st.price()
	np := r.price()
	if np == old {
		np = old + 1
		if old >= 1000 {
			np = old - 1
		}
	}
	head, _ := cutLast(st.rows[fProduct][0].rest)
	st.rows[fProduct][0].rest = withLast(head, strconv.AppendInt(nil, int64(np), 10))
}

// styleFields splits a style's rest `"name",sale,orig,default`.
func styleFields(rest []byte) (name, sale, orig, def []byte) {
	head, def := cutLast(rest)
	head, orig = cutLast(head)
	name, sale = cutLast(head)
	return name, sale, orig, def
}

func (st *state) changeSalePrice(r *rng) bool {
	rows := st.rows[fStyles]
	if len(rows) == 0 {
		return false
	}
	i := r.intn(len(rows))
	name, sale, orig, def := styleFields(rows[i].rest)
	// A sale starts, ends, or moves; a drawn price equal to the old one
	// ends the sale instead, so the document always changes.
	ns := []byte("null")
	if string(sale) == "null" || r.intn(2) == 0 {
		if s := strconv.AppendInt(nil, int64(salePrice(r, intOf(orig))), 10); !bytes.Equal(s, sale) {
			ns = s
		}
	}
	rows[i].rest = withLast(name, ns, orig, def)
	return true
}

// salePrice is 50-94% of orig, as the row writer draws it.
func salePrice(r *rng, orig int) int { return max(1, orig*(50+r.intn(45))/100) }

func (st *state) changeFeatureValue(r *rng) bool {
	rows := st.rows[fFeatures]
	var cand [len(featuresPerProduct)]int
	n := 0
	for i, row := range rows {
		if f := st.feature(row.rest); f != nil && len(f.values) >= 2 && n < len(cand) {
			cand[n] = i
			n++
		}
	}
	if n == 0 {
		return false
	}
	i := cand[r.intn(n)]
	rest := rows[i].rest
	f := st.feature(rest)
	name, value, _ := bytes.Cut(rest, []byte(`","`))
	old := slices.Index(f.values, string(bytes.TrimSuffix(value, []byte{'"'})))
	nv := f.values[(old+1+r.intn(len(f.values)-1))%len(f.values)]
	b := append(append([]byte(nil), name...), `","`...)
	rows[i].rest = append(append(b, nv...), '"')
	return true
}

// feature finds the feature of a features row rest `"name","value"`; nil
// for a null value (the flag features) or an unknown name.
func (st *state) feature(rest []byte) *feature {
	name, _, ok := bytes.Cut(rest, []byte(`","`))
	if !ok {
		return nil
	}
	name = bytes.TrimPrefix(name, []byte{'"'})
	for i := range featuresByKind[st.kind] {
		if f := &featuresByKind[st.kind][i]; f.name == string(name) {
			return f
		}
	}
	return nil
}

// addStyle appends a new, non-default style with its skus and photos, all
// with new ids: the largest of the product's styles, so it comes last, as
// in a real export.
func (wk *walker) addStyle(st *state, r *rng, d, p int) {
	id := wk.alloc(d, fStyles, 1)
	b := []byte{'"'}
	c := r.intn(len(colors))
	b = append(b, colors[c]...)
	if r.intn(10) < 6 {
		b = append(b, " & "...)
		b = append(b, colors[(c+1+r.intn(len(colors)-1))%len(colors)]...)
	}
	b = append(b, '"', ',')
	orig := st.price()
	if r.intn(10) == 0 {
		orig += 5 * (1 + r.intn(10))
	}
	if r.intn(1000) < salePerMille {
		b = strconv.AppendInt(b, int64(salePrice(r, orig)), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(orig), 10)
	b = append(b, ",0"...)
	st.rows[fStyles] = append(st.rows[fStyles], row{id: id, parent: p, rest: b})

	list := sizes[st.kind]
	n := r.pick(skusPerStyle[st.kind])
	start := 0
	if n < len(list) {
		start = r.intn(len(list) - n + 1)
	}
	first := wk.alloc(d, fSkus, n)
	for j := range n {
		s := append([]byte{'"'}, list[min(start+j, len(list)-1)]...)
		s = append(s, '"', ',')
		s = strconv.AppendInt(s, int64(r.intn(61)), 10)
		st.rows[fSkus] = append(st.rows[fSkus], row{id: first + j, parent: id, rest: s})
	}
	n = r.pick(photosPerStyle[:])
	first = wk.alloc(d, fPhotos, n)
	for j := range n {
		st.rows[fPhotos] = append(st.rows[fPhotos], row{id: first + j, parent: id, rest: newPhoto(r)})
	}
}

// newPhoto is a photos row rest for a new photo, never a broken line.
func newPhoto(r *rng) []byte {
	var key [photoKeyMax]byte
	return append(appendPhotoURLs(nil, r, &key), '"')
}

// removeStyle removes a style other than the default, with its skus and
// photos (which would otherwise be orphans the loader rejects).
func (st *state) removeStyle(r *rng) bool {
	styles := st.rows[fStyles]
	if len(styles) < 2 {
		return false
	}
	var cand []int
	for i, s := range styles {
		if _, _, _, def := styleFields(s.rest); string(def) != "1" {
			cand = append(cand, i)
		}
	}
	i := cand[r.intn(len(cand))]
	id := styles[i].id
	st.rows[fStyles] = slices.Delete(styles, i, i+1)
	for _, f := range []int{fSkus, fPhotos} {
		st.rows[f] = slices.DeleteFunc(st.rows[f], func(o row) bool { return o.parent == id })
	}
	return true
}

// reorderPhotos swaps two photos of a style that has two or more: the
// storefront shows them in file order, so the style's document changes.
func (st *state) reorderPhotos(r *rng) bool {
	rows := st.rows[fPhotos]
	var runs [][2]int
	for s := 0; s < len(rows); {
		e := s + 1
		for e < len(rows) && rows[e].parent == rows[s].parent {
			e++
		}
		if e-s >= 2 {
			runs = append(runs, [2]int{s, e})
		}
		s = e
	}
	if len(runs) == 0 {
		return false
	}
	run := runs[r.intn(len(runs))]
	n := run[1] - run[0]
	a := run[0] + r.intn(n)
	b := run[0] + (a-run[0]+1+r.intn(n-1))%n
	if bytes.Equal(rows[a].rest, rows[b].rest) {
		return false
	}
	rows[a], rows[b] = rows[b], rows[a]
	return true
}

// changeRelated points a related row elsewhere, removes one, or adds one;
// new targets are products someone else relates to, which are never
// removed.
func (wk *walker) changeRelated(st *state, r *rng, d, p int) bool {
	rows := st.rows[fRelated]
	var valid []int // rows the loader keeps: target 0 is an orphan
	for i, row := range rows {
		if intOf(row.rest) != 0 {
			valid = append(valid, i)
		}
	}
	op := r.intn(3)
	if len(valid) > 0 && op == 1 {
		i := valid[r.intn(len(valid))]
		st.rows[fRelated] = slices.Delete(rows, i, i+1)
		return true
	}
	t := wk.rv.neighbourReferenced(r, p, wk.g.products, st.targets())
	if t == 0 {
		return false
	}
	if len(valid) > 0 && op == 0 {
		rows[valid[r.intn(len(valid))]].rest = strconv.AppendInt(nil, int64(t), 10)
		return true
	}
	st.rows[fRelated] = append(rows, row{id: wk.alloc(d, fRelated, 1), parent: p, rest: strconv.AppendInt(nil, int64(t), 10)})
	return true
}
