package loader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Table identifies one input file.
type Table int

// The six input files, in load order (parents before children).
const (
	Products Table = iota
	Features
	Styles
	Skus
	Photos
	Related
)

// Tables lists every Table in load order.
var Tables = [...]Table{Products, Features, Styles, Skus, Photos, Related}

var tableFiles = [...]string{"product.csv", "features.csv", "styles.csv", "skus.csv", "photos.csv", "related.csv"}
var tableNames = [...]string{"products", "features", "styles", "skus", "photos", "related"}

// File returns the table's file name in the export directory.
func (t Table) File() string {
	if t < 0 || int(t) >= len(tableFiles) {
		return "Table(" + strconv.Itoa(int(t)) + ")"
	}
	return tableFiles[t]
}

// String returns the table's name, as used in logs and summaries.
func (t Table) String() string {
	if t < 0 || int(t) >= len(tableNames) {
		return "Table(" + strconv.Itoa(int(t)) + ")"
	}
	return tableNames[t]
}

// Row types, one per file. The csv tags are the one description of each
// file's columns (the header names of the real export; the header mapping
// reads them by reflection, once per Scanner). Byte-slice fields alias the
// Scanner's buffers and are valid until its next Scan.

// Product is a row of product.csv.
type Product struct {
	ID           int32  `csv:"id"`
	Name         []byte `csv:"name"`
	Slogan       []byte `csv:"slogan"`
	Description  []byte `csv:"description"`
	Category     []byte `csv:"category"`
	DefaultPrice Cents  `csv:"default_price"`
}

// Feature is a row of features.csv. Value is NULL (ValueNull, Value nil)
// when the field is empty or the unquoted word null.
type Feature struct {
	ID        int32  `csv:"id"`
	ProductID int32  `csv:"product_id"`
	Feature   []byte `csv:"feature"`
	Value     []byte `csv:"value"`
	ValueNull bool   `csv:"-"`
}

// Style is a row of styles.csv. SalePrice is NULL (SaleNull, SalePrice 0)
// when the field is empty, the unquoted word null, or zero: no sale.
type Style struct {
	ID            int32  `csv:"id"`
	ProductID     int32  `csv:"productId"`
	Name          []byte `csv:"name"`
	SalePrice     Cents  `csv:"sale_price"`
	SaleNull      bool   `csv:"-"`
	OriginalPrice Cents  `csv:"original_price"`
	Default       bool   `csv:"default_style"`
}

// Sku is a row of skus.csv.
type Sku struct {
	ID       int32  `csv:"id"`
	StyleID  int32  `csv:"styleId"`
	Size     []byte `csv:"size"`
	Quantity int32  `csv:"quantity"`
}

// Photo is a row of photos.csv.
type Photo struct {
	ID           int32  `csv:"id"`
	StyleID      int32  `csv:"styleId"`
	URL          []byte `csv:"url"`
	ThumbnailURL []byte `csv:"thumbnail_url"`
}

// RelatedProduct is a row of related.csv: product ProductID lists product
// RelatedID as related. Self-references and repeated pairs are valid rows:
// the reference API returned them. (The Table for this file is Related.)
type RelatedProduct struct {
	ID        int32 `csv:"id"`
	ProductID int32 `csv:"current_product_id"`
	RelatedID int32 `csv:"related_product_id"`
}

// Row is the set of row types a Scanner decodes.
type Row interface {
	Product | Feature | Style | Sku | Photo | RelatedProduct
}

// Cents is a price in hundredths: "140" is 14000, "49.5" is 4950.
type Cents int64

// MaxCents is the highest price accepted: 9,999,999,999.99, the largest
// numeric(12,2), in 64-bit cents (the staging columns are bigint). The
// contract bounds prices only by "non-negative with two decimals"; this is
// far above any catalogue price and far below int64's range, so parsing
// cannot overflow.
const MaxCents Cents = 999_999_999_999

// AppendText appends the price with two decimals ("140.00") to b.
func (c Cents) AppendText(b []byte) []byte {
	u := uint64(c)
	if c < 0 {
		b = append(b, '-')
		u = uint64(-c)
	}
	b = strconv.AppendUint(b, u/100, 10)
	f := u % 100
	return append(b, '.', byte('0'+f/10), byte('0'+f%10))
}

// String returns the price with two decimals ("140.00").
func (c Cents) String() string { return string(c.AppendText(nil)) }

// Issue reasons. They are stable identifiers: the reject files and the
// end-of-run summary count by them.
const (
	// Rejections of one physical line.
	ReasonFieldCount       = "field_count"       // not as many fields as the header
	ReasonBadQuote         = "bad_quote"         // a quote inside an unquoted field, or text after a closing quote
	ReasonUnbalancedQuotes = "unbalanced_quotes" // ends inside a quoted field; neither a multi-line record nor repairable
	ReasonInvalidUTF8      = "invalid_utf8"      // invalid UTF-8 or a NUL byte anywhere in the line
	ReasonLineTooLong      = "line_too_long"     // longer than MaxLineBytes
	ReasonBadID            = "bad_id"            // an id not in 1..2147483647, or a reference not in 0..2147483647
	ReasonBadQuantity      = "bad_quantity"      // a quantity that is not 0..2147483647
	ReasonBadPrice         = "bad_price"         // not a non-negative decimal with at most 2 fraction digits, or over MaxCents
	ReasonBadBool          = "bad_bool"          // default_style not 1, 0, true or false

	// Repairs: the row was loaded.
	ReasonMissingClosingQuote = "missing_closing_quote" // a closing quote added at the end of the line
)

// Issue is a rejected or repaired line.
type Issue struct {
	Line     int64  // 1-based physical line number where the record starts (the header is line 1)
	Repaired bool   // true: the row was repaired and loaded; false: rejected
	Reason   string // one of the Reason constants
	Detail   string // for people, e.g. `column "styleId": "abc" is not a positive 32-bit integer`
	Raw      []byte // the line's text without its line end; owned by the Issue
}

// Header errors of NewScanner. The returned error wraps one of them and
// names the file (and column).
var (
	ErrEmptyFile     = errors.New("empty file: no header line")
	ErrMissingColumn = errors.New("missing column")
	ErrBadHeader     = errors.New("malformed header line")
)

// Scanner reads one file's rows: it maps the header, splits records, checks
// and decodes them, and sets aside as Issues the lines it rejects or
// repairs. Every physical line is accounted for: it is blank, the header,
// part of exactly one row returned by Scan (lines Line..EndLine), or the
// Line of exactly one rejected Issue.
//
// Issues are delivered by Issues: after each call to Scan, true or false,
// the caller drains the issues met during that call. They are in line
// order; a repaired row's Issue comes with the row itself (same Line).
//
// T is one of the Row types (NewScanner enforces it). A Scanner is not safe
// for concurrent use.
type Scanner[T any] struct {
	file   string
	lr     *lineReader
	rec    record
	names  []string // header names as written, for details
	nf     int      // header field count
	decode func(*T, []field) (col int, f fault)

	row     T
	raw     []byte // the current row's text
	line    int64
	endLine int64
	lines   int64 // last physical line consumed

	issues []Issue
	first  []byte // the line being resolved, when it ends inside a quote
	join   []byte // the record being tried: lines joined, or repaired
}

// NewScanner reads and maps the header of one file; file names it in
// errors. Header names match the row type's csv tags after trimming spaces
// and a UTF-8 byte-order mark, ignoring case and underscores (productId is
// product_id); columns may come in any order and extra ones are ignored.
// Blank lines before the header are skipped.
func NewScanner[T Row](r io.Reader, file string) (*Scanner[T], error) {
	s := &Scanner[T]{file: file, lr: newLineReader(r)}
	var hdr physLine
	for {
		ln, ok := s.lr.next()
		if !ok {
			if s.lr.err != nil {
				return nil, fmt.Errorf("%s: reading header: %w", file, s.lr.err)
			}
			return nil, fmt.Errorf("%s: %w", file, ErrEmptyFile)
		}
		s.lines = ln.num
		if ln.tooLong {
			return nil, fmt.Errorf("%s: line %d: %w: longer than %d bytes", file, ln.num, ErrBadHeader, MaxLineBytes)
		}
		ln.text = trimBOM(ln.text)
		if len(ln.text) > 0 {
			hdr = ln
			break
		}
	}
	// A UTF-16 or binary file would otherwise be reported as missing
	// every column, with its raw bytes in the message.
	if !utf8.Valid(hdr.text) || bytes.IndexByte(hdr.text, 0) >= 0 {
		return nil, fmt.Errorf("%s: line %d: %w: not UTF-8 text: %q", file, hdr.num, ErrBadHeader, clip(hdr.text))
	}
	if st := s.rec.split(hdr.text); st != splitOK {
		return nil, fmt.Errorf("%s: line %d: %w: %q", file, hdr.num, ErrBadHeader, clip(hdr.text))
	}
	s.nf = len(s.rec.f)
	s.names = make([]string, s.nf)
	for i, f := range s.rec.f {
		s.names[i] = string(f.b)
	}
	cols, err := mapHeader(reflect.TypeFor[T](), s.names)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var dec any
	switch any(s.row).(type) {
	case Product:
		dec = productDecoder(cols)
	case Feature:
		dec = featureDecoder(cols)
	case Style:
		dec = styleDecoder(cols)
	case Sku:
		dec = skuDecoder(cols)
	case Photo:
		dec = photoDecoder(cols)
	case RelatedProduct:
		dec = relatedDecoder(cols)
	}
	s.decode = dec.(func(*T, []field) (int, fault))
	return s, nil
}

// Scan advances to the next valid or repaired row. It returns false at the
// end of the input or on a read error (see Err). Rejected lines on the way
// are reported by Issues.
func (s *Scanner[T]) Scan() bool {
	s.issues = s.issues[:0]
	for {
		ln, ok := s.lr.next()
		if !ok {
			return false
		}
		s.lines = ln.num
		if ln.tooLong {
			s.reject(ln.num, ReasonLineTooLong, fmt.Sprintf("line of %d bytes, over the %d-byte limit (Raw holds its start)", ln.size, MaxLineBytes), ln.text)
			continue
		}
		if len(ln.text) == 0 {
			continue
		}
		if at := checkText(ln.text); at >= 0 {
			s.reject(ln.num, ReasonInvalidUTF8, textDetail(ln.text, at), ln.text)
			continue
		}
		switch s.rec.split(ln.text) {
		case splitOK:
			if col, f := s.check(); f != faultNone {
				s.reject(ln.num, faults[f].reason, s.detail(col, f), ln.text)
				continue
			}
			s.line, s.endLine, s.raw = ln.num, ln.num, ln.text
			return true
		case splitBadQuote:
			s.reject(ln.num, ReasonBadQuote, fmt.Sprintf("stray quote at byte %d", s.rec.badAt+1), ln.text)
		case splitOpenQuote:
			if s.resolve(ln) {
				return true
			}
			if s.lr.err != nil {
				return false
			}
		}
	}
}

// check verifies the field count of the split record and decodes it into
// s.row. It returns the failing column and fault, or -1 and faultNone.
func (s *Scanner[T]) check() (col int, f fault) {
	if len(s.rec.f) != s.nf {
		return -1, faultFieldCount
	}
	return s.decode(&s.row, s.rec.f)
}

// resolve handles a line that ends inside a quoted field: a record spanning
// several lines (none of which is a row on its own), else a repair of that
// line alone, else its rejection. It reports whether s.row holds a row to
// return.
func (s *Scanner[T]) resolve(ln physLine) bool {
	s.first = append(s.first[:0], ln.text...) // ln aliases the read buffer
	start := ln.num

	// 1. A quoted field holding line breaks: join the next lines, strictly.
	s.join = append(s.join[:0], s.first...)
	extra := 0
	for k := 0; k < MaxExtraLines; k++ {
		nx := s.lr.peek(k)
		if nx == nil || nx.tooLong || extra+len(nx.text)+1 > MaxExtraBytes || checkText(nx.text) >= 0 {
			break
		}
		// A line that is a row on its own is loaded on its own, never
		// swallowed into the quoted field of a line before it.
		if s.rec.split(nx.text) == splitOK {
			if _, f := s.check(); f == faultNone {
				break
			}
		}
		extra += len(nx.text) + 1
		s.join = append(s.join, '\n')
		s.join = append(s.join, nx.text...)
		if bytes.IndexByte(nx.text, '"') < 0 {
			continue // still inside the quoted field: no need to split again
		}
		st := s.rec.split(s.join)
		if st == splitOpenQuote {
			continue
		}
		if st == splitOK {
			if _, f := s.check(); f == faultNone {
				end := nx.num
				s.lr.drop(k + 1)
				s.lines = end
				s.line, s.endLine, s.raw = start, end, s.join
				return true
			}
		}
		break
	}
	if s.lr.err != nil {
		return false
	}

	// 2. The one missing closing quote, at the end of this line.
	s.join = append(append(s.join[:0], s.first...), '"')
	var why string
	switch s.rec.split(s.join) {
	case splitOK:
		col, f := s.check()
		if f == faultNone {
			s.line, s.endLine, s.raw = start, start, s.first
			s.issues = append(s.issues, Issue{
				Line:     start,
				Repaired: true,
				Reason:   ReasonMissingClosingQuote,
				Detail:   "the line ends inside a quoted field; added the closing quote at its end",
				Raw:      clone(s.first),
			})
			return true
		}
		why = "; with a closing quote added at its end: " + s.detail(col, f)
	default:
		why = "; a closing quote added at its end does not make it parse"
	}

	// 3. Reject this line only; the next line is read on its own.
	s.reject(start, ReasonUnbalancedQuotes, "the line ends inside a quoted field"+why, s.first)
	return false
}

func (s *Scanner[T]) reject(line int64, reason, detail string, raw []byte) {
	s.issues = append(s.issues, Issue{Line: line, Reason: reason, Detail: detail, Raw: clone(raw)})
}

// detail describes a decoding failure of the current record.
func (s *Scanner[T]) detail(col int, f fault) string {
	if f == faultFieldCount {
		return fmt.Sprintf("%d fields, the header has %d", len(s.rec.f), s.nf)
	}
	return fmt.Sprintf("column %q: %q %s", s.names[col], clip(s.rec.f[col].b), faults[f].what)
}

// fault is what makes a well-formed record invalid.
type fault uint8

const (
	faultNone fault = iota
	faultFieldCount
	faultID  // a row's own id
	faultRef // a reference to another row
	faultQuantity
	faultPrice
	faultBool
)

var faults = [...]struct{ reason, what string }{
	faultNone:       {},
	faultFieldCount: {ReasonFieldCount, ""},
	faultID:         {ReasonBadID, "is not an id (an integer 1..2147483647)"},
	faultRef:        {ReasonBadID, "is not an id reference (an integer 0..2147483647)"},
	faultQuantity:   {ReasonBadQuantity, "is not a quantity (an integer 0..2147483647)"},
	faultPrice:      {ReasonBadPrice, "is not a price (a non-negative decimal with at most two fraction digits, at most 21474836.47)"},
	faultBool:       {ReasonBadBool, "is not 1, 0, true or false"},
}

// Row returns the current row. Its byte slices are valid until the next Scan.
func (s *Scanner[T]) Row() *T { return &s.row }

// Raw returns the current row's text without its final line end, valid
// until the next Scan: the physical line, or for a row spanning several
// lines those lines joined by "\n", or for a repaired row the line as read
// (without the added quote).
func (s *Scanner[T]) Raw() []byte { return s.raw }

// Line returns the physical line number where the current row starts.
func (s *Scanner[T]) Line() int64 { return s.line }

// EndLine returns the physical line number where the current row ends:
// Line unless a quoted field held line breaks.
func (s *Scanner[T]) EndLine() int64 { return s.endLine }

// Err returns the first read error, if any. Rejected rows are not errors.
func (s *Scanner[T]) Err() error {
	if s.lr.err != nil {
		return fmt.Errorf("%s: reading after line %d: %w", s.file, s.lines, s.lr.err)
	}
	return nil
}

// Issues returns the lines rejected or repaired during the last call to
// Scan, in line order. The slice is reused by the next Scan; each Issue's
// Raw is its own copy.
func (s *Scanner[T]) Issues() []Issue { return s.issues }

// Lines returns how many physical lines have been consumed so far, header
// and blank lines included; at the end it is the file's line count.
func (s *Scanner[T]) Lines() int64 { return s.lines }

// BytesRead returns how many bytes of input have been read so far (a few
// lines may be read ahead of Lines).
func (s *Scanner[T]) BytesRead() int64 { return s.lr.bytes }

// File returns the file name given to NewScanner.
func (s *Scanner[T]) File() string { return s.file }

// Header mapping.

// columns maps a row type's fields to header positions, by Go field name.
type columns map[string]int

// pos returns the header position of the row type's field name. Decoders
// name only fields that carry a csv tag: a miss is a programming error.
func (c columns) pos(name string) int {
	i, ok := c[name]
	if !ok {
		panic("loader: no csv column for field " + name)
	}
	return i
}

// mapHeader finds each csv-tagged field of t in the header.
func mapHeader(t reflect.Type, header []string) (columns, error) {
	byName := make(map[string]int, len(header))
	for i, h := range header {
		k := normalize(h)
		if _, dup := byName[k]; !dup { // the first of two same-named columns wins
			byName[k] = i
		}
	}
	cols := columns{}
	var missing []string
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("csv"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		p, ok := byName[normalize(tag)]
		if !ok {
			missing = append(missing, strconv.Quote(tag))
			continue
		}
		cols[sf.Name] = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w %s (header: %q)", ErrMissingColumn, strings.Join(missing, ", "), clip([]byte(strings.Join(header, ","))))
	}
	return cols, nil
}

// normalize makes a header name comparable: spaces and a byte-order mark
// trimmed, lower case, underscores dropped.
func normalize(s string) string {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "\uFEFF"))
	return strings.ReplaceAll(strings.ToLower(s), "_", "")
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return b[3:]
	}
	return b
}

// Decoders, one per row type: built once per Scanner with the header
// positions, called once per record. Each returns the failing column and
// reason, or -1 and "".

func productDecoder(c columns) func(*Product, []field) (int, fault) {
	id, name, slogan, desc, cat, price := c.pos("ID"), c.pos("Name"), c.pos("Slogan"), c.pos("Description"), c.pos("Category"), c.pos("DefaultPrice")
	return func(r *Product, f []field) (int, fault) {
		var ok bool
		if r.ID, ok = parseID(f[id].b); !ok {
			return id, faultID
		}
		if r.DefaultPrice, ok = parseCents(f[price].b); !ok {
			return price, faultPrice
		}
		r.Name, r.Slogan, r.Description, r.Category = f[name].b, f[slogan].b, f[desc].b, f[cat].b
		return -1, 0
	}
}

func featureDecoder(c columns) func(*Feature, []field) (int, fault) {
	id, prod, feat, val := c.pos("ID"), c.pos("ProductID"), c.pos("Feature"), c.pos("Value")
	return func(r *Feature, f []field) (int, fault) {
		var ok bool
		if r.ID, ok = parseID(f[id].b); !ok {
			return id, faultID
		}
		if r.ProductID, ok = parseRef(f[prod].b); !ok {
			return prod, faultRef
		}
		r.Feature = f[feat].b
		if isNull(f[val]) {
			r.Value, r.ValueNull = nil, true
		} else {
			r.Value, r.ValueNull = f[val].b, false
		}
		return -1, 0
	}
}

func styleDecoder(c columns) func(*Style, []field) (int, fault) {
	id, prod, name, sale, orig, def := c.pos("ID"), c.pos("ProductID"), c.pos("Name"), c.pos("SalePrice"), c.pos("OriginalPrice"), c.pos("Default")
	return func(r *Style, f []field) (int, fault) {
		var ok bool
		if r.ID, ok = parseID(f[id].b); !ok {
			return id, faultID
		}
		if r.ProductID, ok = parseRef(f[prod].b); !ok {
			return prod, faultRef
		}
		r.Name = f[name].b
		// A quoted empty sale price is no price either; a quoted "null" is
		// text, so not a price.
		if isNull(f[sale]) || len(f[sale].b) == 0 {
			r.SalePrice, r.SaleNull = 0, true
		} else {
			if r.SalePrice, ok = parseCents(f[sale].b); !ok {
				return sale, faultPrice
			}
			r.SaleNull = r.SalePrice == 0
		}
		if r.OriginalPrice, ok = parseCents(f[orig].b); !ok {
			return orig, faultPrice
		}
		if r.Default, ok = parseBool(f[def].b); !ok {
			return def, faultBool
		}
		return -1, 0
	}
}

func skuDecoder(c columns) func(*Sku, []field) (int, fault) {
	id, style, size, qty := c.pos("ID"), c.pos("StyleID"), c.pos("Size"), c.pos("Quantity")
	return func(r *Sku, f []field) (int, fault) {
		var ok bool
		if r.ID, ok = parseID(f[id].b); !ok {
			return id, faultID
		}
		if r.StyleID, ok = parseRef(f[style].b); !ok {
			return style, faultRef
		}
		if r.Quantity, ok = parseUint31(f[qty].b); !ok {
			return qty, faultQuantity
		}
		r.Size = f[size].b
		return -1, 0
	}
}

func photoDecoder(c columns) func(*Photo, []field) (int, fault) {
	id, style, url, thumb := c.pos("ID"), c.pos("StyleID"), c.pos("URL"), c.pos("ThumbnailURL")
	return func(r *Photo, f []field) (int, fault) {
		var ok bool
		if r.ID, ok = parseID(f[id].b); !ok {
			return id, faultID
		}
		if r.StyleID, ok = parseRef(f[style].b); !ok {
			return style, faultRef
		}
		r.URL, r.ThumbnailURL = f[url].b, f[thumb].b
		return -1, 0
	}
}

func relatedDecoder(c columns) func(*RelatedProduct, []field) (int, fault) {
	id, cur, rel := c.pos("ID"), c.pos("ProductID"), c.pos("RelatedID")
	return func(r *RelatedProduct, f []field) (int, fault) {
		var ok bool
		if r.ID, ok = parseID(f[id].b); !ok {
			return id, faultID
		}
		if r.ProductID, ok = parseRef(f[cur].b); !ok {
			return cur, faultRef
		}
		if r.RelatedID, ok = parseRef(f[rel].b); !ok {
			return rel, faultRef
		}
		return -1, 0
	}
}

// Value parsers. Numbers and booleans may be quoted and may carry spaces or
// tabs around them; nothing else is tolerated.

// isNull reports whether f is SQL NULL in a nullable column: unquoted, and
// empty or the word null in any case.
func isNull(f field) bool {
	if f.quoted {
		return false
	}
	b := f.b
	return len(b) == 0 || len(b) == 4 && b[0]|0x20 == 'n' && b[1]|0x20 == 'u' && b[2]|0x20 == 'l' && b[3]|0x20 == 'l'
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseUint31 parses a decimal integer in 0..2147483647 (leading zeros
// allowed). Up to 9 plain digits cannot overflow: the common case.
func parseUint31(b []byte) (int32, bool) {
	if len(b) == 0 || len(b) > 9 {
		return parseUint31Slow(b)
	}
	var n uint32
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return parseUint31Slow(b)
		}
		n = n*10 + uint32(d)
	}
	return int32(n), true
}

func parseUint31Slow(b []byte) (int32, bool) {
	b = trimSpace(b)
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint64(d)
		if n > math.MaxInt32 {
			return 0, false
		}
	}
	return int32(n), true
}

// parseID parses a row's own id: an integer in 1..2147483647.
func parseID(b []byte) (int32, bool) {
	n, ok := parseUint31(b)
	return n, ok && n > 0
}

// parseRef parses a reference to another row's id: an integer in
// 0..2147483647. Zero is well-formed but names no row: the COPY side rejects
// it as an orphan, as the contract classes related_product_id 0.
func parseRef(b []byte) (int32, bool) { return parseUint31(b) }

// parseCents parses a non-negative decimal with at most two fraction
// digits: "140", "49.5", "100.00", ".5" (50) and "5." (500) as PostgreSQL's
// numeric reads them; no sign, exponent or digit grouping; at most MaxCents.
func parseCents(b []byte) (Cents, bool) {
	b = trimSpace(b)
	var whole uint64
	i, digits := 0, 0
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		whole = whole*10 + uint64(b[i]-'0')
		if whole > uint64(MaxCents)/100+1 {
			return 0, false
		}
		digits++
	}
	var frac uint64
	fd := 0
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && b[i]-'0' <= 9; i++ {
			if fd == 2 {
				return 0, false
			}
			frac = frac*10 + uint64(b[i]-'0')
			fd++
		}
	}
	if i != len(b) || digits+fd == 0 {
		return 0, false
	}
	if fd == 1 {
		frac *= 10
	}
	c := whole*100 + frac
	if c > uint64(MaxCents) {
		return 0, false
	}
	return Cents(c), true
}

// parseBool parses default_style: 1, 0, true or false in any case.
func parseBool(b []byte) (v, ok bool) {
	b = trimSpace(b)
	switch len(b) {
	case 1:
		return b[0] == '1', b[0] == '1' || b[0] == '0'
	case 4:
		return true, b[0]|0x20 == 't' && b[1]|0x20 == 'r' && b[2]|0x20 == 'u' && b[3]|0x20 == 'e'
	case 5:
		return false, b[0]|0x20 == 'f' && b[1]|0x20 == 'a' && b[2]|0x20 == 'l' && b[3]|0x20 == 's' && b[4]|0x20 == 'e'
	}
	return false, false
}

func textDetail(b []byte, at int) string {
	if b[at] == 0 {
		return fmt.Sprintf("NUL byte at byte %d", at+1)
	}
	return fmt.Sprintf("invalid UTF-8 at byte %d", at+1)
}

// clip shortens a value quoted in a Detail.
func clip(b []byte) string {
	const n = 80
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
