package authn_test

import (
	"hash/crc32"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/authn"
)

// TestKeyFormatAsDocumented: the regular expression published for scanners
// in docs/auth-api.md matches every generated key, and the checksum
// algorithm as written there, reimplemented here, agrees with ParseKey.
func TestKeyFormatAsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/auth-api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## The key format, for scanners")
	_, block, ok2 := strings.Cut(section, "```\n")
	expr, _, ok3 := strings.Cut(block, "\n```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/auth-api.md has no key format section with a regular expression")
	}
	re := regexp.MustCompile(expr)
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	documented := func(random string) string {
		n, out := crc32.ChecksumIEEE([]byte(random)), ""
		for range 6 {
			out = string(alphabet[n%62]) + out
			n /= 62
		}
		return out
	}
	for range 1000 {
		nk, err := authn.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		k := nk.Raw
		if m := re.FindString("token=" + k + ";"); m != k {
			t.Fatalf("documented expression finds %q in a line holding %q", m, k)
		}
		if documented(k[4:40]) != k[40:] {
			t.Fatalf("documented checksum of %q is %q", k, documented(k[4:40]))
		}
	}
	// A string the expression matches but whose checksum is wrong is no key.
	random := strings.Repeat("a", 36)
	sum := documented(random)
	last := byte('0')
	if sum[5] == '0' {
		last = '1'
	}
	fake := "zec_" + random + sum[:5] + string(last)
	if !re.MatchString(fake) {
		t.Fatal("expression does not match a key-shaped string")
	}
	if _, err := authn.ParseKey(fake); err == nil {
		t.Fatal("ParseKey accepts a wrong checksum")
	}
	if _, err := authn.ParseKey("zec_" + random + sum); err != nil {
		t.Fatalf("ParseKey refuses a key with the documented checksum: %v", err)
	}
	if re.MatchString("zec_" + strings.Repeat("a", 43)) {
		t.Fatal("expression matches a longer run")
	}
}
