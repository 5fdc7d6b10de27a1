package proxy

import (
	"bytes"
	"strings"
)

// MaxPathLength caps a path in bytes, raw and normalised. The server's read
// buffer already bounds the request line; this keeps NormalizePath's work
// bounded for callers that hand it other input (forward-auth URIs).
const MaxPathLength = 8 << 10

// NormalizePath returns the one canonical form of a raw request path (the
// bytes before any "?" or "#", as URI().PathOriginal() gives them):
//
//   - escapes of unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded, so
//     %2E is a dot and takes part in dot-segment resolution; every other
//     escape is kept with uppercase hex;
//   - bytes that may not appear raw in a path (space, quotes, <, >, non-ASCII
//     and the like) are percent-encoded, so that each path has one spelling;
//   - "." and ".." segments are resolved, repeated slashes folded; a
//     trailing slash is kept.
//
// Paths whose meaning upstreams disagree about are refused with ErrBadPath
// rather than rewritten: ".." above the root, an encoded "/" or "\", a raw
// "\", control characters raw or encoded, invalid escapes, a raw "?" or "#",
// a ";" raw or encoded anywhere (Tomcat, Jetty and Spring cut ";params" off a
// segment before routing, so "/private;x/s" would be served as "/private/s"
// and "..;" as ".."), and paths that do not start with "/".
//
// The result is a fixed point: normalising it again returns it unchanged.
func NormalizePath(raw []byte) (string, error) {
	if len(raw) == 1 && raw[0] == '/' {
		return "/", nil
	}
	var buf [256]byte
	out, err := appendNormalPath(buf[:0], raw)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// appendNormalPath appends the normal form of raw (see NormalizePath) to dst.
// On error dst is returned unchanged.
func appendNormalPath(dst, raw []byte) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '/' || len(raw) > MaxPathLength {
		return dst, ErrBadPath
	}
	root := len(dst)
	out := append(dst, '/')
	for i := 1; ; {
		j := i + indexSlash(raw[i:])
		last := j == len(raw)
		start := len(out)
		var ok bool
		out, ok = appendSegment(out, raw[i:j])
		if !ok {
			return dst[:root], ErrBadPath
		}
		seg := out[start:]
		switch {
		case len(seg) == 0:
			// "//" folds; a trailing "/" stays (out already ends in "/").
		case isDot(seg):
			out = out[:start]
		case isDotDot(seg):
			out = out[:start]
			if start == root+1 {
				return dst[:root], ErrBadPath // above the root
			}
			out = out[:root+bytes.LastIndexByte(out[root:start-1], '/')+1]
		default:
			if !last {
				out = append(out, '/')
			}
		}
		if last {
			// Encoding can grow a path threefold; a result over the cap
			// would be refused when normalised again.
			if len(out)-root > MaxPathLength {
				return dst[:root], ErrBadPath
			}
			return out, nil
		}
		i = j + 1
	}
}

func indexSlash(b []byte) int {
	if k := bytes.IndexByte(b, '/'); k >= 0 {
		return k
	}
	return len(b)
}

// appendSegment appends one raw segment in normal form: unreserved escapes
// decoded, other escapes uppercased, bytes that are not pchar encoded. It
// reports false for what NormalizePath refuses.
func appendSegment(out, seg []byte) ([]byte, bool) {
	for k := 0; k < len(seg); k++ {
		c := seg[k]
		switch pathClass[c] {
		case classRaw:
			out = append(out, c)
		case classEncode:
			out = append(out, '%', upperHex[c>>4], upperHex[c&15])
		case classBad:
			return out, false
		case classPercent:
			if k+2 >= len(seg) {
				return out, false
			}
			hi, lo := unhex(seg[k+1]), unhex(seg[k+2])
			if hi < 0 || lo < 0 {
				return out, false
			}
			v := byte(hi<<4 | lo)
			switch {
			case v < 0x20 || v == 0x7f || v == '/' || v == '\\' || v == ';':
				return out, false
			case isUnreserved(v):
				out = append(out, v)
			default:
				out = append(out, '%', upperHex[v>>4], upperHex[v&15])
			}
			k += 2
		}
	}
	return out, true
}

// Byte classes of a raw path segment.
const (
	classEncode  = iota // not allowed raw in a path: percent-encoded
	classRaw            // pchar: kept as it is
	classBad            // refused: control bytes, "\\", ";", and "?" or "#" (never in a path)
	classPercent        // starts an escape
)

var pathClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch b := byte(c); {
		case b < 0x20 || b == 0x7f || b == '\\' || b == '?' || b == '#' || b == ';':
			t[c] = classBad
		case b == '%':
			t[c] = classPercent
		case isPchar(b):
			t[c] = classRaw
		}
	}
	return t
}()

func isDot(s []byte) bool    { return len(s) == 1 && s[0] == '.' }
func isDotDot(s []byte) bool { return len(s) == 2 && s[0] == '.' && s[1] == '.' }

const upperHex = "0123456789ABCDEF"

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// isUnreserved: RFC 3986 unreserved characters.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPchar: RFC 3986 pchar minus the percent-escape: unreserved, sub-delims,
// ":" and "@".
func isPchar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

// IsUnder reports whether the path p is prefix or a path below it, in any
// ASCII case of its letters (the service's own paths, like route rules,
// are recognised whatever the case).
func IsUnder(p, prefix string) bool {
	return len(p) >= len(prefix) && strings.EqualFold(p[:len(prefix)], prefix) &&
		(len(p) == len(prefix) || p[len(prefix)] == '/')
}

// IsNormalPath reports whether raw is certainly in normal form already, so
// that the common case need not be normalised (nor copied): it starts with
// "/", holds only unreserved characters and slashes, no empty segment and no
// segment starting with a dot. Anything else may still be normal;
// NormalizePath tells.
func IsNormalPath(raw []byte) bool {
	if len(raw) == 0 || raw[0] != '/' || len(raw) > MaxPathLength {
		return false
	}
	for i := 1; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '/' || c == '.':
			if raw[i-1] == '/' {
				return false // "//", "/." and "/.."
			}
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}
