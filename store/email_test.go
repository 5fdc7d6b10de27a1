package store_test

import (
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/store"
)

func TestNormalizeEmail(t *testing.T) {
	long := strings.Repeat("a", 254-len("@example.com")) // 254 bytes in all: the bound
	for _, tc := range []struct {
		name, in, want string
		valid          bool
	}{
		{"plain", "alice@example.com", "alice@example.com", true},
		{"trimmed and lowercased", "  Alice@Example.COM\t", "alice@example.com", true},
		{"at the length bound", long + "@example.com", long + "@example.com", true},
		{"over the length bound", long + "a@example.com", long + "a@example.com", false},
		{"empty", "", "", false},
		{"spaces only", "   ", "", false},
		{"no at", "alice.example.com", "alice.example.com", false},
		{"two ats", "a@b@example.com", "a@b@example.com", false},
		{"no local part", "@example.com", "@example.com", false},
		{"no domain", "alice@", "alice@", false},
		{"inner space", "al ice@example.com", "al ice@example.com", false},
		{"control character", "alice\x00@example.com", "alice\x00@example.com", false},
		{"invalid utf-8", "alice\xff@example.com", "alice\uFFFD@example.com", false}, // lowercasing marks the bad byte
		// Not valid, yet spelled as a valid one would be: a failure limit
		// counts it under one key.
		{"invalid keeps its spelling", " Not An Email ", "not an email", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, valid := store.NormalizeEmail(tc.in)
			if got != tc.want || valid != tc.valid {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q, %v", tc.in, got, valid, tc.want, tc.valid)
			}
		})
	}
}
