package proxy

import "bytes"

// maxMethodLength bounds a method (the longest registered one, for WebDAV,
// has 16 bytes).
const maxMethodLength = 32

// ValidMethod reports whether m may be decided on: uppercase letters,
// digits, "-" and "_". Methods are case-sensitive, and rules name them in
// uppercase; a "post" that an upstream may uppercase would otherwise skip a
// rule limited to POST, so such a request is refused (ErrBadMethod) rather
// than read one way here and another there.
func ValidMethod(m []byte) bool {
	if len(m) == 0 || len(m) > maxMethodLength {
		return false
	}
	for _, c := range m {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// addOverride adds the method an override names (a header value, or the
// query's "_method") to rd, uppercased as frameworks do. A value that is no
// method is ErrBadMethod: Symfony refuses it too, others pass it on.
func addOverride(rd *readings, v []byte, s *scratch) error {
	v = bytes.TrimSpace(v)
	start := len(s.methods)
	for _, c := range v {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		s.methods = append(s.methods, c)
	}
	m := s.methods[start:]
	if !ValidMethod(m) {
		return ErrBadMethod
	}
	rd.add(bytesString(m))
	return nil
}

// addQueryOverrides adds the method of every "_method" argument of a POST's
// query: Symfony and Laravel (and Express's method-override, when so
// configured) act on it. PHP decodes argument names and reads "." and " "
// in them as "_", so those spellings count too.
func addQueryOverrides(rd *readings, query []byte, s *scratch) error {
	for len(query) > 0 {
		arg := query
		if k := bytes.IndexByte(query, '&'); k >= 0 {
			arg, query = query[:k], query[k+1:]
		} else {
			query = nil
		}
		name, value := arg, []byte(nil)
		if k := bytes.IndexByte(arg, '='); k >= 0 {
			name, value = arg[:k], arg[k+1:]
		}
		if !isMethodArg(name, s) {
			continue
		}
		s.val = appendUnescaped(s.val[:0], value)
		if err := addOverride(rd, s.val, s); err != nil {
			return err
		}
	}
	return nil
}

// isMethodArg reports whether a raw query argument name decodes to
// "_method" (with "." or " " for the "_", in any case).
func isMethodArg(raw []byte, s *scratch) bool {
	if len(raw) < len("_method") || len(raw) > 3*len("_method") {
		return false
	}
	s.val = appendUnescaped(s.val[:0], raw)
	n := s.val
	if len(n) != len("_method") || (n[0] != '_' && n[0] != '.' && n[0] != ' ') {
		return false
	}
	return foldEqual(n[1:], "method")
}

// appendUnescaped appends the form-decoded v ("+" is a space, "%XX" a byte;
// a broken escape is kept as it is).
func appendUnescaped(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '+':
			dst = append(dst, ' ')
		case c == '%' && i+2 < len(v) && unhex(v[i+1]) >= 0 && unhex(v[i+2]) >= 0:
			dst = append(dst, byte(unhex(v[i+1])<<4|unhex(v[i+2])))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
