package loader

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in     string
		status splitStatus
		fields []string // a leading '"' marks a quoted field
	}{
		{"", splitOK, []string{""}},
		{"a", splitOK, []string{"a"}},
		{"a,b,c", splitOK, []string{"a", "b", "c"}},
		{",", splitOK, []string{"", ""}},
		{"a,", splitOK, []string{"a", ""}},
		{`"a"`, splitOK, []string{`"a`}},
		{`""`, splitOK, []string{`"`}},
		{`"",""`, splitOK, []string{`"`, `"`}},
		{`"a,b",c`, splitOK, []string{`"a,b`, "c"}},
		{`"a""b"`, splitOK, []string{`"a"b`}},
		{`""""`, splitOK, []string{`""`}},
		{`"a""","""b","c"`, splitOK, []string{`"a"`, `""b`, `"c`}},
		{"\"a\nb\",c", splitOK, []string{"\"a\nb", "c"}},
		{`1,"140"`, splitOK, []string{"1", `"140`}},
		{`1,"140`, splitOpenQuote, nil},
		{`"`, splitOpenQuote, nil},
		{`"a""`, splitOpenQuote, nil},
		{`a,"b""c`, splitOpenQuote, nil},
		{`a"b`, splitBadQuote, nil},
		{`a,b"`, splitBadQuote, nil},
		{`"a"b`, splitBadQuote, nil},
		{`"a" ,b`, splitBadQuote, nil},
		{`"a"""b"`, splitBadQuote, nil},
		{" \"a\"", splitBadQuote, nil},
		{"a\r,b", splitOK, []string{"a\r", "b"}},
	}
	var r record
	for _, tt := range tests {
		st := r.split([]byte(tt.in))
		if st != tt.status {
			t.Errorf("split(%q) = %d, want %d", tt.in, st, tt.status)
			continue
		}
		if st != splitOK {
			continue
		}
		var got []string
		for _, f := range r.f {
			s := string(f.b)
			if f.quoted {
				s = `"` + s
			}
			got = append(got, s)
		}
		if !reflect.DeepEqual(got, tt.fields) {
			t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.fields)
		}
	}
}

func TestSplitUnescapeKeepsEarlierFields(t *testing.T) {
	// Many escaped fields in one record: growing the scratch buffer must not
	// move fields unescaped before.
	var in []string
	var want []string
	for i := range 200 {
		v := strings.Repeat("x", i) + `"` + strconv.Itoa(i)
		in = append(in, `"`+strings.ReplaceAll(v, `"`, `""`)+`"`)
		want = append(want, v)
	}
	var r record
	if st := r.split([]byte(strings.Join(in, ","))); st != splitOK {
		t.Fatalf("status %d", st)
	}
	for i, f := range r.f {
		if string(f.b) != want[i] {
			t.Fatalf("field %d = %q, want %q", i, f.b, want[i])
		}
	}
}

func TestLineReader(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\n", []string{""}},
		{"a", []string{"a"}},
		{"a\n", []string{"a"}},
		{"a\r\nb\r\n", []string{"a", "b"}},
		{"a\r\nb", []string{"a", "b"}},
		{"a\nb\r", []string{"a", "b"}},
		{"a\r\r\n", []string{"a\r"}},
		{"a\rb\n", []string{"a\rb"}},
		{"\n\r\n\n", []string{"", "", ""}},
	}
	for _, tt := range tests {
		lr := newLineReader(strings.NewReader(tt.in))
		var got []string
		for {
			ln, ok := lr.next()
			if !ok {
				break
			}
			if ln.num != int64(len(got)+1) {
				t.Errorf("%q: line %d numbered %d", tt.in, len(got)+1, ln.num)
			}
			got = append(got, string(ln.text))
		}
		if !reflect.DeepEqual(got, tt.want) || lr.bytes != int64(len(tt.in)) || lr.err != nil {
			t.Errorf("%q: lines %q, bytes %d, err %v; want %q", tt.in, got, lr.bytes, lr.err, tt.want)
		}
	}
}

func TestLineReaderPeek(t *testing.T) {
	lr := newLineReader(strings.NewReader("1\n2\n3\n4\n5"))
	if ln, _ := lr.next(); string(ln.text) != "1" {
		t.Fatalf("next = %q", ln.text)
	}
	if p := lr.peek(2); p == nil || string(p.text) != "4" || p.num != 4 {
		t.Fatalf("peek(2) = %+v", p)
	}
	if p := lr.peek(0); string(p.text) != "2" {
		t.Fatalf("peek(0) = %q", p.text)
	}
	if p := lr.peek(4); p != nil {
		t.Fatalf("peek past the end = %q", p.text)
	}
	lr.drop(1)
	var rest []string
	for {
		ln, ok := lr.next()
		if !ok {
			break
		}
		rest = append(rest, fmt.Sprintf("%d:%s", ln.num, ln.text))
	}
	if want := []string{"3:3", "4:4", "5:5"}; !reflect.DeepEqual(rest, want) {
		t.Errorf("after drop: %q, want %q", rest, want)
	}
}

func TestCheckText(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", -1}, {"abc", -1}, {"é€𝄞", -1}, {"a\x00b", 1}, {"ab\xff", 2}, {"\xc3", 0}, {"ok\xed\xa0\x80", 2},
		{"é\xc3(", 2}, {strings.Repeat("a", 100) + "\xfe", 100},
		{"\xff" + strings.Repeat("a", 40), 0}, {"a\x00" + strings.Repeat("a", 40), 1}, {strings.Repeat("a", 33) + "\x00" + strings.Repeat("a", 9), 33},
		{strings.Repeat("é", 20) + "\x00" + strings.Repeat("a", 9), 40}, {strings.Repeat("é", 20) + "\xe9" + strings.Repeat("a", 9), 40},
		{strings.Repeat("a", 37) + "\xe9", 37}, {strings.Repeat("a", 37) + "é", -1}, {strings.Repeat("a", 39) + "\x00", 39},
	}
	for _, tt := range tests {
		if got := checkText([]byte(tt.in)); got != tt.want {
			t.Errorf("checkText(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestCheckTextMatchesReference(t *testing.T) {
	alphabet := []string{"a", ",", "\x00", "\x7f", "\x80", "\xbf", "\xc3", "\xa9", "é", "\xed\xa0\x80", "€", "\xf0\x9d\x84", "\x9e", "\xff"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		var sb strings.Builder
		for range rng.IntN(60) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		b := []byte(sb.String())
		want := -1
		if bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b) {
			want = 0 // some position
		}
		got := checkText(b)
		if (got < 0) != (want < 0) {
			t.Fatalf("checkText(%q) = %d", b, got)
		}
		if got >= 0 && (b[got] != 0 && utf8.Valid(b[got:got+1]) || bytes.IndexByte(b[:got], 0) >= 0 || !utf8.Valid(b[:got])) {
			t.Fatalf("checkText(%q) = %d: not the first bad byte", b, got)
		}
	}
}

// FuzzScanner checks, for any input read as any of the six files: no panic,
// Scan ends, every non-blank line after the header is part of exactly one
// returned row or is the line of exactly one rejection, row and rejection
// line numbers strictly increase, and where encoding/csv reads the input
// cleanly and the Scanner meets no issue, both give the same records.
func FuzzScanner(f *testing.F) {
	dir := fixtureDir(f)
	for _, tb := range Tables {
		b, err := os.ReadFile(filepath.Join(dir, tb.File()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(tb), b)
		d, err := os.ReadFile(filepath.Join("testdata", "dirty", tb.File()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(tb), d)
	}
	defects := []string{
		"7,2,\"https://a.jpg\",\"https://b.jpg\n9,2,\"https://c.jpg\",\"https://d.jpg\"\n",
		"12,abc,\"XS\",8\n1,1,\"XS\",8",
		"1,1,\"a\nb\",\"c\"\r\n2,1,x,y\r\n",
		"1,1,a\"b,c\n2,1,\"a\"b,c\n\n\n3,1,\"\",\"\"\"\"\n",
		"1,1,\"a\",\"b\n2,1,\"c\",\"d\ne\"\n3,1,f,g",
		"\uFEFFid,styleId,url,thumbnail_url\n1,1,\xff,b\n1,1,\x00,b\n",
		"1,1,\"\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\"\n",
	}
	for _, d := range defects {
		f.Add(uint8(Photos), []byte(headers[Photos]+"\n"+d))
		f.Add(uint8(Skus), []byte(headers[Skus]+"\n"+d))
	}
	f.Fuzz(func(t *testing.T, table uint8, data []byte) {
		switch Table(table % uint8(len(Tables))) {
		case Products:
			fuzzScan[Product](t, data)
		case Features:
			fuzzScan[Feature](t, data)
		case Styles:
			fuzzScan[Style](t, data)
		case Skus:
			fuzzScan[Sku](t, data)
		case Photos:
			fuzzScan[Photo](t, data)
		case Related:
			fuzzScan[RelatedProduct](t, data)
		}
	})
}

func fuzzScan[T Row](t *testing.T, data []byte) {
	s, err := NewScanner[T](bytes.NewReader(data), "fuzz.csv")
	if err != nil {
		if !errors.Is(err, ErrEmptyFile) && !errors.Is(err, ErrMissingColumn) && !errors.Is(err, ErrBadHeader) {
			t.Fatalf("NewScanner: unexpected error %v", err)
		}
		return
	}
	header := s.Lines()

	// The physical lines, as the Scanner sees them.
	phys := bytes.Split(data, []byte("\n"))
	if len(phys[len(phys)-1]) == 0 {
		phys = phys[:len(phys)-1]
	}
	blank := func(n int64) bool {
		l := phys[n-1]
		return len(l) == 0 || len(l) == 1 && l[0] == '\r'
	}
	covered := make([]int, len(phys)+1) // by line number
	var last int64 = header
	mark := func(from, to int64, what string) {
		if from <= last {
			t.Fatalf("%s at line %d after line %d", what, from, last)
		}
		if to < from || to > int64(len(phys)) {
			t.Fatalf("%s spans lines %d..%d of %d", what, from, to, len(phys))
		}
		for l := from; l <= to; l++ {
			covered[l]++
		}
		last = to
	}
	issues := func(rowLine int64) {
		for _, is := range s.Issues() {
			if is.Repaired {
				if is.Line != rowLine {
					t.Fatalf("repair at line %d comes with the row at line %d", is.Line, rowLine)
				}
				continue
			}
			if blank(is.Line) || !bytes.Equal(is.Raw, trimEnd(phys[is.Line-1], is.Reason)) {
				t.Fatalf("issue %+v: line is %q", is, phys[is.Line-1])
			}
			mark(is.Line, is.Line, "issue "+is.Reason)
		}
	}
	type rec struct {
		line   int64
		fields map[string][]byte
	}
	var rows []rec
	clean := true
	for s.Scan() {
		clean = clean && len(s.Issues()) == 0
		issues(s.Line())
		if s.EndLine() < s.Line() {
			t.Fatalf("row at line %d ends at %d", s.Line(), s.EndLine())
		}
		mark(s.Line(), s.EndLine(), "row")
		for l := s.Line() + 1; l <= s.EndLine(); l++ {
			if rowAlone[T](phys[header-1], phys[l-1]) {
				t.Fatalf("line %d (%q), a row on its own, is inside the row at lines %d..%d", l, phys[l-1], s.Line(), s.EndLine())
			}
		}
		rows = append(rows, rec{s.Line(), rowTexts(s.Row())})
	}
	clean = clean && len(s.Issues()) == 0
	issues(s.Line())
	if s.Err() != nil {
		t.Fatalf("Err: %v", s.Err())
	}
	for l := header + 1; l <= int64(len(phys)); l++ {
		if !blank(l) && covered[l] != 1 || blank(l) && covered[l] > 1 {
			t.Fatalf("line %d (%q) accounted for %d times", l, phys[l-1], covered[l])
		}
	}
	if s.Lines() != int64(len(phys)) || s.BytesRead() != int64(len(data)) {
		t.Fatalf("Lines, BytesRead = %d, %d; want %d, %d", s.Lines(), s.BytesRead(), len(phys), len(data))
	}
	if !clean {
		return
	}

	// No issue: encoding/csv must agree, record for record.
	after := data
	for range header {
		if i := bytes.IndexByte(after, '\n'); i >= 0 {
			after = after[i+1:]
		} else {
			after = nil
		}
	}
	cols, err := mapHeader(reflect.TypeFor[T](), s.names)
	if err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(bytes.NewReader(after))
	cr.FieldsPerRecord = -1
	var i int
	for ; ; i++ {
		r, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("no issue, but encoding/csv says %v", err)
		}
		if i >= len(rows) {
			t.Fatalf("encoding/csv reads more records (%q)", r)
		}
		line, _ := cr.FieldPos(0)
		if int64(line)+header != rows[i].line {
			t.Fatalf("record %d: line %d, encoding/csv says %d", i, rows[i].line, int64(line)+header)
		}
		if len(r) != len(s.names) {
			t.Fatalf("record %d: encoding/csv reads %d fields, the header has %d", i, len(r), len(s.names))
		}
		for name, v := range rows[i].fields {
			want := r[cols[name]]
			if v == nil && want != "" && !strings.EqualFold(want, "null") || v != nil && string(v) != want {
				t.Fatalf("record %d: %s = %q, encoding/csv reads %q", i, name, v, want)
			}
		}
	}
	if i != len(rows) {
		t.Fatalf("%d rows, encoding/csv reads %d records", len(rows), i)
	}
}

// rowAlone reports whether line, after header, is a row without issues.
func rowAlone[T Row](header, line []byte) bool {
	s, err := NewScanner[T](bytes.NewReader(append(append(append([]byte{}, header...), '\n'), line...)), "alone.csv")
	if err != nil {
		return false
	}
	return s.Scan() && len(s.Issues()) == 0 && s.EndLine() == s.Line()
}

// trimEnd is the raw text an Issue holds for a physical line.
func trimEnd(l []byte, reason string) []byte {
	l = bytes.TrimSuffix(l, []byte("\r"))
	if reason == ReasonLineTooLong && len(l) > maxRawBytes {
		l = l[:maxRawBytes]
	}
	return l
}

// rowTexts returns a copy of a row's text fields by Go field name, nil for
// NULL.
func rowTexts(row any) map[string][]byte {
	out := map[string][]byte{}
	v := reflect.ValueOf(row).Elem()
	for i := range v.NumField() {
		if b, ok := v.Field(i).Interface().([]byte); ok {
			if b != nil {
				b = append([]byte{}, b...)
			}
			out[v.Type().Field(i).Name] = b
		}
	}
	return out
}

// genData returns a header and n generated rows shaped like the real file.
func genData(tb Table, n int) []byte {
	var b bytes.Buffer
	b.WriteString(headers[tb] + "\n")
	sizes := []string{"XS", "S", "M", "L", "XL", "XXL", "7", "7.5", "8", "8.5", "9", "10", "11", "12", "One Size"}
	for i := 1; i <= n; i++ {
		switch tb {
		case Skus:
			fmt.Fprintf(&b, "%d,%d,\"%s\",%d\n", i, i/6+1, sizes[i%len(sizes)], (i*7)%50)
		case Photos:
			fmt.Fprintf(&b, "%d,%d,\"https://images.unsplash.com/photo-15%08d-%x?ixlib=rb-1.2.1&ixid=eyJhcHBfaWQiOjEyMDd9&auto=format&fit=crop&w=668&q=80\","+
				"\"https://images.unsplash.com/photo-15%08d-%x?ixlib=rb-1.2.1&ixid=eyJhcHBfaWQiOjEyMDd9&auto=format&fit=crop&w=300&q=80\"\n",
				i, i/3+1, i*37, i*7919, i*37, i*7919)
		default:
			panic("genData: " + tb.String())
		}
	}
	return b.Bytes()
}

func benchScan[T Row](b *testing.B, tb Table) {
	data := genData(tb, 200_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		s, err := NewScanner[T](bytes.NewReader(data), tb.File())
		if err != nil {
			b.Fatal(err)
		}
		for s.Scan() {
			rows++
		}
		if len(s.Issues()) > 0 || s.Err() != nil {
			b.Fatal(s.Issues(), s.Err())
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
}

// BenchmarkScanSkus measures the Scanner on skus-shaped rows (allocations
// are per 200,000-row file: the read buffer, not per row).
func BenchmarkScanSkus(b *testing.B) { benchScan[Sku](b, Skus) }

// BenchmarkScanPhotos measures the Scanner on photos-shaped rows (~270 bytes).
func BenchmarkScanPhotos(b *testing.B) { benchScan[Photo](b, Photos) }

// benchEncodingCSV reads the same data with encoding/csv (ReuseRecord) and
// parses the integer columns, the least a loader built on it would do.
func benchEncodingCSV(b *testing.B, tb Table) {
	data := genData(tb, 200_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		r.ReuseRecord = true
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if _, err := strconv.ParseInt(rec[0], 10, 32); err != nil {
				b.Fatal(err)
			}
			if _, err := strconv.ParseInt(rec[1], 10, 32); err != nil {
				b.Fatal(err)
			}
			rows++
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
}

// BenchmarkEncodingCSVSkus is the baseline for BenchmarkScanSkus.
func BenchmarkEncodingCSVSkus(b *testing.B) { benchEncodingCSV(b, Skus) }

// BenchmarkEncodingCSVPhotos is the baseline for BenchmarkScanPhotos.
func BenchmarkEncodingCSVPhotos(b *testing.B) { benchEncodingCSV(b, Photos) }

// splitRef restates record.split's rules as plainly as possible (a byte at
// a time, doubled quotes undone by ReplaceAll): the reference FuzzSplit
// holds record.split, with its short-field loops and scratch buffer, to.
func splitRef(in []byte) (fields []field, st splitStatus, badAt int) {
	i := 0
	for {
		if i < len(in) && in[i] == '"' {
			start, j := i+1, i+1
			for {
				k := bytes.IndexByte(in[j:], '"')
				if k < 0 {
					return nil, splitOpenQuote, 0
				}
				j += k
				if j+1 < len(in) && in[j+1] == '"' {
					j += 2
					continue
				}
				break
			}
			v := bytes.ReplaceAll(in[start:j], []byte(`""`), []byte(`"`))
			fields = append(fields, field{b: v, quoted: true})
			i = j + 1
			if i == len(in) {
				return fields, splitOK, 0
			}
			if in[i] != ',' {
				return nil, splitBadQuote, j
			}
			i++
			continue
		}
		j := i
		for ; j < len(in) && in[j] != ','; j++ {
			if in[j] == '"' {
				return nil, splitBadQuote, j
			}
		}
		fields = append(fields, field{b: in[i:j]})
		if j == len(in) {
			return fields, splitOK, 0
		}
		i = j + 1
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"", ",", "a,b", `"a","b"`, `"a""b",c`, `a"b,c`, `"a"b`, `"open`,
		"12345678901234567,x", "https://example.com/a/very/long/path.jpg,https://example.com/b.jpg",
		`https://example.com/a/very/long/"path.jpg,x`, "1234567890123456,", "1234567890123456", `1234567890123456"`,
		`"https://example.com/quoted/long/url.jpg",https://example.com/unquoted/long/url.jpg"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var r record
		st := r.split(in)
		want, wst, wbad := splitRef(in)
		if st != wst {
			t.Fatalf("split(%q): status %d, want %d", in, st, wst)
		}
		switch st {
		case splitBadQuote:
			if r.badAt != wbad {
				t.Fatalf("split(%q): bad quote at %d, want %d", in, r.badAt, wbad)
			}
		case splitOK:
			if len(r.f) != len(want) {
				t.Fatalf("split(%q): %d fields, want %d", in, len(r.f), len(want))
			}
			for i := range want {
				if !bytes.Equal(r.f[i].b, want[i].b) || r.f[i].quoted != want[i].quoted {
					t.Fatalf("split(%q): field %d %q (quoted %v), want %q (%v)", in, i, r.f[i].b, r.f[i].quoted, want[i].b, want[i].quoted)
				}
			}
		}
	})
}
