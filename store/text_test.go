package store_test

import (
	"testing"

	"github.com/zectre/zectre-auth/store"
)

func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want bool
	}{
		{"empty", "", 10, true},
		{"plain", "laptop", 10, true},
		{"code points, not bytes", "ÄÖÜäöü", 6, true},
		{"one code point over", "abcdefg", 6, false},
		{"spaces are printable", "my laptop", 10, true},
		{"NUL", "lap\x00top", 10, false},
		{"newline", "lap\ntop", 10, false},
		{"C1 control", "lap\u0085top", 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := store.Printable(tc.in, tc.max); got != tc.want {
				t.Fatalf("Printable(%q, %d) = %v, want %v", tc.in, tc.max, got, tc.want)
			}
		})
	}
}
