package generate

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Revisions. Revision R is the catalogue R days after revision 0 (today's
// export). Every day d a fixed fraction of the products that exist is
// changed, a few unreferenced products are removed and a few new ones are
// appended. Nothing is stored between days: each writer recomputes, for
// each product, which days touched it and replays those days on the
// product's own rows, so the export stays a pure function of (products,
// seed, revision, change) written in one streaming pass.
//
// Ids: rows of revision 0 keep their ids forever. Rows created on day d
// take ids from a block of that file reserved for day d, above the base
// catalogue and every earlier day's block; within a block ids are handed
// out in product order. A block is sized by an upper bound that needs no
// simulation (events that day times the most rows one event creates), so
// ids may skip, as the contract allows, and a row created on day d has the
// same id in every revision from d on.

// DefaultChange is the fraction of products a day changes when the caller
// has no opinion: about what a real catalogue's daily export shows.
const DefaultChange = 0.01

const (
	// Per day and per base product: about 0.05% of products are added and
	// as many removed.
	addedPerDay   = 0.0005
	removedPerDay = 0.0005
	// Changes are chosen in blocks of changeBlock consecutive product ids:
	// exactly round(change*changeBlock) of each block change (dithered),
	// at positions a keyed permutation scatters, so the daily count is
	// F*N with almost no sampling noise and each product's fate is still
	// decided alone.
	changeBlock = 1024
	// lastForced is the last product with forced defects; revisions never
	// touch products 1..lastForced, so every export keeps each defect.
	lastForced = 6
)

// File indexes, in exportFiles order.
const (
	fProduct = iota
	fFeatures
	fStyles
	fSkus
	fPhotos
	fRelated
	numFiles
)

// PRNG streams of revisions; the day goes in the high bits.
const (
	streamChange uint64 = iota + 16
	streamRemove
	streamAdded
	streamSelect
)

func dayStream(stream uint64, d int) uint64 { return stream | uint64(d)<<16 }

// Kinds of change, with weights per mille in the proportions a real
// catalogue's daily export shows: stock counts move most; prices and sales
// next; then feature values, photos, related products and styles.
const (
	chSkuQuantity = iota
	chPrice
	chSalePrice
	chFeatureValue
	chStyleAdded
	chStyleRemoved
	chPhotoReplaced
	chPhotosReordered
	chRelated
)

var changeWeights = [...]int{
	chSkuQuantity:     400,
	chPrice:           120,
	chSalePrice:       150,
	chFeatureValue:    100,
	chStyleAdded:      50,
	chStyleRemoved:    30,
	chPhotoReplaced:   60,
	chPhotosReordered: 40,
	chRelated:         50,
}

var (
	maxSkus   = len(skusPerStyle[shoes]) - 1
	maxPhotos = len(photosPerStyle) - 1
	// Most rows one change creates in each file: a new style with the
	// most skus and photos, or one related row.
	maxPerChange = [numFiles]int{fStyles: 1, fSkus: maxSkus, fPhotos: maxPhotos, fRelated: 1}
	// Most rows one new product has in each file.
	maxPerProduct = [numFiles]int{
		fProduct: 1, fFeatures: len(featuresPerProduct) - 1, fStyles: maxStyles,
		fSkus: maxStyles * maxSkus, fPhotos: maxStyles * maxPhotos, fRelated: len(relatedPerProduct) - 1,
	}
)

// rev is what every writer of a revision shares; computed once by newRev
// before they start and read-only after.
type rev struct {
	days     int
	perBlock float64 // changes per changeBlock products per day
	// referenced[p] is set when another product's revision-0 related rows
	// point at p. Only unreferenced products are ever removed and new
	// related rows only point at referenced ones, so no related row ever
	// points at a removed product: removing a product changes no other
	// product's documents.
	referenced []uint64
	// removed lists the removed products in ascending id order with the
	// day of their removal.
	removed []removal
	// addedStart[d] is the first product id added on day d (1..days);
	// addedStart[days+1] is one past the last.
	addedStart []int
	// blockStart[d][f] is the first id of file f reserved for day d's new
	// rows; blockStart[days+1] is one past the last block.
	blockStart [][numFiles]int
}

type removal struct{ id, day int }

func (rv *rev) isReferenced(p int) bool {
	return p < len(rv.referenced)*64 && rv.referenced[p>>6]&(1<<(p&63)) != 0
}

// dither rounds x down or up, up with probability frac(x), by key.
func dither(x float64, key uint64) int {
	n := int(x)
	if float64(splitmix64(key)>>11)/(1<<53) < x-float64(n) {
		n++
	}
	return n
}

// counts is how many rows product p's revision-0 plan has in each file.
func (pl *plan) counts(g *gen) [numFiles]int {
	c := [numFiles]int{fProduct: 1, fFeatures: pl.features, fStyles: pl.styles}
	for i := range pl.styles {
		c[fSkus] += int(pl.skus[i])
		c[fPhotos] += int(pl.photos[i])
	}
	if g.products >= 2 {
		c[fRelated] = pl.related
	}
	return c
}

// newRev computes what the writers of revision days share: one pass over
// the base products' plans and related rows, split over the CPUs (about
// half a CPU-second at a million products), then each day's removals,
// additions and id blocks.
func newRev(ctx context.Context, g *gen, days int, change float64) (*rev, error) {
	n := g.products
	rv := &rev{days: days, perBlock: change * changeBlock, referenced: make([]uint64, n/64+1)}
	parts := runtime.GOMAXPROCS(0)
	rows := make([][numFiles]int, parts)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() { rows[i] = rv.scanBase(ctx, g, 1+n*i/parts, n*(i+1)/parts) })
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	var baseRows [numFiles]int
	for _, r := range rows {
		for f := range numFiles {
			baseRows[f] += r[f]
		}
	}
	rv.chooseRemovals(g)

	rv.addedStart = make([]int, days+2)
	rv.blockStart = make([][numFiles]int, days+2)
	rv.addedStart[1] = n + 1
	for f := range numFiles {
		rv.blockStart[1][f] = baseRows[f] + 1
	}
	for d := 1; d <= days; d++ {
		added := dither(float64(n)*addedPerDay, g.seed^dayStream(streamAdded, d))
		rv.addedStart[d+1] = rv.addedStart[d] + added
		// Products that may change on day d: every id before that day's.
		blocks := (rv.addedStart[d] - 1 + changeBlock - 1) / changeBlock
		events := blocks * (int(rv.perBlock) + 1)
		for f := range numFiles {
			rv.blockStart[d+1][f] = rv.blockStart[d][f] + events*maxPerChange[f] + added*maxPerProduct[f]
		}
	}
	for f, end := range rv.blockStart[days+1] {
		if end-1 > math.MaxInt32 || rv.addedStart[days+1]-1 > math.MaxInt32 {
			return nil, fmt.Errorf("revision %d of %d products needs ids past 2^31-1 in %s", days, n, exportFiles()[f].name)
		}
	}
	return rv, nil
}

// scanBase counts the revision-0 rows of products from..to in each file
// and marks the products their related rows point at. Ranges overlap in
// the bitmap (related products are near), hence the atomic OR.
func (rv *rev) scanBase(ctx context.Context, g *gen, from, to int) [numFiles]int {
	var rows [numFiles]int
	var pl plan
	var pr, rr rng
	var targets [len(relatedPerProduct)]int
	for p := from; p <= to; p++ {
		if p&0xffff == 0 && ctx.Err() != nil {
			return rows // newRev reports the cancellation
		}
		pl.draw(&pr, g, p)
		for f, c := range pl.counts(g) {
			rows[f] += c
		}
		rr.seed(g.seed, streamRelated, p)
		for _, t := range targets[:relatedTargets(&rr, g, p, &pl, &targets)] {
			if t != 0 && t != p {
				atomic.OrUint64(&rv.referenced[t>>6], 1<<(t&63))
			}
		}
	}
	return rows
}

// chooseRemovals picks each day's removed products: from a random id, the
// next product nobody relates to that is still there. Walking to the next
// candidate (about 1% of products are unreferenced) keeps the daily count
// exact without listing the candidates.
func (rv *rev) chooseRemovals(g *gen) {
	n := g.products
	if n <= lastForced {
		return
	}
	gone := make(map[int]bool)
	left := 0
	for p := lastForced + 1; p <= n; p++ {
		if !rv.isReferenced(p) {
			left++
		}
	}
	for d := 1; d <= rv.days; d++ {
		count := dither(float64(n)*removedPerDay, g.seed^dayStream(streamRemove, d))
		var r rng
		r.seed(g.seed, dayStream(streamRemove, d), 0)
		for ; count > 0 && left > 0; count-- {
			p := lastForced + 1 + r.intn(n-lastForced)
			for rv.isReferenced(p) || gone[p] {
				if p++; p > n {
					p = lastForced + 1
				}
			}
			gone[p] = true
			left--
			rv.removed = append(rv.removed, removal{p, d})
		}
	}
	// Writers meet products in id order.
	slices.SortFunc(rv.removed, func(a, b removal) int { return a.id - b.id })
}

// selected reports whether product p changes on day d: within p's block of
// changeBlock ids, a keyed permutation of the positions (a three-round
// Feistel network on 5+5 bits) puts exactly k of them below k.
func (rv *rev) selected(seed uint64, d, p int) bool {
	if p <= lastForced || rv.perBlock <= 0 {
		return false
	}
	block := uint64(p-1) / changeBlock
	h := splitmix64(seed ^ dayStream(streamSelect, d)*0x9e3779b97f4a7c15 ^ block)
	k := dither(rv.perBlock, h)
	if k >= changeBlock {
		return true
	}
	key := splitmix64(h ^ 0xf00d) // not dither's draw, which decided k
	i := uint32(p-1) % changeBlock
	l, r := i>>5, i&31
	for round := range 3 {
		l, r = r, l^((r^uint32(key>>(16*round)))*0x2545f491>>11&31)
	}
	return int(l<<5|r) < k
}

// neighbourReferenced picks a product near p that someone relates to in
// revision 0 (so it is never removed), other than p and not in taken; 0
// when a few tries find none.
func (rv *rev) neighbourReferenced(r *rng, p, products int, taken []int) int {
	for range 16 {
		t := r.neighbour(p, products, nil)
		if t != p && rv.isReferenced(t) && !slices.Contains(taken, t) {
			return t
		}
	}
	return 0
}
