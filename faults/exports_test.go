//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/jackc/pgx/v5/pgxpool"
)

// issue is one line of a reject file.
type issue struct {
	file    string
	line    int
	outcome string // rejected or repaired
	reason  string
}

func (i issue) String() string {
	return fmt.Sprintf("%s:%d %s %s", i.file, i.line, i.outcome, i.reason)
}

// exportCase is one bad export: the base export changed by mutate.
type exportCase struct {
	name   string
	mutate func(t *testing.T, x *export, c *exportCase)
	extra  []string // flags of elier-etl load
	code   int      // the exit code wanted
	msg    []string // what the message (stderr's last line) must say
	// For loads that succeed: the issues added to the base's reject files,
	// the lines added per file that must be loaded, and a look at the
	// documents.
	issues []issue
	good   map[string]int64
	check  func(t *testing.T, p *pgxpool.Pool)
}

// export is a scratch copy of the base export.
type export struct {
	dir string
	// A style of product prod (from styles.csv's first row), and a second
	// product; both exist in every build of the base export.
	style, prod, prod2 int
}

func (x *export) path(f string) string { return filepath.Join(x.dir, f) }

func (x *export) read(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(x.path(f))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (x *export) write(t *testing.T, f string, b []byte) {
	t.Helper()
	if err := os.WriteFile(x.path(f), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// add appends lines to f and returns the line number of the first one.
func (x *export) add(t *testing.T, f string, lines ...string) int {
	t.Helper()
	b := x.read(t, f)
	first := bytes.Count(b, []byte("\n")) + 1
	x.write(t, f, append(b, strings.Join(lines, "\n")+"\n"...))
	return first
}

// Scenario 7: bad exports: each defect of the contract's table, and files
// that are truncated, emptied, of the wrong header, binary, empty or not
// UTF-8. A clear message, the right reject lines, nothing lost from the
// live build; a shrinking export refused unless --max-shrink allows it.
func badExports(t *testing.T, e *env) {
	db := e.createDB(t, "faults_exports")
	p := pool(t, db)
	const products = 2000
	base := e.exportOf(t, products, 7)

	// The base export's own defects (the generator writes the real
	// export's) are the baseline of every reject file.
	baseRes, baseline, baseSum := e.loadCase(t, db, base, nil)
	if baseRes.code != 0 {
		t.Fatalf("the base export: exit %d: %s", baseRes.code, baseRes.message())
	}
	styles, err := os.ReadFile(filepath.Join(base, "styles.csv"))
	if err != nil {
		t.Fatal(err)
	}
	firstStyle := strings.Split(strings.SplitN(string(styles), "\n", 3)[1], ",")
	style, prod := atoi(t, firstStyle[0]), atoi(t, firstStyle[1])
	prod2 := prod%products + 1

	// Line numbers are found when the case's lines are appended, so the
	// cases fill in their expectations as they mutate.
	var cases []*exportCase
	add := func(c *exportCase) { cases = append(cases, c) }

	// --- each defect of the contract's table (a load that succeeds) ---
	add(&exportCase{name: "missing closing quote (repaired)", mutate: func(t *testing.T, x *export, c *exportCase) {
		n := x.add(t, "photos.csv",
			fmt.Sprintf(`900001,%d,"https://x.example/repaired.jpg","https://x.example/repaired-t.jpg`, x.style),
			fmt.Sprintf(`900002,%d,"https://x.example/after.jpg","https://x.example/after-t.jpg"`, x.style))
		c.issues = []issue{{"photos.csv", n, "repaired", "missing_closing_quote"}}
	}, code: 0, good: map[string]int64{"photos.csv": 2}, check: func(t *testing.T, p *pgxpool.Pool) {
		wantDoc(t, p, "styles", prod, `"url":"https://x.example/repaired.jpg"`, `"thumbnail_url":"https://x.example/repaired-t.jpg"`, `after-t.jpg`)
	}})
	add(&exportCase{name: "wrong field count", mutate: func(t *testing.T, x *export, c *exportCase) {
		n := x.add(t, "skus.csv", fmt.Sprintf(`900010,%d,"XS"`, x.style), fmt.Sprintf(`900011,%d,"XXL",3`, x.style), fmt.Sprintf(`900012,%d,"XS",1,2`, x.style))
		c.issues = []issue{{"skus.csv", n, "rejected", "field_count"}, {"skus.csv", n + 2, "rejected", "field_count"}}
	}, code: 0, good: map[string]int64{"skus.csv": 1}, check: func(t *testing.T, p *pgxpool.Pool) {
		wantDoc(t, p, "styles", prod, `"900011":{"quantity":3,"size":"XXL"}`)
	}})
	add(&exportCase{name: "unbalanced quotes", mutate: func(t *testing.T, x *export, c *exportCase) {
		n := x.add(t, "features.csv", fmt.Sprintf(`900020,%d,"Fabric,Canvas`, x.prod), fmt.Sprintf(`900021,%d,"Fab"ric","Canvas"`, x.prod), fmt.Sprintf(`900022,%d,"Lining","Silk"`, x.prod))
		c.issues = []issue{{"features.csv", n, "rejected", "unbalanced_quotes"}, {"features.csv", n + 1, "rejected", "bad_quote"}}
	}, code: 0, good: map[string]int64{"features.csv": 1}, check: func(t *testing.T, p *pgxpool.Pool) {
		wantDoc(t, p, "product", prod, `{"feature":"Lining","value":"Silk"}`)
	}})
	add(&exportCase{name: "non-numeric id", mutate: func(t *testing.T, x *export, c *exportCase) {
		n := x.add(t, "skus.csv", `900030,abc,"XS",8`, fmt.Sprintf(`abc,%d,"XS",8`, x.style), fmt.Sprintf(`-4,%d,"XS",8`, x.style), fmt.Sprintf(`900031,%d,"XS",many`, x.style))
		c.issues = []issue{{"skus.csv", n, "rejected", "bad_id"}, {"skus.csv", n + 1, "rejected", "bad_id"}, {"skus.csv", n + 2, "rejected", "bad_id"}, {"skus.csv", n + 3, "rejected", "bad_quantity"}}
	}, code: 0})
	add(&exportCase{name: "bad price", mutate: func(t *testing.T, x *export, c *exportCase) {
		n := x.add(t, "product.csv", `900040,"Bad","s","d","c",-5`, `900041,"Bad","s","d","c",1.234`, `900042,"Bad","s","d","c",abc`, `900043,"Good","s","d","c","100.00"`)
		m := x.add(t, "styles.csv", fmt.Sprintf(`900044,%d,"Bad sale",-1,10,1`, x.prod))
		c.issues = []issue{{"product.csv", n, "rejected", "bad_price"}, {"product.csv", n + 1, "rejected", "bad_price"}, {"product.csv", n + 2, "rejected", "bad_price"}, {"styles.csv", m, "rejected", "bad_price"}}
	}, code: 0, good: map[string]int64{"product.csv": 1}, check: func(t *testing.T, p *pgxpool.Pool) {
		wantDoc(t, p, "product", 900043, `"default_price":"100.00"`)
	}})
	add(&exportCase{name: "invalid UTF-8", mutate: func(t *testing.T, x *export, c *exportCase) {
		n := x.add(t, "features.csv", fmt.Sprintf("900050,%d,\"Fabric\",\"Can\xffvas\"", x.prod), fmt.Sprintf("900051,%d,\"Fabric\",\"Lin\x00en\"", x.prod), fmt.Sprintf(`900052,%d,"Fabric","Café"`, x.prod))
		c.issues = []issue{{"features.csv", n, "rejected", "invalid_utf8"}, {"features.csv", n + 1, "rejected", "invalid_utf8"}}
	}, code: 0, good: map[string]int64{"features.csv": 1}, check: func(t *testing.T, p *pgxpool.Pool) {
		wantDoc(t, p, "product", prod, `{"feature":"Fabric","value":"Café"}`)
	}})
	add(&exportCase{name: "repeated id", mutate: func(t *testing.T, x *export, c *exportCase) {
		n := x.add(t, "skus.csv", fmt.Sprintf(`1,%d,"XS",8`, x.style))
		m := x.add(t, "product.csv", `1,"Second one","s","d","c",5`)
		c.issues = []issue{{"skus.csv", n, "rejected", "duplicate_id"}, {"product.csv", m, "rejected", "duplicate_id"}}
	}, code: 0, check: func(t *testing.T, p *pgxpool.Pool) {
		wantNotDoc(t, p, "product", 1, "Second one")
	}})
	add(&exportCase{name: "orphans", mutate: func(t *testing.T, x *export, c *exportCase) {
		n := x.add(t, "related.csv", fmt.Sprintf(`900060,%d,0`, x.prod), `900061,99999999,1`)
		m := x.add(t, "skus.csv", `900062,99999999,"XS",1`)
		k := x.add(t, "styles.csv", `900063,99999999,"Ghost",null,10,1`)
		j := x.add(t, "photos.csv", `900064,900063,"https://x.example/ghost.jpg","https://x.example/ghost-t.jpg"`)
		c.issues = []issue{{"related.csv", n, "rejected", "orphan"}, {"related.csv", n + 1, "rejected", "orphan"},
			{"skus.csv", m, "rejected", "orphan"}, {"styles.csv", k, "rejected", "orphan"}, {"photos.csv", j, "rejected", "orphan"}}
	}, code: 0})
	add(&exportCase{name: "self-reference and duplicate pair (kept)", mutate: func(t *testing.T, x *export, c *exportCase) {
		x.add(t, "related.csv", fmt.Sprintf(`900070,%d,%d`, x.prod, x.prod), fmt.Sprintf(`900071,%d,%d`, x.prod, x.prod2), fmt.Sprintf(`900072,%d,%d`, x.prod, x.prod2))
	}, code: 0, good: map[string]int64{"related.csv": 3}, check: func(t *testing.T, p *pgxpool.Pool) {
		wantDoc(t, p, "related", prod, fmt.Sprintf(`%d,%d,%d]`, prod, prod2, prod2))
	}})
	add(&exportCase{name: "duplicate size and feature (kept)", mutate: func(t *testing.T, x *export, c *exportCase) {
		x.add(t, "skus.csv", fmt.Sprintf(`900080,%d,"XL",1`, x.style), fmt.Sprintf(`900081,%d,"XL",2`, x.style))
		x.add(t, "features.csv", fmt.Sprintf(`900082,%d,"Dup","v"`, x.prod), fmt.Sprintf(`900083,%d,"Dup","v"`, x.prod))
	}, code: 0, good: map[string]int64{"skus.csv": 2, "features.csv": 2}, check: func(t *testing.T, p *pgxpool.Pool) {
		wantDoc(t, p, "styles", prod, `"900080":{"quantity":1,"size":"XL"}`, `"900081":{"quantity":2,"size":"XL"}`)
		wantDoc(t, p, "product", prod, `{"feature":"Dup","value":"v"},{"feature":"Dup","value":"v"}`)
	}})

	// --- whole files (a load that fails and changes nothing) ---
	add(&exportCase{name: "truncated skus.csv (30%, mid-line)", mutate: func(t *testing.T, x *export, c *exportCase) { truncate(t, x, "skus.csv", 0.3) },
		code: 1, msg: []string{"skus", "rows against", "--max-shrink"}})
	add(&exportCase{name: "truncated skus.csv, --max-shrink 1", mutate: func(t *testing.T, x *export, c *exportCase) { truncate(t, x, "skus.csv", 0.3) },
		extra: []string{"--max-shrink", "1"}, code: 0})
	add(&exportCase{name: "restore the whole export", mutate: func(*testing.T, *export, *exportCase) {}, code: 0})
	add(&exportCase{name: "truncated product.csv (40%)", mutate: func(t *testing.T, x *export, c *exportCase) { truncate(t, x, "product.csv", 0.4) },
		code: 1, msg: []string{"lines rejected", "rejects.csv"}})
	add(&exportCase{name: "emptied export (headers only)", mutate: func(t *testing.T, x *export, c *exportCase) {
		for _, f := range csvFiles {
			b := x.read(t, f)
			x.write(t, f, b[:bytes.IndexByte(b, '\n')+1])
		}
	}, code: 1, msg: []string{"rows against", "--max-shrink"}})
	add(&exportCase{name: "wrong header", mutate: func(t *testing.T, x *export, c *exportCase) {
		b := x.read(t, "styles.csv")
		x.write(t, "styles.csv", bytes.Replace(b, []byte("productId"), []byte("product"), 1))
	}, code: 1, msg: []string{"styles.csv", "missing column", `"productId"`}})
	add(&exportCase{name: "binary file", mutate: func(t *testing.T, x *export, c *exportCase) {
		rnd := rand.New(rand.NewPCG(1, 2))
		b := make([]byte, 64<<10)
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		x.write(t, "product.csv", b)
	}, code: 1, msg: []string{"product.csv", "line 1", "not UTF-8"}})
	add(&exportCase{name: "empty file", mutate: func(t *testing.T, x *export, c *exportCase) { x.write(t, "skus.csv", nil) },
		code: 1, msg: []string{"skus.csv", "empty file"}})
	add(&exportCase{name: "not UTF-8 (Latin-1 names)", mutate: func(t *testing.T, x *export, c *exportCase) {
		lines := strings.SplitAfter(string(x.read(t, "product.csv")), "\n")
		for i := 1; i < len(lines); i += 10 {
			lines[i] = strings.Replace(lines[i], `,"`, ",\"Caf\xe9 ", 1)
		}
		x.write(t, "product.csv", []byte(strings.Join(lines, "")))
	}, code: 1, msg: []string{"product.csv", "lines rejected"}})
	add(&exportCase{name: "not UTF-8 (UTF-16 file)", mutate: func(t *testing.T, x *export, c *exportCase) {
		u := utf16.Encode([]rune("\ufeff" + string(x.read(t, "product.csv"))))
		b := make([]byte, 0, 2*len(u))
		for _, c := range u {
			b = append(b, byte(c), byte(c>>8))
		}
		x.write(t, "product.csv", b)
	}, code: 1, msg: []string{"product.csv", "line 1", "not UTF-8"}})
	add(&exportCase{name: "missing file", mutate: func(t *testing.T, x *export, c *exportCase) {
		if err := os.Remove(x.path("related.csv")); err != nil {
			t.Fatal(err)
		}
	}, code: 1, msg: []string{"related.csv", "missing input file"}})

	for i, c := range cases {
		x := &export{dir: filepath.Join(t.TempDir(), strconv.Itoa(i)), style: style, prod: prod, prod2: prod2}
		copyDir(t, base, x.dir)
		c.mutate(t, x, c)
		liveBefore := liveBuild(t, p)
		printBefore := fingerprint(t, p)
		res, issues, sum := e.loadCase(t, db, x.dir, c.extra)
		liveAfter := liveBuild(t, p)
		schemas, building := debris(t, p)
		if res.code != c.code {
			t.Errorf("%s: exit %d, want %d: %s", c.name, res.code, c.code, res.message())
			continue
		}
		if len(schemas) > 0 || building > 0 {
			t.Errorf("%s: debris: schemas %v, %d building", c.name, schemas, building)
		}
		var detail string
		if c.code != 0 {
			// Nothing changed, and the message says why.
			if liveAfter != liveBefore || fingerprint(t, p) != printBefore {
				t.Errorf("%s: the failed load changed the live build (%d -> %d)", c.name, liveBefore, liveAfter)
			}
			for _, m := range c.msg {
				if !strings.Contains(res.message(), m) {
					t.Errorf("%s: message %q lacks %q", c.name, res.message(), m)
				}
			}
			detail = fmt.Sprintf("live build %d unchanged; message: %s", liveAfter, clip(strings.TrimPrefix(res.message(), "elier-etl: load failed, the live build is unchanged: "), 200))
		} else {
			// The new build is live; the reject files hold the base's
			// issues and exactly the case's; every other line is loaded.
			if liveAfter == liveBefore {
				t.Errorf("%s: no new build", c.name)
			}
			added := diffIssues(baseline, issues)
			if c.extra == nil && c.name != "restore the whole export" {
				if !slices.Equal(added, sortIssues(c.issues)) {
					t.Errorf("%s: reject files added %v, want %v", c.name, added, c.issues)
				}
				for f, n := range sum {
					if got, want := n.Loaded-baseSum[f].Loaded, c.good[f]; got != want {
						t.Errorf("%s: %s loaded %d more lines than the base export, want %d", c.name, f, got, want)
					}
					if n.Read != n.Loaded+n.Rejected {
						t.Errorf("%s: %s read %d, loaded %d, rejected %d", c.name, f, n.Read, n.Loaded, n.Rejected)
					}
				}
			}
			if c.check != nil {
				c.check(t, p)
			}
			var s []string
			for _, is := range added {
				s = append(s, is.String())
			}
			detail = fmt.Sprintf("build %d live; reject lines: %s", liveAfter, strings.Join(s, ", "))
			if len(s) == 0 {
				detail = fmt.Sprintf("build %d live; no reject line beyond the base's", liveAfter)
			}
			if c.extra != nil {
				detail = fmt.Sprintf("build %d live (%s); skus %d -> %d", liveAfter, strings.Join(c.extra, " "), baseSum["skus.csv"].Loaded, sum["skus.csv"].Loaded)
			}
		}
		e.reportf("bad_exports", "%s: exit %d; %s", c.name, res.code, detail)
	}
}

// fileSummary is one file's line of --summary-json.
type fileSummary struct {
	File     string `json:"file"`
	Read     int64  `json:"read"`
	Loaded   int64  `json:"loaded"`
	Repaired int64  `json:"repaired"`
	Rejected int64  `json:"rejected"`
}

// loadCase loads dir and returns the result, the reject files' issues and
// the summary's per-file figures.
func (e *env) loadCase(t *testing.T, db, dir string, extra []string) (etlResult, []issue, map[string]fileSummary) {
	t.Helper()
	rejects := t.TempDir()
	sumPath := filepath.Join(t.TempDir(), "summary.json")
	args := append([]string{"load", "--database-url", asRole(t, db, "elier_owner"), "--reject-dir", rejects, "--progress", "none", "--summary-json", sumPath}, extra...)
	r := e.etl(t, 5*time.Minute, append(args, dir)...)
	var issues []issue
	for _, f := range csvFiles {
		b, err := os.ReadFile(filepath.Join(rejects, f+".rejects.csv"))
		if err != nil {
			continue
		}
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatalf("%s.rejects.csv: %v", f, err)
		}
		for _, rec := range recs[1:] {
			issues = append(issues, issue{file: rec[0], line: atoi(t, rec[1]), outcome: rec[2], reason: rec[3]})
		}
	}
	sum := map[string]fileSummary{}
	if b, err := os.ReadFile(sumPath); err == nil {
		var s struct {
			Files []fileSummary `json:"files"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Files {
			sum[f.File] = f
		}
	}
	return r, issues, sum
}

// diffIssues returns the issues of got that base does not hold, in order.
func diffIssues(base, got []issue) []issue {
	seen := map[issue]bool{}
	for _, i := range base {
		seen[i] = true
	}
	var out []issue
	for _, i := range got {
		if !seen[i] {
			out = append(out, i)
		}
	}
	return sortIssues(out)
}

// sortIssues orders issues by file (in load order) and line.
func sortIssues(is []issue) []issue {
	slices.SortFunc(is, func(a, b issue) int {
		if a.file != b.file {
			return slices.Index(csvFiles, a.file) - slices.Index(csvFiles, b.file)
		}
		return a.line - b.line
	})
	return is
}

// fingerprint sums the live build's documents.
func fingerprint(t *testing.T, p *pgxpool.Pool) string {
	t.Helper()
	var n int64
	var sum string
	err := p.QueryRow(context.Background(), `SELECT count(*), coalesce(md5(string_agg(md5(product || styles || related), '' ORDER BY id)), '')
		FROM elier.docs`).Scan(&n, &sum)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%s", n, sum)
}

// wantDoc checks that product id's document (product, styles or related)
// of the live build holds each of parts.
func wantDoc(t *testing.T, p *pgxpool.Pool, doc string, id int, parts ...string) {
	t.Helper()
	var raw []byte
	if err := p.QueryRow(context.Background(), "SELECT "+doc+" FROM elier.docs WHERE id = $1", id).Scan(&raw); err != nil {
		t.Fatalf("%s of product %d: %v", doc, id, err)
	}
	body := string(storedBody(t, p, raw))
	for _, part := range parts {
		if !strings.Contains(body, part) {
			t.Errorf("%s of product %d lacks %s: %.300s", doc, id, part, body)
		}
	}
}

func wantNotDoc(t *testing.T, p *pgxpool.Pool, doc string, id int, part string) {
	t.Helper()
	var raw []byte
	if err := p.QueryRow(context.Background(), "SELECT "+doc+" FROM elier.docs WHERE id = $1", id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	body := string(storedBody(t, p, raw))
	if strings.Contains(body, part) {
		t.Errorf("%s of product %d holds %s", doc, id, part)
	}
}

func truncate(t *testing.T, x *export, f string, frac float64) {
	t.Helper()
	b := x.read(t, f)
	cut := int(float64(len(b)) * frac)
	if b[cut-1] == '\n' {
		cut += 3 // mid-line
	}
	x.write(t, f, b[:cut])
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range csvFiles {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// clip shortens a message for the report.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
