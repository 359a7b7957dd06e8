package generate

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// PRNG streams: one for the products' shape and one per file, so that a
// file's own choices never shift another file's.
const (
	streamPlan uint64 = iota + 1
	streamProduct
	streamFeatures
	streamStyles
	streamSkus
	streamPhotos
	streamRelated
)

// Distributions of children per parent, as weights per mille for 0, 1, 2...
// children. Their means are the real export's ratios (docs/CONTRACT.md section 1):
// features 2,219,279 / 1,000,011 products = 2.22, styles 1.96 per product,
// skus 5.78 and photos 2.89 per style, related 4.51 per product.
var (
	featuresPerProduct = [...]int{60, 200, 350, 240, 150}         // mean 2.22
	stylesPerProduct   = [...]int{30, 420, 300, 130, 70, 30, 20}  // mean 1.96
	photosPerStyle     = [...]int{30, 120, 250, 290, 190, 80, 40} // mean 2.89
	// Sentences after the first: real descriptions run 55..300 characters.
	sentencesPerDescription = [...]int{200, 350, 300, 150}
	relatedPerProduct       = [...]int{30, 50, 80, 120, 180, 230, 150, 110, 50} // mean 4.51
	// Skus per style depend on the kind of product; weighted by kindWeights
	// the mean is 0.55*5.20 + 0.30*9.24 + 0.15*0.98 = 5.78.
	kindWeights  = [numKinds]int{550, 300, 150}
	skusPerStyle = [numKinds][]int{
		apparel: {10, 20, 30, 40, 100, 200, 600},                  // mean 5.20 of 6 sizes
		shoes:   {10, 5, 5, 5, 5, 30, 50, 50, 100, 180, 190, 370}, // mean 9.24 of 11 sizes
		oneSize: {20, 980},                                        // mean 0.98
	}
)

const maxStyles = len(stylesPerProduct) - 1

// Defect rates of the random kind, on top of the forced ones.
const (
	brokenPhotoOneIn   = 30_000 // photo lines: about 190 at full scale
	relatedZeroOneIn   = 5_000  // related rows pointing at product 0
	selfRelatedOneIn   = 2_000  // related rows pointing at their own product
	dupRelatedPerMille = 10     // products (with 2+ related) repeating a pair
	nullFeaturePerMil  = 40     // feature rows with a null value
	dupFeaturePerMille = 10     // products (with 2+ features) repeating one
	salePerMille       = 350    // styles with a sale price; the rest are null
	swapPerMille       = 30     // styles (with 2+ rows) with two ids swapped, per file
	dupSizePerMille    = 20     // styles (with 2+ skus) listing a size twice
	noDefaultPerMille  = 30     // products (with styles) without a default style
	otherDefaultPerMil = 100    // products whose default is not their first style
	relatedWindow      = 1_000  // related products lie within this distance
)

// defect marks a defect forced onto one of the first products, so that
// every export of a few products or more has each at least once, however
// the random draws fall.
type defect uint16

const (
	forceNullSale defect = 1 << iota
	forceDupSize
	forceSwapSku
	forceSwapPhoto
	forceBrokenPhoto
	forceNoStyles
	forceNoFeatures
	forceSelfRelated
	forceZeroRelated
	forceNoDefault
	forceDupRelated
	forceNullFeature
)

// forcedDefects places the forced defects at small, fixed product ids,
// mirroring where the real export shows them (skus 8 before 7 of style 2,
// `n,4,4`, `n,5,0`).
func forcedDefects(p int) defect {
	switch p {
	case 1:
		return forceNullSale
	case 2:
		return forceDupSize | forceSwapSku | forceSwapPhoto | forceBrokenPhoto
	case 3:
		return forceNoStyles
	case 4:
		return forceNoFeatures | forceSelfRelated
	case 5:
		return forceZeroRelated | forceNoDefault
	case 6:
		return forceDupRelated | forceNullFeature
	}
	return 0
}

// plan is the shape of one product: what every file must agree on.
type plan struct {
	kind     kind
	price    int
	features int
	styles   int
	related  int
	skus     [maxStyles]uint8
	photos   [maxStyles]uint8
	forced   defect
}

// draw computes product p's plan from its own PRNG stream, so any file can
// compute any product's plan without the others.
func (pl *plan) draw(r *rng, g *gen, p int) {
	r.seed(g.seed, streamPlan, p)
	pl.forced = forcedDefects(p)
	f := pl.forced
	pl.kind = kind(r.pick(kindWeights[:]))
	if f&forceDupSize != 0 {
		pl.kind = apparel // "XL" twice, as in the real rows
	}
	pl.price = r.price()
	pl.features = r.pick(featuresPerProduct[:])
	pl.styles = r.pick(stylesPerProduct[:])
	for i := range pl.styles {
		pl.skus[i] = uint8(r.pick(skusPerStyle[pl.kind]))
		pl.photos[i] = uint8(r.pick(photosPerStyle[:]))
	}
	pl.related = r.pick(relatedPerProduct[:])

	if f&(forceNullSale|forceNoDefault) != 0 {
		pl.atLeastStyles(r, 1)
	}
	if f&forceDupSize != 0 {
		pl.atLeastStyles(r, 2)
		pl.skus[0] = 6
		pl.photos[0] = max(pl.photos[0], 3)
		pl.photos[1] = max(pl.photos[1], 1)
	}
	if f&forceNoStyles != 0 {
		pl.styles = 0
	}
	if f&forceNoFeatures != 0 {
		pl.features = 0
	}
	if f&forceNullFeature != 0 {
		pl.features = max(pl.features, 1)
	}
	if f&(forceSelfRelated|forceZeroRelated) != 0 {
		pl.related = max(pl.related, 1)
	}
	if f&forceDupRelated != 0 {
		pl.related = max(pl.related, 2)
	}
}

// atLeastStyles adds styles, with skus and photos, up to n.
func (pl *plan) atLeastStyles(r *rng, n int) {
	for ; pl.styles < n; pl.styles++ {
		pl.skus[pl.styles] = uint8(r.pick(skusPerStyle[pl.kind]))
		pl.photos[pl.styles] = uint8(r.pick(photosPerStyle[:]))
	}
}

func productRows(w *writer, g *gen, p int, pl *plan) {
	r := &w.r
	w.id = p
	b := strconv.AppendInt(w.buf, int64(p), 10)
	b = append(b, ',', '"')
	b = appendEscaped(b, adjectives[r.intn(len(adjectives))])
	b = append(b, ' ')
	b = appendEscaped(b, nouns[pl.kind][r.intn(len(nouns[pl.kind]))])
	if r.intn(10) == 0 {
		b = append(b, modelSuffixes[r.intn(len(modelSuffixes))]...)
	}
	b = append(b, '"', ',', '"')
	b = appendEscaped(b, slogans[r.intn(len(slogans))])
	b = append(b, '"', ',', '"')
	// One to four sentences, never the same one twice in a row.
	s := r.intn(len(sentences))
	b = appendEscaped(b, sentences[s])
	for n := r.pick(sentencesPerDescription[:]); n > 0; n-- {
		s = (s + 1 + r.intn(len(sentences)-1)) % len(sentences)
		b = append(b, ' ')
		b = appendEscaped(b, sentences[s])
	}
	b = append(b, '"', ',', '"')
	b = append(b, categories[pl.kind][r.intn(len(categories[pl.kind]))]...)
	b = append(b, '"', ',')
	b = strconv.AppendInt(b, int64(pl.price), 10)
	w.buf = append(b, '\n')
}

func featureRows(w *writer, g *gen, p int, pl *plan) {
	r := &w.r
	if pl.features == 0 {
		w.defects.ProductsWithoutFeatures++
		return
	}
	// Distinct features by a partial shuffle; duplicates come only from
	// dupAt (and from two null flags drawing the same name).
	fs := featuresByKind[pl.kind]
	var order [8]uint8
	for i := range fs {
		order[i] = uint8(i)
	}
	dupAt := -1
	if pl.features >= 2 && r.intn(1000) < dupFeaturePerMille {
		dupAt = pl.features - 1
	}
	var written [len(featuresPerProduct)][2]string // name, value ("" for null)
	b := w.buf
	for i := range pl.features {
		var name, value string
		switch {
		case (i == 0 && pl.forced&forceNullFeature != 0) || r.intn(1000) < nullFeaturePerMil:
			name = flagFeatures[r.intn(len(flagFeatures))]
		case i == dupAt:
			name, value = written[0][0], written[0][1]
		default:
			k := i + r.intn(len(fs)-i)
			order[i], order[k] = order[k], order[i]
			f := &fs[order[i]]
			name, value = f.name, f.values[r.intn(len(f.values))]
		}
		if slices.Contains(written[:i], [2]string{name, value}) {
			w.defects.DuplicateFeatures++
		}
		written[i] = [2]string{name, value}

		w.id++
		b = strconv.AppendInt(b, int64(w.id), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(p), 10)
		b = append(b, ',', '"')
		b = append(b, name...)
		if value == "" {
			w.defects.NullFeatureValues++
			b = append(b, `",null`...)
		} else {
			b = append(b, '"', ',', '"')
			b = append(b, value...)
			b = append(b, '"')
		}
		b = append(b, '\n')
	}
	w.buf = b
}

func styleRows(w *writer, g *gen, p int, pl *plan) {
	r := &w.r
	if pl.styles == 0 {
		w.defects.ProductsWithoutStyles++
		return
	}
	def := 0
	switch {
	case pl.forced&forceNoDefault != 0 || r.intn(1000) < noDefaultPerMille:
		def = -1
		w.defects.ProductsWithoutDefault++
	case r.intn(1000) < otherDefaultPerMil:
		def = r.intn(pl.styles)
	}
	b := w.buf
	for i := range pl.styles {
		w.id++
		b = strconv.AppendInt(b, int64(w.id), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(p), 10)
		b = append(b, ',', '"')
		c := r.intn(len(colors))
		b = append(b, colors[c]...)
		if r.intn(10) < 6 { // "Forest Green & Black", never "Black & Black"
			b = append(b, " & "...)
			b = append(b, colors[(c+1+r.intn(len(colors)-1))%len(colors)]...)
		}
		b = append(b, '"', ',')
		orig := pl.price
		if r.intn(10) == 0 { // some styles cost more, as 170 against 140 in the real rows
			orig += 5 * (1 + r.intn(10))
		}
		if (i == 0 && pl.forced&forceNullSale != 0) || r.intn(1000) >= salePerMille {
			w.defects.NullSalePrices++
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, int64(max(1, orig*(50+r.intn(45))/100)), 10)
		}
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(orig), 10)
		if i == def {
			b = append(b, ',', '1', '\n')
		} else {
			b = append(b, ',', '0', '\n')
		}
	}
	w.buf = b
}

// swapAt picks the position j whose row takes id j+1 while row j+1 takes id
// j, or -1: the real skus.csv and photos.csv list `8,2` before `7,2`.
func swapAt(r *rng, n int, forced bool) int {
	switch {
	case n < 2:
		return -1
	case forced:
		return 0
	case r.intn(1000) < swapPerMille:
		return r.intn(n - 1)
	}
	return -1
}

// rowID is the id of the row at position j of a parent whose first id is
// first, given the swapped position.
func rowID(first, j, swap int) int64 {
	switch {
	case swap < 0:
	case j == swap:
		return int64(first + j + 1)
	case j == swap+1:
		return int64(first + j - 1)
	}
	return int64(first + j)
}

func skuRows(w *writer, g *gen, p int, pl *plan) {
	r := &w.r
	list := sizes[pl.kind]
	b := w.buf
	for i := range pl.styles {
		w.styleID++
		n := int(pl.skus[i])
		if n == 0 {
			continue
		}
		start := 0
		if n < len(list) {
			start = r.intn(len(list) - n + 1)
		}
		forced := i == 0 && pl.forced&forceDupSize != 0
		dup := n >= 2 && (forced || r.intn(1000) < dupSizePerMille)
		if dup {
			w.defects.DuplicateSizes++
		}
		swap := swapAt(r, n, i == 0 && pl.forced&forceSwapSku != 0)
		if swap >= 0 {
			w.defects.SwappedSkuIDs++
		}
		for j := range n {
			k := min(start+j, len(list)-1)
			if dup && j == n-1 { // "XS","S","M","L","XL","XL"
				k = min(start+j-1, len(list)-1)
			}
			b = strconv.AppendInt(b, rowID(w.id+1, j, swap), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(w.styleID), 10)
			b = append(b, ',', '"')
			b = append(b, list[k]...)
			b = append(b, '"', ',')
			b = strconv.AppendInt(b, int64(r.intn(61)), 10)
			b = append(b, '\n')
		}
		w.id += n
	}
	w.buf = b
}

const (
	photoHost   = "https://images.unsplash.com/"
	photoIxlib  = "?ixlib=rb-1.2.1"
	photoIxid   = "&ixid=eyJhcHBfaWQiOjEyMDd9"
	photoCrop   = "&auto=format&fit=crop&w="
	photoQ      = "&q=80"
	thumbWidth  = "300"
	hexDigits   = "0123456789abcdef"
	photoKeyMax = len("photo-1501088430049-71c79fa3283e")
)

func photoRows(w *writer, g *gen, p int, pl *plan) {
	r := &w.r
	var keyBuf [photoKeyMax]byte
	b := w.buf
	for i := range pl.styles {
		w.styleID++
		n := int(pl.photos[i])
		if n == 0 {
			continue
		}
		swap := swapAt(r, n, i == 0 && pl.forced&forceSwapPhoto != 0)
		if swap >= 0 {
			w.defects.SwappedPhotoIDs++
		}
		for j := range n {
			b = strconv.AppendInt(b, rowID(w.id+1, j, swap), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(w.styleID), 10)
			b = append(b, ',')
			b = appendPhotoURLs(b, r, &keyBuf)
			if (i == 1 && j == n-1 && pl.forced&forceBrokenPhoto != 0) || r.intn(brokenPhotoOneIn) == 0 {
				w.defects.BrokenPhotoLines++
				b = append(b, '\n') // the closing quote the real export lost
			} else {
				b = append(b, '"', '\n')
			}
		}
		w.id += n
	}
	w.buf = b
}

// appendPhotoURLs draws one photo and appends its two quoted URLs, the
// thumbnail's closing quote excepted (the real export lost some of them).
func appendPhotoURLs(b []byte, r *rng, keyBuf *[photoKeyMax]byte) []byte {
	// photo-<ms timestamp, sometimes seconds>-<12 hex>, as Unsplash names them.
	key := append(keyBuf[:0], "photo-"...)
	if r.intn(4) == 0 {
		key = strconv.AppendInt(key, int64(1_400_000_000+r.intn(200_000_000)), 10)
	} else {
		key = strconv.AppendInt(key, int64(1_400_000_000_000+r.intn(200_000_000_000)), 10)
	}
	key = append(key, '-')
	h := r.pcg.Uint64()
	for s := 60; s > 12; s -= 4 {
		key = append(key, hexDigits[h>>s&15])
	}
	ixid := r.intn(10) != 0
	width := photoWidths[r.intn(len(photoWidths))]
	b = append(b, '"')
	b = appendPhotoURL(b, key, ixid, width)
	b = append(b, '"', ',', '"')
	return appendPhotoURL(b, key, ixid, thumbWidth)
}

func appendPhotoURL(b, key []byte, ixid bool, width string) []byte {
	b = append(b, photoHost...)
	b = append(b, key...)
	b = append(b, photoIxlib...)
	if ixid {
		b = append(b, photoIxid...)
	}
	b = append(b, photoCrop...)
	b = append(b, width...)
	return append(b, photoQ...)
}

// relatedTargets draws product p's related product ids into targets and
// returns how many there are. It is relatedRows' only use of the PRNG, so a
// revision can learn which products are related to without writing a row.
func relatedTargets(r *rng, g *gen, p int, pl *plan, targets *[len(relatedPerProduct)]int) int {
	n := pl.related
	if g.products < 2 {
		n = 0 // nothing to relate to but itself
	}
	dupAt := -1
	if n >= 2 {
		if pl.forced&forceDupRelated != 0 {
			dupAt = n - 1
		} else if r.intn(1000) < dupRelatedPerMille {
			dupAt = 1 + r.intn(n-1)
		}
	}
	for j := range n {
		var t int
		switch {
		case j == 0 && pl.forced&forceZeroRelated != 0, r.intn(relatedZeroOneIn) == 0:
			t = 0
		case j == n-1 && pl.forced&forceSelfRelated != 0, r.intn(selfRelatedOneIn) == 0:
			t = p
		case j == dupAt:
			t = targets[r.intn(j)]
		default:
			t = r.neighbour(p, g.products, targets[:j])
		}
		targets[j] = t
	}
	return n
}

func relatedRows(w *writer, g *gen, p int, pl *plan) {
	var targets [len(relatedPerProduct)]int
	n := relatedTargets(&w.r, g, p, pl, &targets)
	b := w.buf
	for j, t := range targets[:n] {
		// Counted from what was written, so accidental repeats in tiny
		// exports are counted too.
		switch t {
		case 0:
			w.defects.RelatedToZero++
		case p:
			w.defects.SelfRelated++
		}
		if slices.Contains(targets[:j], t) {
			w.defects.DuplicateRelated++
		}
		w.id++
		b = strconv.AppendInt(b, int64(w.id), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(p), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(t), 10)
		b = append(b, '\n')
	}
	w.buf = b
}

// appendEscaped appends s with its double quotes doubled, for the inside of
// a quoted CSV field.
func appendEscaped(b []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
}

// rng is a PCG generator reseeded for every (stream, product), so a
// product's choices depend on nothing written before it.
type rng struct{ pcg rand.PCG }

func (r *rng) seed(seed, stream uint64, p int) {
	a := splitmix64(seed ^ stream*0x9e3779b97f4a7c15)
	r.pcg.Seed(a, splitmix64(a^uint64(p)))
}

// intn returns a number in [0, n) by Lemire's multiply-shift; its bias,
// below n/2^64, is irrelevant here.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.pcg.Uint64(), uint64(n))
	return int(hi)
}

// pick draws an index from weights per mille.
func (r *rng) pick(weights []int) int {
	x := r.intn(1000)
	for i, wt := range weights {
		if x < wt {
			return i
		}
		x -= wt
	}
	return len(weights) - 1
}

// price is a default price in whole currency units, mostly under 200 like
// the real ones (140, 69, 40, 65, 99...), a few up to 1000.
func (r *rng) price() int {
	switch x := r.intn(100); {
	case x < 70:
		return 10 + r.intn(190)
	case x < 95:
		return 200 + r.intn(300)
	}
	return 500 + r.intn(501)
}

// neighbour picks a related product near p (the real related rows point at
// nearby ids), other than p and not already in taken; in exports too small
// to avoid both it settles for what it drew.
func (r *rng) neighbour(p, products int, taken []int) int {
	var t int
	for range 8 {
		t = p + r.intn(2*relatedWindow+1) - relatedWindow
		t = ((t-1)%products+products)%products + 1
		if t != p && !slices.Contains(taken, t) {
			break
		}
	}
	return t
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
