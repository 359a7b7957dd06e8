package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// streamAll streams e to its end, discarding the rows.
func streamAll(t *testing.T, dir string, e *Export) (*Result, error) {
	t.Helper()
	ctx := context.Background()
	opts := Options{RejectDir: t.TempDir(), MaxRejectRatio: 1}
	parents, err := ReadParents(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out [len(Tables)]chan<- *Batch
	for i := range out {
		c := make(chan *Batch, 4)
		out[i] = c
		go func() {
			for b := range c {
				Release(b)
			}
		}()
	}
	return Stream(ctx, e, parents, opts, out)
}

// TestHashAside: the files' SHA-256 taken on a second read equals the
// digest of each file computed here (and the tee's, the other path).
func TestHashAside(t *testing.T) {
	t.Parallel()
	const dir = "testdata/dirty"
	for _, aside := range []bool{false, true} {
		e, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if aside {
			e.HashAside(context.Background())
		}
		res, err := streamAll(t, dir, e)
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range Tables {
			b, err := os.ReadFile(filepath.Join(dir, tb.File()))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got, want := res.Files[tb].SHA256, hex.EncodeToString(sum[:]); got != want {
				t.Errorf("aside %v: %s: sha256 %s, want %s", aside, tb.File(), got, want)
			}
		}
	}
}

// TestHashAsideFileChanged: a file that grows between the hash's read and
// the load's fails the load, naming the file.
func TestHashAsideFileChanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tb := range Tables {
		b, err := os.ReadFile(filepath.Join("testdata/dirty", tb.File()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, tb.File()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.HashAside(ctx)
	// Wait for the hashes, then append a line the load will read.
	for _, ef := range e.files {
		<-ef.aside.done
	}
	f, err := os.OpenFile(filepath.Join(dir, Related.File()), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("999999,1,2\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = streamAll(t, dir, e)
	if !errors.Is(err, ErrChangedDuringLoad) {
		t.Fatalf("load of a file that grew: %v, want ErrChangedDuringLoad", err)
	}
}
