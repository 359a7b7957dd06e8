package api

import "math"

// maxCount is the largest page size GET /products serves.
const maxCount = 1000

// parseID parses a product id, page or count: ASCII digits only (no sign,
// no spaces, no '+'), a value from 1 to 2147483647. Leading zeros are
// digits like any other ("007" is 7), as strconv reads them.
func parseID[T ~string | ~[]byte](b T) (int32, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for i := range len(b) {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > math.MaxInt32 {
			return 0, false
		}
	}
	if n == 0 {
		return 0, false
	}
	return int32(n), true
}

// parsePageCount reads GET /products' page and count, each given or not
// (a given but empty value is invalid). Defaults: page 1, count 5.
func parsePageCount(page, count []byte, hasPage, hasCount bool) (p, c int32, err *apiError) {
	p, c = 1, 5
	if hasPage {
		var ok bool
		if p, ok = parseID(page); !ok {
			return 0, 0, errBadPage
		}
	}
	if hasCount {
		var ok bool
		if c, ok = parseID(count); !ok || c > maxCount {
			return 0, 0, errBadCount
		}
	}
	return p, c, nil
}
