package loader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// headers are the real export's header lines.
var headers = map[Table]string{
	Products: "id,name,slogan,description,category,default_price",
	Features: "id,product_id,feature,value",
	Styles:   "id,productId,name,sale_price,original_price,default_style",
	Skus:     "id,styleId,size,quantity",
	Photos:   "id,styleId,url,thumbnail_url",
	Related:  "id,current_product_id,related_product_id",
}

// formatRow renders a row compactly for comparisons: fields in struct order
// separated by "|", NULL for nulls, prices with two decimals.
func formatRow(row any) string {
	switch r := row.(type) {
	case *Product:
		return fmt.Sprintf("%d|%s|%s|%s|%s|%s", r.ID, r.Name, r.Slogan, r.Description, r.Category, r.DefaultPrice)
	case *Feature:
		v := string(r.Value)
		if r.ValueNull {
			v = "NULL"
		}
		return fmt.Sprintf("%d|%d|%s|%s", r.ID, r.ProductID, r.Feature, v)
	case *Style:
		sale := r.SalePrice.String()
		if r.SaleNull {
			sale = "NULL"
		}
		return fmt.Sprintf("%d|%d|%s|%s|%s|%t", r.ID, r.ProductID, r.Name, sale, r.OriginalPrice, r.Default)
	case *Sku:
		return fmt.Sprintf("%d|%d|%s|%d", r.ID, r.StyleID, r.Size, r.Quantity)
	case *Photo:
		return fmt.Sprintf("%d|%d|%s|%s", r.ID, r.StyleID, r.URL, r.ThumbnailURL)
	case *RelatedProduct:
		return fmt.Sprintf("%d|%d|%d", r.ID, r.ProductID, r.RelatedID)
	}
	panic(fmt.Sprintf("formatRow: %T", row))
}

// rowID returns a row's own id.
func rowID(row any) int32 {
	switch r := row.(type) {
	case *Product:
		return r.ID
	case *Feature:
		return r.ID
	case *Style:
		return r.ID
	case *Sku:
		return r.ID
	case *Photo:
		return r.ID
	case *RelatedProduct:
		return r.ID
	}
	panic(fmt.Sprintf("rowID: %T", row))
}

// scanned is everything a Scanner returned for one input.
type scanned struct {
	rows     []string // formatRow of each row
	ids      []int32
	lines    []int64  // Line of each row
	ends     []int64  // EndLine of each row
	raws     []string // Raw of each row
	issues   []string // "L<line> <reason>", "L<line> repaired <reason>"
	all      []Issue
	lastLine int64 // Lines() at the end
	bytes    int64 // BytesRead() at the end
}

func scanAll[T Row](t testing.TB, input string) scanned {
	t.Helper()
	s, err := NewScanner[T](strings.NewReader(input), "test.csv")
	if err != nil {
		t.Fatalf("NewScanner: %v", err)
	}
	return drain(t, s)
}

func drain[T Row](t testing.TB, s *Scanner[T]) scanned {
	t.Helper()
	var out scanned
	take := func() {
		for _, is := range s.Issues() {
			k := fmt.Sprintf("L%d %s", is.Line, is.Reason)
			if is.Repaired {
				k = fmt.Sprintf("L%d repaired %s", is.Line, is.Reason)
			}
			out.issues = append(out.issues, k)
			out.all = append(out.all, is)
		}
	}
	for s.Scan() {
		take()
		out.rows = append(out.rows, formatRow(s.Row()))
		out.ids = append(out.ids, rowID(s.Row()))
		out.lines = append(out.lines, s.Line())
		out.ends = append(out.ends, s.EndLine())
		out.raws = append(out.raws, string(s.Raw()))
	}
	take()
	if err := s.Err(); err != nil {
		t.Fatalf("Err: %v", err)
	}
	out.lastLine, out.bytes = s.Lines(), s.BytesRead()
	return out
}

func scanTable(t testing.TB, table Table, input string) scanned {
	t.Helper()
	switch table {
	case Products:
		return scanAll[Product](t, input)
	case Features:
		return scanAll[Feature](t, input)
	case Styles:
		return scanAll[Style](t, input)
	case Skus:
		return scanAll[Sku](t, input)
	case Photos:
		return scanAll[Photo](t, input)
	case Related:
		return scanAll[RelatedProduct](t, input)
	}
	t.Fatalf("table %v", table)
	return scanned{}
}

func TestTableNames(t *testing.T) {
	var files, names []string
	for _, tb := range Tables {
		files = append(files, tb.File())
		names = append(names, tb.String())
	}
	if got, want := strings.Join(files, " "), "product.csv features.csv styles.csv skus.csv photos.csv related.csv"; got != want {
		t.Errorf("files = %q, want %q", got, want)
	}
	if got, want := strings.Join(names, " "), "products features styles skus photos related"; got != want {
		t.Errorf("names = %q, want %q", got, want)
	}
	if got := Table(9).String(); got != "Table(9)" {
		t.Errorf("Table(9) = %q", got)
	}
}

func TestParseCents(t *testing.T) {
	tests := []struct {
		in   string
		want Cents
		ok   bool
	}{
		{"140", 14000, true},
		{"49.5", 4950, true},
		{"100.00", 10000, true},
		{"0", 0, true},
		{"0.01", 1, true},
		{".5", 50, true},
		{"5.", 500, true},
		{" 12.30\t", 1230, true},
		{"007", 700, true},
		{"21474836.47", 2147483647, true},
		{"21474836.48", 2147483648, true}, // past 32-bit cents: still a price
		{"9999999999.99", MaxCents, true},
		{"9999999999.990", 0, false},
		{"10000000000", 0, false},
		{"10000000000.00", 0, false},
		{"99999999999", 0, false},
		{"99999999999999999999999999", 0, false},
		{"", 0, false},
		{".", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1.234", 0, false},
		{"1.000", 0, false},
		{"1e3", 0, false},
		{"1,5", 0, false},
		{"1.5.", 0, false},
		{"abc", 0, false},
		{"null", 0, false},
		{"1 2", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCents([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCents(%q) = %d, %t; want %d, %t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCentsText(t *testing.T) {
	tests := []struct {
		c    Cents
		want string
	}{
		{14000, "140.00"}, {4950, "49.50"}, {1, "0.01"}, {0, "0.00"}, {10, "0.10"}, {MaxCents, "9999999999.99"}, {2147483648, "21474836.48"}, {-150, "-1.50"},
	}
	for _, tt := range tests {
		if got := string(tt.c.AppendText([]byte("x"))); got != "x"+tt.want {
			t.Errorf("%d.AppendText = %q, want %q", tt.c, got, "x"+tt.want)
		}
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestParseInts(t *testing.T) {
	tests := []struct {
		in          string
		id, ref, qt bool // accepted by parseID, parseRef, parseUint31
		want        int32
	}{
		{"1", true, true, true, 1},
		{"2147483647", true, true, true, 2147483647},
		{"2147483648", false, false, false, 0},
		{"99999999999999999999", false, false, false, 0},
		{"0", false, true, true, 0},
		{"000", false, true, true, 0},
		{"0012", true, true, true, 12},
		{" 12 ", true, true, true, 12},
		{"\t7", true, true, true, 7},
		{"-1", false, false, false, 0},
		{"+1", false, false, false, 0},
		{"1.0", false, false, false, 0},
		{"1 2", false, false, false, 0},
		{"abc", false, false, false, 0},
		{"", false, false, false, 0},
		{"null", false, false, false, 0},
		{"١", false, false, false, 0}, // Arabic-Indic one
	}
	for _, tt := range tests {
		for _, p := range []struct {
			name string
			fn   func([]byte) (int32, bool)
			ok   bool
		}{{"parseID", parseID, tt.id}, {"parseRef", parseRef, tt.ref}, {"parseUint31", parseUint31, tt.qt}} {
			got, ok := p.fn([]byte(tt.in))
			if ok != p.ok || ok && got != tt.want {
				t.Errorf("%s(%q) = %d, %t; want ok %t (%d)", p.name, tt.in, got, ok, p.ok, tt.want)
			}
		}
	}
}

func TestParseBool(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"1", true, false}, {"0", false, false}, {"true", true, false}, {"TRUE", true, false}, {"True", true, false},
		{"false", false, false}, {"FaLsE", false, false}, {" 1 ", true, false},
		{"", false, true}, {"2", false, true}, {"yes", false, true}, {"no", false, true}, {"t", false, true},
		{"truex", false, true}, {"null", false, true}, {"10", false, true},
	}
	for _, tt := range tests {
		got, ok := parseBool([]byte(tt.in))
		if ok == tt.wantErr || ok && got != tt.want {
			t.Errorf("parseBool(%q) = %t, %t; want %t, ok %t", tt.in, got, ok, tt.want, !tt.wantErr)
		}
	}
}

func TestNewScannerHeader(t *testing.T) {
	const row = "\n1,2,\"XS\",8\n"
	tests := []struct {
		name  string
		input string
		want  string // the one sku row, or "" when an error is wanted
		err   error
		msg   []string // substrings of the error
	}{
		{"real", "id,styleId,size,quantity" + row, "1|2|XS|8", nil, nil},
		{"BOM", "\uFEFFid,styleId,size,quantity" + row, "1|2|XS|8", nil, nil},
		{"BOM and quotes", "\uFEFF\"id\",\"styleId\",\"size\",\"quantity\"" + row, "1|2|XS|8", nil, nil},
		{"snake case", "id,style_id,size,quantity" + row, "1|2|XS|8", nil, nil},
		{"upper case and spaces", " ID , STYLE_ID,Size ,QUANTITY" + row, "1|2|XS|8", nil, nil},
		{"CRLF", "id,styleId,size,quantity\r\n1,2,\"XS\",8\r\n", "1|2|XS|8", nil, nil},
		{"blank lines first", "\n\r\n\nid,styleId,size,quantity" + row, "1|2|XS|8", nil, nil},
		{"permuted", "quantity,size,id,styleId\n8,\"XS\",1,2\n", "1|2|XS|8", nil, nil},
		{"extra columns", "campus,id,styleId,size,quantity,created_at\nhr-rfe,1,2,\"XS\",8,2021\n", "1|2|XS|8", nil, nil},
		{"duplicate column: first wins", "id,styleId,size,quantity,id\n1,2,\"XS\",8,9\n", "1|2|XS|8", nil, nil},
		{"missing column", "id,size,quantity" + row, "", ErrMissingColumn, []string{"test.csv", `"styleId"`}},
		{"missing columns", "id,size" + row, "", ErrMissingColumn, []string{"test.csv", `"styleId"`, `"quantity"`}},
		{"empty file", "", "", ErrEmptyFile, []string{"test.csv"}},
		{"blank lines only", "\n\r\n\n", "", ErrEmptyFile, []string{"test.csv"}},
		{"BOM only", "\uFEFF", "", ErrEmptyFile, nil},
		{"unbalanced header", "id,\"styleId,size,quantity" + row, "", ErrBadHeader, []string{"test.csv", "line 1"}},
		{"stray quote in header", "id,sty\"leId,size,quantity" + row, "", ErrBadHeader, nil},
		{"UTF-16 file", "\xff\xfei\x00d\x00,\x00s\x00\n\x00", "", ErrBadHeader, []string{"test.csv", "line 1", "not UTF-8", `\xff\xfei\x00d`}},
		{"binary file", "\x10l\x88\x9a,P\xbc\n", "", ErrBadHeader, []string{"not UTF-8"}},
		{"missing column, header quoted", "id,size,\x01" + row, "", ErrMissingColumn, []string{`(header: "id,size,\x01")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewScanner[Sku](strings.NewReader(tt.input), "test.csv")
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				for _, m := range tt.msg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error %q does not mention %s", err, m)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, s)
			if len(got.rows) != 1 || got.rows[0] != tt.want || len(got.issues) > 0 {
				t.Errorf("rows %q issues %q, want [%s]", got.rows, got.issues, tt.want)
			}
		})
	}
}

func TestHeaderTags(t *testing.T) {
	// Every decoder finds its columns in the real header: a decoder naming a
	// field without a csv tag would panic here.
	for _, tb := range Tables {
		got := scanTable(t, tb, headers[tb]+"\n")
		if len(got.rows)+len(got.issues) != 0 {
			t.Errorf("%v: %v %v", tb, got.rows, got.issues)
		}
	}
}

// scanCase is one input (header excluded) and what scanning it gives.
type scanCase struct {
	name   string
	input  string   // after the header line (line 1)
	rows   []string // formatRow of the rows returned
	issues []string // "L<line> <reason>" or "L<line> repaired <reason>"
	lines  []int64  // Line of each row, when checked
}

func runCases(t *testing.T, table Table, cases []scanCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got := scanTable(t, table, headers[table]+"\n"+tt.input)
			if !slices.Equal(got.rows, tt.rows) {
				t.Errorf("rows:\n got %q\nwant %q", got.rows, tt.rows)
			}
			if !slices.Equal(got.issues, tt.issues) {
				t.Errorf("issues:\n got %q\nwant %q", got.issues, tt.issues)
				for _, is := range got.all {
					t.Logf("  %d %s: %s", is.Line, is.Reason, is.Detail)
				}
			}
			if tt.lines != nil && !slices.Equal(got.lines, tt.lines) {
				t.Errorf("lines = %v, want %v", got.lines, tt.lines)
			}
		})
	}
}

func TestScanProducts(t *testing.T) {
	runCases(t, Products, []scanCase{
		{name: "real row",
			input: `1,"Camo Onesie","Blend in to your crowd","The So Fatigues will wake you up.","Jackets",140` + "\n",
			rows:  []string{"1|Camo Onesie|Blend in to your crowd|The So Fatigues will wake you up.|Jackets|140.00"}},
		{name: "unquoted text, quoted numbers, empty and null texts",
			input: `"2",Sunglasses,,null,"Accessories","69.5"` + "\n",
			rows:  []string{"2|Sunglasses||null|Accessories|69.50"}},
		{name: "commas and doubled quotes",
			input: `3,"Joggers, ""Morning""","a ""b"", c","""","Pants",40` + "\n",
			rows:  []string{`3|Joggers, "Morning"|a "b", c|"|Pants|40.00`}},
		{name: "description over two lines",
			input: "4,\"Slacks\",\"Comfortable\",\"Line one,\nline two.\",\"Pants\",65\n5,\"Heir\",\"A\",\"B\",\"Kicks\",99\n",
			rows:  []string{"4|Slacks|Comfortable|Line one,\nline two.|Pants|65.00", "5|Heir|A|B|Kicks|99.00"},
			lines: []int64{2, 4}},
		{name: "CRLF inside a quoted field becomes LF",
			input: "4,\"S\",\"C\",\"one\r\n\r\nthree\",\"Pants\",65\r\n5,\"H\",\"A\",\"B\",\"Kicks\",99\r\n",
			rows:  []string{"4|S|C|one\n\nthree|Pants|65.00", "5|H|A|B|Kicks|99.00"},
			lines: []int64{2, 5}},
		{name: "bad id, bad prices",
			input:  "x,a,b,c,d,1\n0,a,b,c,d,1\n1,a,b,c,d,-1\n2,a,b,c,d,1.234\n3,a,b,c,d,\n4,a,b,c,d,null\n5,a,b,c,d,1.5\n",
			rows:   []string{"5|a|b|c|d|1.50"},
			issues: []string{"L2 bad_id", "L3 bad_id", "L4 bad_price", "L5 bad_price", "L6 bad_price", "L7 bad_price"}},
		{name: "field count",
			input:  "1,a,b,c,d\n2,a,b,c,d,1,extra\n3,a,b,c,d,1,\n4,a,b,c,d,1\n",
			rows:   []string{"4|a|b|c|d|1.00"},
			issues: []string{"L2 field_count", "L3 field_count", "L4 field_count"}},
	})
}

func TestScanFeatures(t *testing.T) {
	runCases(t, Features, []scanCase{
		{name: "values and nulls",
			input: "1,1,\"Fabric\",\"Canvas\"\n4,2,\"UV Protection\",null\n5,2,a,NULL\n6,2,a,Null\n7,2,a,\n8,2,a,\"null\"\n9,2,a,\"\"\n10,2,a,nullx\n11,2,a, null\n",
			rows: []string{"1|1|Fabric|Canvas", "4|2|UV Protection|NULL", "5|2|a|NULL", "6|2|a|NULL", "7|2|a|NULL",
				"8|2|a|null", "9|2|a|", "10|2|a|nullx", "11|2|a| null"}},
		{name: "feature name null is text",
			input: "1,1,null,x\n2,1,,x\n",
			rows:  []string{"1|1|null|x", "2|1||x"}},
		{name: "product reference 0 is well-formed, negative is not",
			input:  "1,0,a,b\n2,-1,a,b\n3,abc,a,b\n0,1,a,b\n",
			rows:   []string{"1|0|a|b"},
			issues: []string{"L3 bad_id", "L4 bad_id", "L5 bad_id"}},
	})
}

func TestScanStyles(t *testing.T) {
	runCases(t, Styles, []scanCase{
		{name: "real rows",
			input: "1,1,\"Forest Green & Black\",null,140,1\n3,1,\"Ocean Blue & Grey\",100,140,0\n",
			rows:  []string{"1|1|Forest Green & Black|NULL|140.00|true", "3|1|Ocean Blue & Grey|100.00|140.00|false"}},
		{name: "sale price null forms",
			input: "1,1,a,NULL,1,1\n2,1,a,,1,1\n3,1,a,0,1,1\n4,1,a,0.00,1,1\n5,1,a,\"\",1,1\n6,1,a,\"0\",1,1\n7,1,a,.5,1,1\n",
			rows: []string{"1|1|a|NULL|1.00|true", "2|1|a|NULL|1.00|true", "3|1|a|NULL|1.00|true", "4|1|a|NULL|1.00|true",
				"5|1|a|NULL|1.00|true", "6|1|a|NULL|1.00|true", "7|1|a|0.50|1.00|true"}},
		{name: "quoted null sale price is text, so not a price",
			input:  "1,1,a,\"null\",1,1\n",
			issues: []string{"L2 bad_price"}},
		{name: "default_style",
			input:  "1,1,a,null,1,true\n2,1,a,null,1,FALSE\n3,1,a,null,1,\"1\"\n4,1,a,null,1,yes\n5,1,a,null,1,\n6,1,a,null,1,2\n",
			rows:   []string{"1|1|a|NULL|1.00|true", "2|1|a|NULL|1.00|false", "3|1|a|NULL|1.00|true"},
			issues: []string{"L5 bad_bool", "L6 bad_bool", "L7 bad_bool"}},
		{name: "prices",
			input:  "1,1,a,-1,1,1\n2,1,a,1,-1,1\n3,1,a,1,null,1\n4,1,a,1,,1\n5,1,a,1.001,1,1\n6,1,a,\"100.00\",\"140\",0\n",
			rows:   []string{"6|1|a|100.00|140.00|false"},
			issues: []string{"L2 bad_price", "L3 bad_price", "L4 bad_price", "L5 bad_price", "L6 bad_price"}},
		{name: "name null is text",
			input: "1,1,null,null,1,1\n",
			rows:  []string{"1|1|null|NULL|1.00|true"}},
	})
}

func TestScanSkus(t *testing.T) {
	runCases(t, Skus, []scanCase{
		{name: "real rows, file order kept",
			input: "1,1,\"XS\",8\n8,2,\"XS\",8\n7,2,\"S\",16\n",
			rows:  []string{"1|1|XS|8", "8|2|XS|8", "7|2|S|16"}},
		{name: "contract example",
			input:  "12,abc,\"XS\",8\n13,1,\"XS\",8\n",
			rows:   []string{"13|1|XS|8"},
			issues: []string{"L2 bad_id"}},
		{name: "quantities",
			input:  "1,1,XS,0\n2,1,XS,2147483647\n3,1,XS,2147483648\n4,1,XS,-1\n5,1,XS,\n6,1,XS,null\n7,1,XS,1.0\n",
			rows:   []string{"1|1|XS|0", "2|1|XS|2147483647"},
			issues: []string{"L4 bad_quantity", "L5 bad_quantity", "L6 bad_quantity", "L7 bad_quantity", "L8 bad_quantity"}},
		{name: "ids",
			input:  "0,1,XS,1\n2147483648,1,XS,1\n2147483647,1,XS,1\n1,2147483648,XS,1\n2,0,XS,1\n",
			rows:   []string{"2147483647|1|XS|1", "2|0|XS|1"},
			issues: []string{"L2 bad_id", "L3 bad_id", "L5 bad_id"}},
		{name: "repeated id and size are the COPY side's business",
			input: "40,1,XL,1\n40,1,XL,2\n",
			rows:  []string{"40|1|XL|1", "40|1|XL|2"}},
		{name: "empty and null size are text",
			input: "1,1,,1\n2,1,null,1\n",
			rows:  []string{"1|1||1", "2|1|null|1"}},
	})
}

func TestScanPhotos(t *testing.T) {
	runCases(t, Photos, []scanCase{
		{name: "contract example: repaired, next line kept",
			input: "1,1,\"https://1.jpg\",\"https://1t.jpg\"\n2,1,u,t\n3,1,u,t\n4,1,u,t\n5,1,u,t\n6,1,u,t\n" +
				"7,2,\"https://a.jpg\",\"https://b.jpg\n9,2,\"https://c.jpg\",\"https://d.jpg\"\n",
			rows: []string{"1|1|https://1.jpg|https://1t.jpg", "2|1|u|t", "3|1|u|t", "4|1|u|t", "5|1|u|t", "6|1|u|t",
				"7|2|https://a.jpg|https://b.jpg", "9|2|https://c.jpg|https://d.jpg"},
			issues: []string{"L8 repaired missing_closing_quote"},
			lines:  []int64{2, 3, 4, 5, 6, 7, 8, 9}},
		{name: "missing quotes on consecutive lines",
			input:  "7,2,\"a\",\"b\n8,2,\"c\",\"d\n9,2,\"e\",\"f\"\n",
			rows:   []string{"7|2|a|b", "8|2|c|d", "9|2|e|f"},
			issues: []string{"L2 repaired missing_closing_quote", "L3 repaired missing_closing_quote"}},
		{name: "missing quote on the last line, no line end",
			input:  "7,2,\"a\",\"b\"\n8,2,\"c\",\"d",
			rows:   []string{"7|2|a|b", "8|2|c|d"},
			issues: []string{"L3 repaired missing_closing_quote"}},
		{name: "missing quote before unquoted lines",
			input:  "7,2,\"a\",\"b\n8,2,c,d\n9,2,e,f\n",
			rows:   []string{"7|2|a|b", "8|2|c|d", "9|2|e|f"},
			issues: []string{"L2 repaired missing_closing_quote"}},
		{name: "unrepairable: repair gives the wrong count",
			input:  "7,2,\"a,b\n8,2,c,d\n",
			rows:   []string{"8|2|c|d"},
			issues: []string{"L2 unbalanced_quotes"}},
		{name: "unrepairable: repair gives a bad id",
			input:  "x,2,\"a\",\"b\n8,2,c,d\n",
			rows:   []string{"8|2|c|d"},
			issues: []string{"L2 unbalanced_quotes"}},
		{name: "text after a closing quote",
			input:  "7,2,\"a,\"b\"\n8,2,\"c\"x,d\n9,2,\"e\" ,f\n10,2,g,h\n",
			rows:   []string{"10|2|g|h"},
			issues: []string{"L2 bad_quote", "L3 bad_quote", "L4 bad_quote"}},
		{name: "quote inside an unquoted field",
			input:  "7,2,a\"b,c\n8,2,c,d\"\n9,2,c,d\n",
			rows:   []string{"9|2|c|d"},
			issues: []string{"L2 bad_quote", "L3 bad_quote"}},
		{name: "a legitimate multi-line field is preferred to the repair",
			input: "7,2,\"a\",\"b\nc\"\n9,2,e,f\n",
			rows:  []string{"7|2|a|b\nc", "9|2|e|f"},
			lines: []int64{2, 4}},
		{name: "a multi-line candidate that does not decode is not taken",
			input:  "7,2,\"a\",\"b\nc\",x\n9,2,e,f\n",
			rows:   []string{"7|2|a|b", "9|2|e|f"},
			issues: []string{"L2 repaired missing_closing_quote", "L3 bad_quote"}},
		{name: "a line that is a row on its own is never swallowed",
			input:  "7,2,\"a\",\"b\n8,2,c,d\n9,2,e,f\"\n10,2,g,h\n",
			rows:   []string{"7|2|a|b", "8|2|c|d", "10|2|g|h"},
			issues: []string{"L2 repaired missing_closing_quote", "L4 bad_quote"}},
		{name: "continuation lines that are not rows are taken",
			input: "7,2,\"a\",\"b\n8,2\nc,d\"\n10,2,g,h\n",
			rows:  []string{"7|2|a|b\n8,2\nc,d", "10|2|g|h"},
			lines: []int64{2, 5}},
		{name: "broken line followed by a legitimate multi-line record",
			input:  "7,2,\"a\",\"b\n8,2,\"c\",\"d\ne\"\n9,2,f,g\n",
			rows:   []string{"7|2|a|b", "8|2|c|d\ne", "9|2|f|g"},
			issues: []string{"L2 repaired missing_closing_quote"},
			lines:  []int64{2, 3, 5}},
		{name: "blank lines are skipped and counted",
			input: "\n1,1,u,t\n\r\n\n2,1,u,t\n\n",
			rows:  []string{"1|1|u|t", "2|1|u|t"},
			lines: []int64{3, 6}},
		{name: "invalid UTF-8 and NUL",
			input:  "1,1,\"u\xff\",t\n2,1,u,\"t\x00\"\n3,1,\"\xc3\",t\n4,1,\"é\",t\n5,1,u,t\xed\xa0\x80\n",
			rows:   []string{"4|1|é|t"},
			issues: []string{"L2 invalid_utf8", "L3 invalid_utf8", "L4 invalid_utf8", "L6 invalid_utf8"}},
		{name: "invalid UTF-8 on a broken line",
			input:  "1,1,\"u\xff\",\"t\n2,1,u,t\n",
			rows:   []string{"2|1|u|t"},
			issues: []string{"L2 invalid_utf8"}},
		{name: "field count",
			input:  "1,1,u\n2,1,u,t,x\n3,1,\"u,t\"\n4,1,u,t\n",
			rows:   []string{"4|1|u|t"},
			issues: []string{"L2 field_count", "L3 field_count", "L4 field_count"}},
	})
}

func TestScanRelated(t *testing.T) {
	runCases(t, Related, []scanCase{
		{name: "self-references, repeated pairs and 0 are rows",
			input: "1,1,2\n2,4,4\n3,5,6\n4,5,6\n5,1,0\n",
			rows:  []string{"1|1|2", "2|4|4", "3|5|6", "4|5|6", "5|1|0"}},
		{name: "bad ids",
			input:  "1,1,-2\n2,x,4\n0,1,2\n4,1,2147483648\n5,1,2\n",
			rows:   []string{"5|1|2"},
			issues: []string{"L2 bad_id", "L3 bad_id", "L4 bad_id", "L5 bad_id"}},
	})
}

func TestMultiLineLimits(t *testing.T) {
	body := func(n int, line string) string { return strings.Repeat(line+"\n", n) }
	runCases(t, Products, []scanCase{
		{name: "16 extra lines: one record",
			input: "1,a,b,\"x\n" + body(15, "more") + "end\",c,1\n2,a,b,c,d,2\n",
			rows:  []string{"1|a|b|x\n" + body(15, "more") + "end|c|1.00", "2|a|b|c|d|2.00"},
			lines: []int64{2, 19}},
		{name: "17 extra lines: the first line is rejected, the rest read on their own",
			input:  "1,a,b,\"x\n" + body(16, "more") + "end\",c,1\n2,a,b,c,d,2\n",
			rows:   []string{"2|a|b|c|d|2.00"},
			issues: append(append([]string{"L2 unbalanced_quotes"}, seqIssues(3, 18, "field_count")...), "L19 bad_quote")},
		{name: "64 KiB: one record",
			input: "1,a,b,\"x\n" + strings.Repeat("y", MaxExtraBytes-len("\n\nend\",c,1")) + "\nend\",c,1\n",
			rows:  []string{"1|a|b|x\n" + strings.Repeat("y", MaxExtraBytes-len("\n\nend\",c,1")) + "\nend|c|1.00"}},
		{name: "over 64 KiB: not one record",
			input:  "1,a,b,\"x\n" + strings.Repeat("y", MaxExtraBytes) + "\nend\",c,1\n",
			issues: []string{"L2 unbalanced_quotes", "L3 field_count", "L4 bad_quote"}},
	})
}

func seqIssues(from, to int, reason string) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("L%d %s", i, reason))
	}
	return out
}

func TestLineTooLong(t *testing.T) {
	long := strings.Repeat("garbage,\"", 600_000) // 5.4 MB, unbalanced quotes too
	input := headers[Skus] + "\n1,1,XS,1\n" + long + "\n2,1,XS,2\n3,1,\"XS\",\"3\n" + long + "\n4,1,XS,4\n" + long
	got := scanTable(t, Skus, input)
	if want := []string{"1|1|XS|1", "2|1|XS|2", "3|1|XS|3", "4|1|XS|4"}; !slices.Equal(got.rows, want) {
		t.Errorf("rows = %q, want %q", got.rows, want)
	}
	want := []string{"L3 line_too_long", "L5 repaired missing_closing_quote", "L6 line_too_long", "L8 line_too_long"}
	if !slices.Equal(got.issues, want) {
		t.Errorf("issues = %q, want %q", got.issues, want)
	}
	for _, is := range got.all {
		if is.Reason == ReasonLineTooLong && (len(is.Raw) != maxRawBytes || !bytes.HasPrefix([]byte(long), is.Raw)) {
			t.Errorf("line %d: Raw of %d bytes, want the first %d", is.Line, len(is.Raw), maxRawBytes)
		}
	}
	if got.lastLine != 8 || got.bytes != int64(len(input)) {
		t.Errorf("Lines, BytesRead = %d, %d; want 8, %d", got.lastLine, got.bytes, len(input))
	}

	// The longest line accepted.
	name := strings.Repeat("n", MaxLineBytes-len("1,1,,1\n"))
	got = scanTable(t, Skus, headers[Skus]+"\n1,1,"+name+",1\n"+"1,1,x"+name+",1\n")
	if len(got.rows) != 1 || !slices.Equal(got.issues, []string{"L3 line_too_long"}) {
		t.Errorf("at the limit: %d rows, issues %q", len(got.rows), got.issues)
	}
}

func TestRowPosition(t *testing.T) {
	input := headers[Products] + "\r\n\r\n1,a,b,\"c\r\nd\",e,1\r\nx,a,b,c,d,1\r\n2,a,b,c,d,\"1\r\n3,a,b,c,d,1"
	got := scanTable(t, Products, input)
	if want := []int64{3, 6, 7}; !slices.Equal(got.lines, want) {
		t.Errorf("lines = %v, want %v", got.lines, want)
	}
	if want := []int64{4, 6, 7}; !slices.Equal(got.ends, want) {
		t.Errorf("end lines = %v, want %v", got.ends, want)
	}
	if want := []string{"1,a,b,\"c\nd\",e,1", "2,a,b,c,d,\"1", "3,a,b,c,d,1"}; !slices.Equal(got.raws, want) {
		t.Errorf("raws = %q, want %q", got.raws, want)
	}
	if want := []string{"L5 bad_id", "L6 repaired missing_closing_quote"}; !slices.Equal(got.issues, want) {
		t.Errorf("issues = %q, want %q", got.issues, want)
	}
	if got.all[0].Detail != `column "id": "x" is not an id (an integer 1..2147483647)` || string(got.all[0].Raw) != "x,a,b,c,d,1" {
		t.Errorf("issue = %+v", got.all[0])
	}
	if got.lastLine != 7 || got.bytes != int64(len(input)) {
		t.Errorf("Lines, BytesRead = %d, %d; want 7, %d", got.lastLine, got.bytes, len(input))
	}
}

func TestIssueRawIsOwned(t *testing.T) {
	s, err := NewScanner[Sku](strings.NewReader(headers[Skus]+"\nx,1,a,1\n1,1,a,1\ny,1,a,1\n2,1,a,1\n"), "skus.csv")
	if err != nil {
		t.Fatal(err)
	}
	var kept []Issue
	for s.Scan() {
		kept = append(kept, s.Issues()...)
	}
	if len(kept) != 2 || string(kept[0].Raw) != "x,1,a,1" || string(kept[1].Raw) != "y,1,a,1" {
		t.Errorf("issues = %+v", kept)
	}
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	s, err := NewScanner[Sku](&errReader{data: []byte(headers[Skus] + "\n1,1,a,1\n2,1,\"a"), err: boom}, "skus.csv")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for s.Scan() {
		n++
	}
	if n != 1 || !errors.Is(s.Err(), boom) || !strings.Contains(s.Err().Error(), "skus.csv") {
		t.Errorf("rows %d, Err %v", n, s.Err())
	}
	if _, err := NewScanner[Sku](&errReader{err: boom}, "skus.csv"); !errors.Is(err, boom) {
		t.Errorf("header read error = %v", err)
	}
}

// fixtureDir is the repository's copy of the real export's first rows
// (testdata/atelier-sample, from shared/fixtures).
func fixtureDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "atelier-sample")
	if _, err := os.Stat(filepath.Join(dir, "product.csv")); err != nil {
		t.Fatalf("the atelier-sample fixtures are missing (want them at %s): %v", dir, err)
	}
	return dir
}

func scanFile(t testing.TB, table Table, path string) scanned {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return scanTable(t, table, string(b))
}

func TestAtelierSample(t *testing.T) {
	dir := fixtureDir(t)
	want := map[Table][]string{
		Products: {"1|Camo Onesie|Blend in to your crowd|The So Fatigues will wake you up and fit you in. This high energy camo will have you blending in to even the wildest surroundings.|Jackets|140.00"},
		Features: {"1|1|Fabric|Canvas", "2|1|Buttons|Brass", "3|2|Lenses|Ultrasheen", "4|2|UV Protection|NULL", "5|2|Frames|LightCompose",
			"6|3|Fabric|100% Cotton", "7|3|Cut|Skinny", "8|4|Fabric|99% Cotton 1% Elastic", "9|4|Cut|Loose"},
		Styles: {"1|1|Forest Green & Black|NULL|140.00|true", "2|1|Desert Brown & Tan|NULL|140.00|false",
			"3|1|Ocean Blue & Grey|100.00|140.00|false", "4|1|Digital Red & Black|NULL|140.00|false",
			"5|1|Sky Blue & White|100.00|140.00|false", "6|1|Dark Grey & Black|NULL|170.00|false",
			"7|2|Black Lenses & Black Frame|NULL|69.00|false", "8|2|Black Lenses & Gold Frame|NULL|69.00|true",
			"9|2|Gold Lenses & Black Frame|NULL|69.00|false"},
		Skus:    {"1|1|XS|8", "2|1|S|16", "3|1|M|17", "4|1|L|10", "5|1|XL|15", "6|1|XL|4", "8|2|XS|8", "7|2|S|16", "9|2|M|17"},
		Related: {"1|1|2", "2|1|3", "3|1|8", "4|1|7", "5|2|3", "6|2|7", "7|2|6", "8|2|5", "9|3|5"},
	}
	for _, tb := range Tables {
		t.Run(tb.String(), func(t *testing.T) {
			got := scanFile(t, tb, filepath.Join(dir, tb.File()))
			if len(got.issues) != 0 {
				t.Errorf("issues: %q", got.issues)
			}
			if len(got.rows) != 9 || !slices.Equal(got.lines, []int64{2, 3, 4, 5, 6, 7, 8, 9, 10}) {
				t.Errorf("%d rows at lines %v, want 9 at 2..10", len(got.rows), got.lines)
			}
			w := want[tb]
			if tb == Products {
				got.rows = got.rows[:1]
			}
			if w != nil && !slices.Equal(got.rows, w) {
				t.Errorf("rows:\n got %q\nwant %q", got.rows, w)
			}
		})
	}
	photos := scanFile(t, Photos, filepath.Join(dir, "photos.csv"))
	if want := []int32{1, 2, 3, 4, 5, 6, 8, 7, 9}; !slices.Equal(photos.ids, want) {
		t.Errorf("photo ids = %v, want %v (file order)", photos.ids, want)
	}
	if want := "7|2|https://images.unsplash.com/photo-1560567546-4c6dbc16877b?ixlib=rb-1.2.1&ixid=eyJhcHBfaWQiOjEyMDd9&auto=format&fit=crop&w=668&q=80|https://images.unsplash.com/photo-1560567546-4c6dbc16877b?ixlib=rb-1.2.1&ixid=eyJhcHBfaWQiOjEyMDd9&auto=format&fit=crop&w=300&q=80"; photos.rows[7] != want {
		t.Errorf("photo 7 = %q", photos.rows[7])
	}
}

// The dirty corpus: testdata/dirty holds one file per table, an export
// directory of its own, whose lines interleave good rows with every defect
// of the contract's table; expect.json says what becomes of each line, both
// from the Scanner and after the COPY side's duplicate and orphan checks.

type dirtyExpect struct {
	Files map[string]dirtyFile `json:"files"`
}

type dirtyFile struct {
	Lines int64       `json:"lines"` // physical lines, header included
	Scan  dirtyResult `json:"scan"`
	// Checked is the outcome after the duplicate-id and orphan checks of the
	// COPY side: rows are checked in file order, a child against its parents'
	// loaded ids, the orphan check before the duplicate one (an orphan's id
	// is not taken).
	Checked dirtyResult `json:"checked"`
}

type dirtyResult struct {
	Rows   []dirtyRow   `json:"rows"`   // loaded, in file order
	Issues []dirtyIssue `json:"issues"` // in line order
}

type dirtyRow struct {
	ID   int32 `json:"id"`
	Line int64 `json:"line"`
}

type dirtyIssue struct {
	Line     int64  `json:"line"`
	Reason   string `json:"reason"`
	Repaired bool   `json:"repaired,omitempty"`
}

func TestDirtyCorpus(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "dirty", "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp dirtyExpect
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&exp); err != nil {
		t.Fatalf("expect.json: %v", err)
	}
	if len(exp.Files) != len(Tables) {
		t.Errorf("expect.json describes %d files, want %d", len(exp.Files), len(Tables))
	}
	parents := map[Table]map[int32]bool{} // loaded ids after the checks
	reasons := map[string]bool{}
	for _, tb := range Tables {
		want, ok := exp.Files[tb.File()]
		if !ok {
			t.Errorf("expect.json: no %s", tb.File())
			continue
		}
		path := filepath.Join("testdata", "dirty", tb.File())
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, refs := scanDirty(t, tb, raw)
		var scan dirtyResult
		for i := range got.ids {
			scan.Rows = append(scan.Rows, dirtyRow{got.ids[i], got.lines[i]})
		}
		for _, is := range got.all {
			scan.Issues = append(scan.Issues, dirtyIssue{is.Line, is.Reason, is.Repaired})
			reasons[is.Reason] = true
		}
		compareDirty(t, tb.File()+" scan", scan, want.Scan)
		if got.lastLine != want.Lines || got.bytes != int64(len(raw)) {
			t.Errorf("%s: Lines, BytesRead = %d, %d; want %d, %d", tb.File(), got.lastLine, got.bytes, want.Lines, len(raw))
		}

		// The COPY side's checks, as Load does them.
		var checked dirtyResult
		seen := map[int32]bool{}
		rejected := map[int64]string{}
		for i, id := range got.ids {
			orphan := false
			for _, r := range refs[i] {
				if !parents[r.table][r.id] {
					orphan = true
				}
			}
			switch {
			case orphan:
				rejected[got.lines[i]] = "orphan"
			case seen[id]:
				rejected[got.lines[i]] = "duplicate_id"
			default:
				seen[id] = true
				checked.Rows = append(checked.Rows, dirtyRow{id, got.lines[i]})
			}
		}
		for _, is := range scan.Issues {
			if !is.Repaired {
				rejected[is.Line] = is.Reason
			}
		}
		lines := make([]int64, 0, len(rejected))
		for l := range rejected {
			lines = append(lines, l)
		}
		slices.Sort(lines)
		for _, l := range lines {
			checked.Issues = append(checked.Issues, dirtyIssue{Line: l, Reason: rejected[l]})
			reasons[rejected[l]] = true
		}
		compareDirty(t, tb.File()+" checked", checked, want.Checked)
		parents[tb] = seen
	}
	// The corpus covers every per-line defect.
	for _, r := range []string{ReasonFieldCount, ReasonBadQuote, ReasonUnbalancedQuotes, ReasonInvalidUTF8, ReasonBadID,
		ReasonBadQuantity, ReasonBadPrice, ReasonBadBool, ReasonMissingClosingQuote, "duplicate_id", "orphan"} {
		if !reasons[r] {
			t.Errorf("the dirty corpus has no %s line", r)
		}
	}
}

func compareDirty(t *testing.T, what string, got, want dirtyResult) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

type ref struct {
	table Table
	id    int32
}

// scanDirty scans one corpus file and notes each row's references.
func scanDirty(t *testing.T, tb Table, raw []byte) (scanned, [][]ref) {
	var refs [][]ref
	var got scanned
	collect := func(s interface {
		Scan() bool
		Issues() []Issue
		Line() int64
		Lines() int64
		BytesRead() int64
		Err() error
	}, row func() (int32, []ref)) {
		for {
			more := s.Scan()
			got.all = append(got.all, s.Issues()...)
			if !more {
				break
			}
			id, r := row()
			got.ids = append(got.ids, id)
			got.lines = append(got.lines, s.Line())
			refs = append(refs, r)
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		got.lastLine, got.bytes = s.Lines(), s.BytesRead()
	}
	open := func() io.Reader { return bytes.NewReader(raw) }
	must := func(err error) {
		if err != nil {
			t.Fatalf("%s: %v", tb.File(), err)
		}
	}
	switch tb {
	case Products:
		s, err := NewScanner[Product](open(), tb.File())
		must(err)
		collect(s, func() (int32, []ref) { return s.Row().ID, nil })
	case Features:
		s, err := NewScanner[Feature](open(), tb.File())
		must(err)
		collect(s, func() (int32, []ref) { return s.Row().ID, []ref{{Products, s.Row().ProductID}} })
	case Styles:
		s, err := NewScanner[Style](open(), tb.File())
		must(err)
		collect(s, func() (int32, []ref) { return s.Row().ID, []ref{{Products, s.Row().ProductID}} })
	case Skus:
		s, err := NewScanner[Sku](open(), tb.File())
		must(err)
		collect(s, func() (int32, []ref) { return s.Row().ID, []ref{{Styles, s.Row().StyleID}} })
	case Photos:
		s, err := NewScanner[Photo](open(), tb.File())
		must(err)
		collect(s, func() (int32, []ref) { return s.Row().ID, []ref{{Styles, s.Row().StyleID}} })
	case Related:
		s, err := NewScanner[RelatedProduct](open(), tb.File())
		must(err)
		collect(s, func() (int32, []ref) {
			return s.Row().ID, []ref{{Products, s.Row().ProductID}, {Products, s.Row().RelatedID}}
		})
	}
	return got, refs
}

func TestScanAllocs(t *testing.T) {
	if a := allocsPerRow[Sku](t, genData(Skus, 10_000)); a > 0 {
		t.Errorf("skus: %.2f allocations per row", a)
	}
	if a := allocsPerRow[Photo](t, genData(Photos, 10_000)); a > 0 {
		t.Errorf("photos: %.2f allocations per row", a)
	}
	// Doubled quotes are unescaped into a reused buffer.
	if a := allocsPerRow[Product](t, bytes.Repeat([]byte("1,\"a \"\"b\"\"\",c,\"d\"\"\",e,1\n"), 10_000)); a > 0 {
		t.Errorf("products: %.2f allocations per row", a)
	}
}

func allocsPerRow[T Row](t *testing.T, data []byte) float64 {
	t.Helper()
	var tb Table
	switch any(*new(T)).(type) {
	case Product:
		tb = Products
		data = append([]byte(headers[Products]+"\n"), data...)
	case Sku:
		tb = Skus
	case Photo:
		tb = Photos
	}
	s, err := NewScanner[T](bytes.NewReader(data), tb.File())
	if err != nil {
		t.Fatal(err)
	}
	s.Scan() // warm up
	return testing.AllocsPerRun(5000, func() {
		if !s.Scan() || len(s.Issues()) > 0 {
			t.Fatal("no row")
		}
	})
}
