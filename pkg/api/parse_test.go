package api

import (
	"strconv"
	"testing"
)

// refParseID is the reference: ASCII digits only, then strconv.
func refParseID(s string) (int32, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 {
		return 0, false
	}
	return int32(n), true
}

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int32
		ok   bool
	}{
		{"1", 1, true},
		{"17067", 17067, true},
		{"2147483647", 2147483647, true},
		{"0002147483647", 2147483647, true},
		{"007", 7, true},
		{"2147483648", 0, false},
		{"9999999999", 0, false},
		{"99999999999999999999999999", 0, false},
		{"0", 0, false},
		{"000", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1a", 0, false},
		{"0x1", 0, false},
		{"1_000", 0, false},
		{"١", 0, false}, // Arabic-Indic digit one
	} {
		got, ok := parseID([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseID(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "2147483647", "2147483648", "0", "-1", "+1", " 1", "007", "", "4294967297"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseID([]byte(s))
		want, wantOK := refParseID(s)
		if got != want || ok != wantOK {
			t.Fatalf("parseID(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, wantOK)
		}
	})
}

func TestParsePageCount(t *testing.T) {
	for _, tc := range []struct {
		page, count       string
		hasPage, hasCount bool
		p, c              int32
		err               *apiError
	}{
		{"", "", false, false, 1, 5, nil},
		{"3", "", true, false, 3, 5, nil},
		{"", "1000", false, true, 1, 1000, nil},
		{"2147483647", "1000", true, true, 2147483647, 1000, nil},
		{"", "", true, false, 0, 0, errBadPage},
		{"0", "5", true, true, 0, 0, errBadPage},
		{"1", "0", true, true, 0, 0, errBadCount},
		{"1", "1001", true, true, 0, 0, errBadCount},
		{"x", "1001", true, true, 0, 0, errBadPage},
		{"1", "", true, true, 0, 0, errBadCount},
	} {
		p, c, err := parsePageCount([]byte(tc.page), []byte(tc.count), tc.hasPage, tc.hasCount)
		if p != tc.p || c != tc.c || err != tc.err {
			t.Errorf("parsePageCount(%q, %q, %v, %v) = %d, %d, %v", tc.page, tc.count, tc.hasPage, tc.hasCount, p, c, err)
		}
	}
}

func FuzzParsePageCount(f *testing.F) {
	f.Add("1", "5", true, true)
	f.Add("", "", false, false)
	f.Add("2147483647", "1000", true, true)
	f.Add("1", "1001", true, true)
	f.Add("0", "0", true, true)
	f.Fuzz(func(t *testing.T, page, count string, hasPage, hasCount bool) {
		p, c, err := parsePageCount([]byte(page), []byte(count), hasPage, hasCount)
		wantP, wantC := int32(1), int32(5)
		var wantErr *apiError
		if hasPage {
			v, ok := refParseID(page)
			if !ok {
				wantErr = errBadPage
			}
			wantP = v
		}
		if hasCount && wantErr == nil {
			v, ok := refParseID(count)
			if !ok || v > 1000 {
				wantErr = errBadCount
			}
			wantC = v
		}
		if wantErr != nil {
			wantP, wantC = 0, 0
		}
		if p != wantP || c != wantC || err != wantErr {
			t.Fatalf("parsePageCount(%q, %q, %v, %v) = %d, %d, %v; want %d, %d, %v",
				page, count, hasPage, hasCount, p, c, err, wantP, wantC, wantErr)
		}
		if err == nil {
			// The page's positions fit in int64 whatever the values.
			if last := int64(p) * int64(c); last < 1 || last > 2147483647*1000 {
				t.Fatalf("last position %d", last)
			}
		}
	})
}
