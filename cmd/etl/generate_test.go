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
