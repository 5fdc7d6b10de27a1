package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxUserNameLength is the longest user name kept, in code points: the
// bound of signup's name and of a catalog token's name claim alike.
const MaxUserNameLength = 200

// Printable reports whether s is at most maxLen code points long and free of
// control characters: the one rule for the free-text values the stores keep
// (user names, API key names, CLI device names). PostgreSQL refuses NUL in
// text and an index entry has a size limit; a control character in a name
// would also garble the terminals and logs that show it. Whether the value
// is trimmed first, or may be empty, is the caller's rule.
func Printable(s string, maxLen int) bool {
	return utf8.RuneCountInString(s) <= maxLen && !strings.ContainsFunc(s, unicode.IsControl)
}
