package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/elier/catalogue/pkg/readmodel"
	"github.com/elier/catalogue/pkg/stored"
)

// Prefill: the cache is filled with the live build's documents (and the
// pieces its list pages are made of: pieces.go) in the background, so that the whole catalogue is served from memory (its
// stored, compressed documents fit in a modest cache: docs/DEPLOY.md,
// "Sizing the API's cache") and no request waits on PostgreSQL or the
// disk for a document that has not been asked for yet:
//   - when the cache is emptied (at start, or a build unrelated to the
//     last one), every product, in one streamed scan;
//   - when a swap dropped only the products the new build changed, added
//     or removed, those, by id.
//
// A build change cancels the prefill under way and starts its own. Entries
// go in as a request's would (putIfLive: only rows of the live build, never
// after a newer row was seen). When the catalogue needs more than the
// cache holds, the prefill stops at 90% of the capacity rather than evict
// what it has just put.

// errCacheFull ends a prefill that reached its share of the capacity.
var errCacheFull = errors.New("the cache holds as much of the catalogue as it can")

// startPrefill cancels the prefill under way and, when prefill is on,
// starts one for build id: every product (all), or those of ids, the
// products that differ from build from. The caller holds buildMu.
func (s *server) startPrefill(id, from int64, all bool, ids []int32) {
	if s.prefillStop != nil {
		s.prefillStop()
		s.prefillStop = nil
	}
	if !s.prefillOn || id == 0 || s.cache.fc == nil {
		return
	}
	switch {
	case all:
		ids = nil
	case ids == nil:
		ids = []int32{} // none to read; the new build's list order and items still to take
	}
	ctx, cancel := context.WithCancel(s.base)
	s.prefillStop = cancel
	s.prefills.Go(func() {
		defer cancel()
		s.prefill(ctx, id, from, ids)
	})
}

// stopPrefill cancels the prefill under way and waits for it (shutdown).
func (s *server) stopPrefill() {
	s.buildMu.Lock()
	if s.prefillStop != nil {
		s.prefillStop()
		s.prefillStop = nil
	}
	s.buildMu.Unlock()
	s.prefills.Wait()
}

func (s *server) prefill(ctx context.Context, id, from int64, ids []int32) {
	t := time.Now()
	budget := s.cache.capacity * 9 / 10
	var products, bytes int64
	routes := [3]route{routeProduct, routeStyles, routeRelated}
	// put caches v under key as a request would (coded: not flagged as
	// the body itself) and counts it against the budget.
	put := func(key uint64, rt route, hash int64, coded bool, v []byte) {
		r := resource{key: cacheKey{res: key}, rt: rt, hash: hash, seen: id}
		s.putIfLive(&r, encGzip, 200, !coded, 0, v)
		bytes += int64(len(v)) + entryOverhead
	}
	// The list order first: pages are served from the pieces as soon as
	// theirs are in (pieces.go).
	order, err := s.reader.ListOrder(ctx, id)
	if err != nil {
		s.log.Warn("reading the list order; list pages are read from the database", "build_id", id, "err", err)
	} else if s.build.Load() == id {
		s.order.Store(&listOrder{build: id, ids: order})
	}
	var buf, plain, item []byte
	err = s.reader.EachProduct(ctx, ids, func(p *readmodel.Product) error {
		if p.Build != id || s.build.Load() != id {
			return context.Canceled // another build is live now: its own prefill runs
		}
		// The product document and its list item as one split entry
		// (pieces.go): the item is the document's first piece.
		var err error
		if plain, err = stored.Decode(plain[:0], p.Docs[0]); err != nil {
			return err
		}
		if item, err = readmodel.ListItem(item[:0], plain); err != nil {
			return fmt.Errorf("product %d: %w", p.ID, err)
		}
		var split bool
		if buf, split = appendSplit(buf[:0], item, plain); !split {
			return fmt.Errorf("product %d: %w", p.ID, readmodel.ErrNoItem)
		}
		put(docKey(routeProduct, p.ID), routeProduct, p.Hashes[0], true, buf)
		for i, doc := range p.Docs[1:] {
			put(docKey(routes[i+1], p.ID), routes[i+1], p.Hashes[i+1], stored.Coded(doc), doc)
		}
		products++
		s.prefilled.Add(3)
		if bytes >= budget {
			return errCacheFull
		}
		return nil
	})
	attrs := []any{"build_id", id, "products", products, "documents", 3 * products, "bytes", bytes,
		"seconds", time.Since(t).Seconds(), "changed_only", ids != nil}
	switch {
	case err == nil:
		s.log.Info("cache prefilled", attrs...)
		s.packItems(ctx, id, from, ids)
	case errors.Is(err, errCacheFull):
		s.log.Warn("cache prefilled up to 90% of its capacity: the catalogue does not fit (raise --cache-mb)", attrs...)
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		s.log.Debug("cache prefill stopped: another build is live, or shutting down", attrs...)
	default:
		s.log.Warn("cache prefill failed; requests fill the cache as they come", append(attrs, "err", err)...)
	}
}
