package generate

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRevisionZeroGolden pins revision 0 to the bytes the generator wrote
// before revisions existed: the hashes in testdata were computed by that
// code, so any change to today's export (a draw moved, a field reformatted)
// fails here rather than silently invalidating every stored export.
func TestRevisionZeroGolden(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("testdata", "revision0.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dirs := map[string]string{} // "products seed" -> export
	sc := bufio.NewScanner(f)
	checked := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 4 {
			t.Fatalf("bad golden line %q", line)
		}
		key := fields[0] + " " + fields[1]
		dir, ok := dirs[key]
		if !ok {
			products, err1 := strconv.Atoi(fields[0])
			seed, err2 := strconv.ParseUint(fields[1], 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("bad golden line %q", line)
			}
			dir, _ = write(t, products, seed)
			dirs[key] = dir
		}
		data, err := os.ReadFile(filepath.Join(dir, fields[2]))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != fields[3] {
			t.Errorf("%s of %s products, seed %s: sha256 %s, want %s", fields[2], fields[0], fields[1], got, fields[3])
		}
		checked++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if checked != 6*len(dirs) || len(dirs) < 2 {
		t.Fatalf("golden file covers %d files of %d exports; want all six files of several exports", checked, len(dirs))
	}
}
