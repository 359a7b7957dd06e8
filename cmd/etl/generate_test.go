package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateCmd(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "export") // created by the command
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"generate", "--products", "30", "--seed", "5", dir}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr.String())
	}
	for _, name := range []string{"product.csv", "features.csv", "styles.csv", "skus.csv", "photos.csv", "related.csv"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "product.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 31 {
		t.Errorf("product.csv has %d lines, want header and 30 products", n)
	}
	// Not a terminal: no progress line, only the final log record.
	var rec struct {
		Msg      string `json:"msg"`
		Products int    `json:"products"`
		Seed     uint64 `json:"seed"`
		Rows     int64  `json:"rows"`
	}
	if err := json.Unmarshal(stderr.Bytes(), &rec); err != nil {
		t.Fatalf("stderr is not one JSON log record: %v\n%s", err, stderr.String())
	}
	if rec.Msg != "generated export" || rec.Products != 30 || rec.Seed != 5 || rec.Rows < 30 {
		t.Errorf("log record %+v, want generated export of 30 products, seed 5", rec)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

func TestGenerateCmdUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no directory", []string{"generate"}},
		{"two directories", []string{"generate", dir, dir}},
		{"negative products", []string{"generate", "--products", "-1", dir}},
		{"too many products", []string{"generate", "--products", "1000000000", dir}},
		{"non-numeric products", []string{"generate", "--products", "many", dir}},
		{"negative seed", []string{"generate", "--seed", "-3", dir}},
		{"negative revision", []string{"generate", "--revision", "-1", dir}},
		{"change above 1", []string{"generate", "--revision", "1", "--change", "1.5", dir}},
		{"changes of revision 0", []string{"generate", "--changes", filepath.Join(dir, "c.csv"), dir}},
		{"base not before revision", []string{"generate", "--revision", "2", "--base", "2", dir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit code %d, want %d (usage); stderr:\n%s", code, exitUsage, stderr.String())
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a rejected command line wrote %d files", len(entries))
	}
}

// TestGenerateRevisionCmd writes revision 2 of a small export with its
// changes since revision 1 (the default) and since revision 0, and checks
// the files and the log agree.
func TestGenerateRevisionCmd(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	counts := map[string]map[string]int{}
	for _, base := range []string{"", "0"} {
		dir, changes := filepath.Join(tmp, "r2-"+base), filepath.Join(tmp, "changes-"+base+".csv")
		args := []string{"generate", "--products", "3000", "--seed", "4", "--revision", "2", "--change", "0.05", "--changes", changes, dir}
		if base != "" {
			args = append(args, "--base", base)
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
			t.Fatalf("%v: exit code %d, stderr:\n%s", args, code, stderr.String())
		}
		var rec struct {
			Revision int `json:"revision"`
			Changes  struct {
				Base                    int
				Changed, Added, Removed int
			} `json:"changes"`
		}
		if err := json.Unmarshal(stderr.Bytes(), &rec); err != nil {
			t.Fatalf("stderr is not one JSON log record: %v\n%s", err, stderr.String())
		}
		data, err := os.ReadFile(changes)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for line := range strings.Lines(string(data)) {
			kind, _, _ := strings.Cut(line, ",")
			got[kind]++
		}
		counts[base] = got
		want := map[string]int{"changed": rec.Changes.Changed, "added": rec.Changes.Added, "removed": rec.Changes.Removed}
		wantBase := 1
		if base == "0" {
			wantBase = 0
		}
		if rec.Revision != 2 || rec.Changes.Base != wantBase || got["changed"] != want["changed"] ||
			got["added"] != want["added"] || got["removed"] != want["removed"] || len(got) > 3 {
			t.Errorf("base %q: log %+v, changes file %v", base, rec, got)
		}
	}
	// 5% of 3,000 a day: about 150 since revision 1, about 300 since 0.
	if c1, c0 := counts[""]["changed"], counts["0"]["changed"]; c1 < 135 || c1 > 165 || c0 < 2*c1-30 || c0 > 2*c1+30 {
		t.Errorf("changed since revision 1: %d, since revision 0: %d; want about 150 and 300", c1, c0)
	}
}
