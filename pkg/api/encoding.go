package api

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

const (
	// minCompress: smaller bodies go out as they are; coding them saves a
	// few bytes at best and costs the client a decoder.
	minCompress = 200

	gzipLevel   = fasthttp.CompressDefaultCompression // 6
	brotliLevel = 5                                   // 6 gives no smaller bodies here, at more cost
)

// name is the Content-Encoding value.
func (e encoding) name() string {
	switch e {
	case encGzip:
		return "gzip"
	case encBrotli:
		return "br"
	}
	return ""
}

// etagSuffix tells the variants' ETags apart: a strong ETag names one
// representation, and a coded body is another one.
func (e encoding) etagSuffix() string {
	switch e {
	case encGzip:
		return "-gz"
	case encBrotli:
		return "-br"
	}
	return ""
}

// negotiate picks the coding for an Accept-Encoding header: gzip whenever
// it is acceptable (q > 0), whatever the q of br, since product documents
// are stored gzip-coded (pkg/stored) and sent as stored; else br when that
// is acceptable; else identity. A coding not named takes the q of "*" if
// there is one. (A q expresses a preference; any acceptable coding is a
// correct answer, and the stored one costs no CPU.)
func negotiate(h []byte) encoding {
	qBr, qGz, qAny := -1, -1, -1
	for len(h) > 0 {
		var part []byte
		if i := bytes.IndexByte(h, ','); i >= 0 {
			part, h = h[:i], h[i+1:]
		} else {
			part, h = h, nil
		}
		name, params := part, []byte(nil)
		if i := bytes.IndexByte(part, ';'); i >= 0 {
			name, params = part[:i], part[i+1:]
		}
		name = bytes.Trim(name, " \t")
		q := 1000
		if params != nil {
			q = parseQ(params)
		}
		switch {
		case len(name) == 2 && (name[0]|0x20) == 'b' && (name[1]|0x20) == 'r':
			qBr = q
		case bytes.EqualFold(name, []byte("gzip")) || bytes.EqualFold(name, []byte("x-gzip")):
			qGz = q
		case len(name) == 1 && name[0] == '*':
			qAny = q
		}
	}
	if qBr < 0 {
		qBr = qAny
	}
	if qGz < 0 {
		qGz = qAny
	}
	switch {
	case qGz > 0:
		return encGzip
	case qBr > 0:
		return encBrotli
	}
	return encIdentity
}

// parseQ reads the q parameter of one Accept-Encoding element, in
// thousandths; a missing q is 1000, a malformed one 0 (not acceptable).
func parseQ(params []byte) int {
	for len(params) > 0 {
		var p []byte
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, nil
		}
		p = bytes.Trim(p, " \t")
		if len(p) < 2 || (p[0]|0x20) != 'q' || p[1] != '=' {
			continue
		}
		v := p[2:]
		switch {
		case len(v) == 0:
			return 0
		case v[0] == '1':
			for _, c := range v[1:] {
				if c != '.' && c != '0' {
					return 0
				}
			}
			return 1000
		case v[0] == '0':
			if len(v) == 1 {
				return 0
			}
			if v[1] != '.' || len(v) > 5 {
				return 0
			}
			q, scale := 0, 100
			for _, c := range v[2:] {
				if c < '0' || c > '9' {
					return 0
				}
				q += int(c-'0') * scale
				scale /= 10
			}
			return q
		}
		return 0
	}
	return 1000
}

// etagMatches tells whether an If-None-Match header matches the resource
// whose identity ETag is tag (quoted). The comparison is weak, as RFC 9110
// wants for If-None-Match, and any coded variant of the same resource
// matches: they all stand or fall with the build.
func etagMatches(h, tag []byte) bool {
	inner := tag[1 : len(tag)-1]
	for {
		for len(h) > 0 && (h[0] == ' ' || h[0] == '\t' || h[0] == ',') {
			h = h[1:]
		}
		if len(h) == 0 {
			return false
		}
		if h[0] == '*' {
			return true
		}
		if len(h) >= 2 && h[0] == 'W' && h[1] == '/' {
			h = h[2:]
		}
		if len(h) == 0 || h[0] != '"' {
			i := bytes.IndexByte(h, ',')
			if i < 0 {
				return false
			}
			h = h[i+1:]
			continue
		}
		end := bytes.IndexByte(h[1:], '"')
		if end < 0 {
			return false
		}
		t := h[1 : 1+end]
		h = h[2+end:]
		if bytes.HasPrefix(t, inner) {
			switch string(t[len(inner):]) {
			case "", encGzip.etagSuffix(), encBrotli.etagSuffix():
				return true
			}
		}
	}
}

// compress codes plain with enc; nil when that would not make it smaller.
func compress(plain []byte, enc encoding) []byte {
	var out []byte
	switch enc {
	case encGzip:
		out = fasthttp.AppendGzipBytesLevel(nil, plain, gzipLevel)
	case encBrotli:
		out = fasthttp.AppendBrotliBytesLevel(nil, plain, brotliLevel)
	}
	if len(out) >= len(plain) {
		return nil
	}
	return out
}
