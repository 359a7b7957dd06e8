package build

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/pkg/stored"
	"github.com/elier/catalogue/sql"
)

// A packer gives a build the dictionary its product documents are packed
// with (pkg/stored, storage format 6): one per lineage, in elier.dicts.
// A full build learns it from the first stored.DictSamples product
// documents its merges produce, while the COPYs that write them wait; an
// incremental build packs with its lineage's. Nil, when the lineage has
// none (a catalogue too small to learn from): the documents are then
// stored as the encoder stores them.
type packer struct {
	ready chan struct{} // closed once dict and err are set
	once  sync.Once
	dict  *stored.Dict
	err   error

	learning atomic.Bool
	mu       sync.Mutex
	samples  [][]byte
	learn    func([][]byte) (*stored.Dict, error)
}

// packWith is a packer whose dictionary is known (nil: none).
func packWith(d *stored.Dict) *packer {
	p := &packer{ready: make(chan struct{}), dict: d}
	close(p.ready)
	return p
}

// learner is a packer that learns its dictionary with learn.
func learner(learn func([][]byte) (*stored.Dict, error)) *packer {
	p := &packer{ready: make(chan struct{}), learn: learn}
	p.learning.Store(true)
	return p
}

// sample offers one product document (the packer copies it); the last one
// needed learns the dictionary, on the caller's goroutine.
func (p *packer) sample(doc []byte) {
	if !p.learning.Load() {
		return
	}
	p.mu.Lock()
	if len(p.samples) < stored.DictSamples {
		p.samples = append(p.samples, append([]byte(nil), doc...))
	}
	full := len(p.samples) >= stored.DictSamples
	p.mu.Unlock()
	if full {
		p.settle()
	}
}

// settle learns the dictionary from the samples so far, once: a merge
// calls it when it has produced all its documents (a catalogue with fewer
// products than samples: the COPYs must not wait for more).
func (p *packer) settle() {
	p.once.Do(func() {
		if p.learn != nil {
			p.learning.Store(false)
			p.mu.Lock()
			samples := p.samples
			p.samples = nil
			p.mu.Unlock()
			p.dict, p.err = p.learn(samples)
			close(p.ready)
		}
	})
}

// wait returns the dictionary once it is known.
func (p *packer) wait(ctx context.Context) (*stored.Dict, error) {
	select {
	case <-p.ready:
		return p.dict, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// newPacker is build id's packer: for a full build, one that learns the
// lineage's dictionary and records it (in its own transaction: a reader
// meets the dictionary before any document that needs it); for an
// incremental one, its lineage's dictionary.
func newPacker(ctx context.Context, pool *pgxpool.Pool, id int64, incremental bool, docsSchema string) (*packer, error) {
	q := sql.Named("dicts.sql")
	if incremental {
		var raw []byte
		var dictID int64
		err := pool.QueryRow(ctx, q["lineage_dict"], docsSchema).Scan(&dictID, &raw)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return packWith(nil), nil
		case err != nil:
			return nil, fmt.Errorf("reading %s's dictionary: %w", docsSchema, err)
		}
		d, err := stored.NewDict(dictID, raw)
		if err != nil {
			return nil, fmt.Errorf("reading %s's dictionary: %w", docsSchema, err)
		}
		return packWith(d), nil
	}
	return learner(func(samples [][]byte) (*stored.Dict, error) {
		d, err := stored.TrainDict(id, samples)
		if err != nil || d == nil {
			return nil, err
		}
		if _, err := pool.Exec(ctx, q["record_dict"], id, docsSchema, d.Bytes()); err != nil {
			return nil, fmt.Errorf("recording the documents' dictionary: %w", err)
		}
		return d, nil
	}), nil
}
