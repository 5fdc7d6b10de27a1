package audit

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendEvent appends e as one JSON line, fields in a fixed order, empty
// ones left out.
func appendEvent(b []byte, st *stamp, now time.Time, e *Event) []byte {
	b = append(b, `{"time":"`...)
	b = st.append(b, now)
	b = append(b, `","level":"INFO","msg":"auth"`...)
	b = appendField(b, "outcome", e.Outcome)
	b = appendField(b, "method", e.Method)
	b = appendField(b, "source", e.Source)
	b = appendField(b, "code", e.Code)
	b = appendField(b, "user_id", e.UserID)
	b = appendField(b, "key_id", e.KeyID)
	b = appendField(b, "key_prefix", e.KeyPrefix)
	if e.Client.IsValid() {
		b = append(b, `,"client":"`...)
		b = e.Client.AppendTo(b)
		b = append(b, '"')
	}
	b = appendField(b, "path", e.Path)
	b = appendField(b, "request_id", e.RequestID)
	b = appendField(b, "reason", e.Reason)
	return append(b, "}\n"...)
}

func appendDropWarning(b []byte, now time.Time, n uint64) []byte {
	b = appendHead(b, now, "WARN", "audit lines dropped")
	b = append(b, `,"dropped":`...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, "}\n"...)
}

// stamp formats times as time.RFC3339Nano (slog's JSON time) with the
// date, clock and zone formatted once per second: formatting them is most
// of the cost of an audit line.
type stamp struct {
	sec  int64
	off  int
	head []byte // "2006-01-02T15:04:05"
	zone []byte // "Z" or "-07:00"
}

func (s *stamp) append(b []byte, now time.Time) []byte {
	_, off := now.Zone()
	if sec := now.Unix(); sec != s.sec || off != s.off || s.head == nil {
		s.sec, s.off = sec, off
		s.head = now.AppendFormat(s.head[:0], "2006-01-02T15:04:05")
		s.zone = now.AppendFormat(s.zone[:0], "Z07:00")
	}
	b = append(b, s.head...)
	if ns := now.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, s.zone...)
}

func appendHead(b []byte, now time.Time, level, msg string) []byte {
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano) // as slog's JSONHandler writes it
	b = append(b, `","level":"`...)
	b = append(b, level...)
	b = append(b, `","msg":`...)
	return appendJSONString(b, msg)
}

func appendField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

// appendJSONString appends s as a JSON string the way slog does: control
// characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028/U+2029
// escaped so that the line stays one line for every JSON reader.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case '\u2028':
				b = append(b, `\u2028`...)
			case '\u2029':
				b = append(b, `\u2029`...)
			default:
				b = append(b, `\ufffd`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
