package loader

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
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

// TestChecksum: the checksum a stream records for each file (taken through
// the read's tee, in the chunks the scanner reads) equals the file's
// xxHash64 computed here in one call, FileChecksum's (what --if-changed
// compares it with) and, where it is installed, what `xxh64sum` prints.
func TestChecksum(t *testing.T) {
	t.Parallel()
	const dir = "testdata/dirty"
	e, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := streamAll(t, dir, e)
	e.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range Tables {
		path := filepath.Join(dir, tb.File())
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := res.Files[tb].XXH64
		if want := fmt.Sprintf("%016x", xxhash.Sum64(b)); got != want {
			t.Errorf("%s: streamed checksum %s, want %s", tb.File(), got, want)
		}
		n, sum, err := FileChecksum(path)
		if err != nil || n != int64(len(b)) || sum != got {
			t.Errorf("%s: FileChecksum %d %s %v, want %d %s", tb.File(), n, sum, err, len(b), got)
		}
	}
}

// TestChecksumIsXXH64Sum: an operator checks `elier-etl status` against the
// files with Debian's xxhash tools.
func TestChecksumIsXXH64Sum(t *testing.T) {
	t.Parallel()
	tool, err := exec.LookPath("xxh64sum")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xxh64sum is not installed, and CI is set: .ci/run should have installed it")
		}
		t.Skip("xxh64sum is not installed (CI installs it: Debian's xxhash)")
	}
	for _, tb := range Tables {
		path := filepath.Join("testdata/dirty", tb.File())
		out, err := exec.Command(tool, path).Output()
		if err != nil {
			t.Fatal(err)
		}
		_, sum, err := FileChecksum(path)
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(out)); len(f) == 0 || f[0] != sum {
			t.Errorf("%s: xxh64sum printed %q, FileChecksum %s", tb.File(), out, sum)
		}
	}
}
