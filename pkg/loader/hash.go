package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// A file's SHA-256 (the export's identity in the builds catalogue, for
// `status` and --if-changed) is taken as the load reads it, through a tee:
// on the load's critical path, one of its costliest steps after parsing.
// HashAside takes it instead on a second read of each file, in a goroutine
// of its own, so that it runs on the core the load leaves idle (the direct
// build's first pass reads the parent files on one core); the load then
// checks that the bytes hashed are the bytes it read.

// asideHash is one file's hash taken on a separate read.
type asideHash struct {
	done chan struct{}
	sum  string
	n    int64 // bytes hashed
	err  error
}

// HashAside moves the files' hashing off the read path: from now on each
// file is hashed by a goroutine that reads it again, from its start, while
// ctx lasts. Call it before the export is read (after Open).
func (e *Export) HashAside(ctx context.Context) {
	for _, ef := range e.files {
		ef.aside = &asideHash{done: make(chan struct{})}
		ef.counter.r, ef.hash = ef.f, nil
	}
	go func() {
		for _, ef := range e.files {
			ef.aside.sum, ef.aside.n, ef.aside.err = hashFile(ctx, ef.path)
			close(ef.aside.done)
		}
	}()
}

// hashFile reads path to its end, hashing it.
func hashFile(ctx context.Context, path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", n, err
		}
		k, err := f.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), n, nil
		}
		if err != nil {
			return "", n, fmt.Errorf("hashing %s: %w", path, err)
		}
	}
}

// sum is the file's SHA-256, once the whole file has been read: from the
// tee, or from the aside hash, which must have hashed as many bytes as the
// load read (else the file changed during the load).
func (ef *exportFile) sum(ctx context.Context) (string, error) {
	if ef.aside == nil {
		return hex.EncodeToString(ef.hash.Sum(nil)), nil
	}
	select {
	case <-ef.aside.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if ef.aside.err != nil {
		return "", ef.aside.err
	}
	if read := ef.counter.n.Load(); ef.aside.n != read {
		return "", fmt.Errorf("%s: %d bytes read but %d hashed: %w", ef.path, read, ef.aside.n, ErrChangedDuringLoad)
	}
	return ef.aside.sum, nil
}
