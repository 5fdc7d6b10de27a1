package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxEmailLength is the longest email address accepted, in bytes.
const maxEmailLength = 254

// NormalizeEmail is the one rule for an email address, wherever one comes
// in (signup, login, a catalog token's claim, the failure limits): trimmed
// and lowercased, which is the spelling both stores keep. valid reports its
// shape: one '@' between a non-empty local part and domain, no whitespace,
// control characters or invalid UTF-8, at most maxEmailLength bytes. The
// spelling is returned even when the address is not valid, so that a
// failure limit can count what was typed under one key.
func NormalizeEmail(s string) (email string, valid bool) {
	email = normaliseEmail(strings.TrimSpace(s))
	if email == "" || len(email) > maxEmailLength || strings.Count(email, "@") != 1 {
		return email, false
	}
	local, domain, _ := strings.Cut(email, "@")
	if local == "" || domain == "" {
		return email, false
	}
	if strings.ContainsFunc(email, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
	}) {
		return email, false
	}
	return email, true
}

// normaliseEmail is the case rule of NormalizeEmail, applied again by both
// stores to every email they write or look up: the lookup columns are
// case-insensitive anyway, but both stores keep one spelling.
func normaliseEmail(email string) string {
	return strings.ToLower(email)
}
