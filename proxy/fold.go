package proxy

import (
	"unicode"
	"unicode/utf8"
)

// Rules match a path by its case-folded form, so that every spelling an
// upstream may route to the same handler gets the same decision: Express and
// ASP.NET Core route case-insensitively (ASP.NET after percent-decoding, with
// Unicode case mapping, under which "ı" (dotless i), "ſ" (long s), "İ" and
// the Kelvin sign "K" read as ASCII letters). The forwarded path keeps the
// client's spelling; only the matching folds.
//
// The fold key of a normal path (NormalizePath) is the path with
//   - ASCII letters lowercased;
//   - each escaped UTF-8 character replaced by its case-folded form:
//     unicode.ToLower(unicode.ToUpper(r)), written raw when that is an ASCII
//     letter and escaped otherwise;
//   - every other byte as it is (escapes are already uppercase hex).
//
// Two paths that differ only in case have the same key.

// needsFold reports whether p's fold key differs from p: it has an ASCII
// uppercase letter or an escaped non-ASCII byte.
func needsFold(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' {
			// The hex digits of an escape are uppercase in normal form and
			// are not letters of the path.
			if i >= 1 && p[i-1] == '%' || i >= 2 && p[i-2] == '%' {
				continue
			}
			return true
		}
		if c == '%' && i+1 < len(p) && p[i+1] >= '8' {
			return true
		}
	}
	return false
}

// appendFold appends the fold key of the normal path p to dst.
func appendFold(dst []byte, p string) []byte {
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case 'A' <= c && c <= 'Z':
			dst = append(dst, c+'a'-'A')
			i++
		case c == '%' && i+2 < len(p) && p[i+1] >= '8':
			// An escaped byte of 0x80 and above: decode one UTF-8
			// character from the escapes starting here.
			var raw [utf8.UTFMax]byte
			n := 0
			for j := i; n < len(raw) && j+2 < len(p) && p[j] == '%' && p[j+1] >= '8'; j += 3 {
				raw[n] = byte(unhex(p[j+1])<<4 | unhex(p[j+2]))
				n++
				if utf8.FullRune(raw[:n]) {
					break
				}
			}
			r, size := utf8.DecodeRune(raw[:n])
			if r == utf8.RuneError && size <= 1 {
				dst = appendEscaped(dst, raw[0]) // not UTF-8: the byte as it is
				i += 3
				continue
			}
			dst = appendFoldRune(dst, r)
			i += 3 * size
		case c == '%' && i+2 < len(p):
			dst = append(dst, p[i:i+3]...)
			i += 3
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}

// appendFoldRune appends the folded form of r: raw when it is ASCII (ı, ſ,
// İ and K read as i, s, i and k), escaped otherwise.
func appendFoldRune(dst []byte, r rune) []byte {
	f := unicode.ToLower(unicode.ToUpper(r))
	if f < utf8.RuneSelf {
		return append(dst, byte(f))
	}
	var enc [utf8.UTFMax]byte
	for _, b := range enc[:utf8.EncodeRune(enc[:], f)] {
		dst = appendEscaped(dst, b)
	}
	return dst
}

func appendEscaped(dst []byte, b byte) []byte {
	return append(dst, '%', upperHex[b>>4], upperHex[b&15])
}

// FoldPath is the fold key of the normal path p: two paths an upstream
// that routes case-insensitively reads as one have the same key.
func FoldPath(p string) string {
	if !needsFold(p) {
		return p
	}
	return string(appendFold(nil, p))
}
