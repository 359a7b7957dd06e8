package generate

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestGolden pins exports to stored hashes. revision0.sha256 was computed
// by the generator before revisions existed, so revision 0 is today's
// export byte for byte; revisions.sha256 pins revisions (and their changes
// files) so stored revision exports stay reproducible. A change to either
// (a draw moved, a field reformatted) fails here rather than silently.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file   string
		params int // fields before the file name
	}{
		{"revision0.sha256", 2}, // products seed
		{"revisions.sha256", 5}, // products seed revision change base
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, filepath.Join("testdata", tc.file), tc.params)
		})
	}
}

func checkGolden(t *testing.T, path string, params int) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dirs := map[string]string{} // parameters -> export
	sc := bufio.NewScanner(f)
	checked := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != params+2 {
			t.Fatalf("bad golden line %q", line)
		}
		key := strings.Join(fields[:params], " ")
		dir, ok := dirs[key]
		if !ok {
			dir = writeGolden(t, fields[:params])
			dirs[key] = dir
		}
		data, err := os.ReadFile(filepath.Join(dir, fields[params]))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != fields[params+1] {
			t.Errorf("%s of export %q: sha256 %s, want %s", fields[params], key, got, fields[params+1])
		}
		checked++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	files := 6
	if params > 2 {
		files = 7 // and changes.csv
	}
	if checked != files*len(dirs) || len(dirs) < 2 {
		t.Fatalf("golden file covers %d files of %d exports; want all %d files of several exports", checked, len(dirs), files)
	}
}

// writeGolden writes the export of golden parameters: products, seed and,
// for revisions, revision, change and base, with the changes file written
// as changes.csv in the export's directory.
func writeGolden(t *testing.T, params []string) string {
	t.Helper()
	ints := make([]int, len(params))
	for i, p := range params {
		if i == 3 {
			continue // the change rate
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("bad golden parameter %q", p)
		}
		ints[i] = n
	}
	opts := Options{Products: ints[0], Seed: uint64(ints[1])}
	dir := t.TempDir()
	if len(params) > 2 {
		change, err := strconv.ParseFloat(params[3], 64)
		if err != nil {
			t.Fatalf("bad golden change rate %q", params[3])
		}
		opts.Revision, opts.Change, opts.Base = ints[2], change, ints[4]
		opts.Changes = filepath.Join(dir, "changes.csv")
	}
	if _, err := Write(context.Background(), dir, opts); err != nil {
		t.Fatalf("Write(%+v): %v", opts, err)
	}
	return dir
}
