package authn

import (
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"regexp"
	"strings"
	"testing"
)

var keyShape = regexp.MustCompile(`^zec_[0-9A-Za-z]{42}$`)

func TestGenerateKeyFormat(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Raw) != 46 || !keyShape.MatchString(k.Raw) {
		t.Fatalf("key %q does not have the zec_ + 42 base62 shape", k.Raw)
	}
	if k.Prefix != k.Raw[:8] || !strings.HasPrefix(k.Prefix, KeyPrefix) {
		t.Errorf("prefix %q, want %q", k.Prefix, k.Raw[:8])
	}
	if k.Digest != sha256.Sum256([]byte(k.Raw)) {
		t.Error("digest is not SHA-256 of the raw key")
	}
	// The checksum is the CRC-32 of the random part in base62, '0'-padded.
	random, sum := k.Raw[4:40], k.Raw[40:]
	if got := decodeBase62(t, sum); got != uint64(crc32.ChecksumIEEE([]byte(random))) {
		t.Errorf("checksum %q decodes to %d, want crc32 %d", sum, got, crc32.ChecksumIEEE([]byte(random)))
	}
}

func decodeBase62(t *testing.T, s string) uint64 {
	t.Helper()
	var n uint64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(base62Alphabet, s[i])
		if d < 0 {
			t.Fatalf("%q is not base62", s)
		}
		n = n*62 + uint64(d)
	}
	return n
}

func TestGenerateKeyUniqueAndParses(t *testing.T) {
	seen := make(map[string]bool, 1000)
	var counts [256]int
	for range 1000 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if seen[k.Raw] {
			t.Fatalf("duplicate key %q", k.Raw)
		}
		seen[k.Raw] = true
		d, err := ParseKey(k.Raw)
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", k.Raw, err)
		}
		if d != k.Digest || d != KeyDigest(k.Raw) {
			t.Fatalf("ParseKey digest differs from the generated one for %q", k.Raw)
		}
		if checkAPIKey(k.Raw) != nil {
			t.Fatalf("checkAPIKey(%q) refuses it", k.Raw)
		}
		for i := 4; i < 40; i++ {
			counts[k.Raw[i]]++
		}
	}
	// 36000 random characters: every one of the 62 must occur, roughly
	// evenly (expected ~581 each; a biased or truncated alphabet fails).
	for i := 0; i < len(base62Alphabet); i++ {
		if c := counts[base62Alphabet[i]]; c < 400 || c > 800 {
			t.Errorf("character %q occurs %d times in 36000", base62Alphabet[i], c)
		}
	}
}

func TestParseKeyRejects(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	raw := k.Raw
	flip := func(i int) string {
		b := []byte(raw)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	// A different key with our checksum, and our key with a different case.
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, raw string }{
		{"empty", ""},
		{"prefix only", KeyPrefix},
		{"truncated by one", raw[:len(raw)-1]},
		{"truncated checksum", raw[:40]},
		{"one extra char", raw + "0"},
		{"trailing newline", raw + "\n"},
		{"leading space", " " + raw[:len(raw)-1]},
		{"wrong prefix", "zek_" + raw[4:]},
		{"upper-case prefix", "ZEC_" + raw[4:]},
		{"no prefix", raw[4:] + "0000"},
		{"bearer scheme", "Bearer " + raw},
		{"flipped random char", flip(10)},
		{"flipped first random char", flip(4)},
		{"flipped last random char", flip(39)},
		{"flipped checksum char", flip(42)},
		{"flipped last checksum char", flip(45)},
		{"swapped checksum", raw[:40] + other.Raw[40:]},
		{"upper-cased body", KeyPrefix + strings.ToUpper(raw[4:])},
		{"non-base62 dash", raw[:20] + "-" + raw[21:]},
		{"non-base62 underscore", raw[:20] + "_" + raw[21:]},
		{"non-base62 in checksum", raw[:44] + "+" + raw[45:]},
		{"nul byte", raw[:20] + "\x00" + raw[21:]},
		{"utf-8", raw[:20] + "é" + raw[22:]},
		{"all zeros", KeyPrefix + strings.Repeat("0", 42)},
		{"huge", KeyPrefix + strings.Repeat("a", 1<<16)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseKey(tc.raw)
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParseKey(%.60q) err = %v; want ErrInvalidKey", tc.raw, err)
			}
			if d != ([32]byte{}) {
				t.Errorf("ParseKey returned a digest with an error")
			}
			if checkAPIKey(tc.raw) == nil {
				t.Errorf("checkAPIKey(%.60q) accepts it", tc.raw)
			}
		})
	}
}

func TestChecksumPadding(t *testing.T) {
	var buf [6]byte
	for _, tc := range []struct {
		v    uint32
		want string
	}{
		{0, "000000"},
		{61, "00000z"},
		{62, "000010"},
		{1<<32 - 1, "4gfFC3"},
	} {
		putChecksum(buf[:], tc.v)
		if string(buf[:]) != tc.want {
			t.Errorf("putChecksum(%d) = %q, want %q", tc.v, buf[:], tc.want)
		}
	}
}

func TestCRC32MatchesLibrary(t *testing.T) {
	for _, s := range []string{"", "a", "0123456789abcdefghijABCDEFGHIJ012345", strings.Repeat("\xff", 100)} {
		if got, want := crc32IEEE(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crc32IEEE(%q) = %#x, want %#x", s, got, want)
		}
	}
}

func TestKeyDigest(t *testing.T) {
	for _, s := range []string{"", "zec_", strings.Repeat("k", 46), strings.Repeat("k", 47), strings.Repeat("k", 5000)} {
		if KeyDigest(s) != sha256.Sum256([]byte(s)) {
			t.Errorf("KeyDigest(%d bytes) is not SHA-256", len(s))
		}
	}
}

func TestParseKeyAllocs(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	bad := k.Raw[:45] + "!"
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseKey(k.Raw) }); n != 0 {
		t.Errorf("ParseKey(valid) allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseKey(bad) }); n != 0 {
		t.Errorf("ParseKey(invalid) allocates %v times", n)
	}
}

func FuzzParseKey(f *testing.F) {
	for range 4 {
		k, err := GenerateKey()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(k.Raw)
		f.Add(k.Raw[:45])
		f.Add(k.Raw + "0")
		f.Add(strings.ToLower(k.Raw))
	}
	f.Add("")
	f.Add(KeyPrefix)
	f.Add(KeyPrefix + strings.Repeat("0", 42))
	f.Add("zec_\x00\xff")
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := ParseKey(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not wrap ErrInvalidKey", err)
			}
			if d != ([32]byte{}) {
				t.Fatalf("nonzero digest with error for %q", raw)
			}
			if checkAPIKey(raw) == nil {
				t.Fatalf("checkAPIKey accepts what ParseKey rejects: %q", raw)
			}
			return
		}
		if d != KeyDigest(raw) || d != sha256.Sum256([]byte(raw)) {
			t.Fatalf("digest of %q is not its SHA-256", raw)
		}
		if !keyShape.MatchString(raw) {
			t.Fatalf("accepted %q of the wrong shape", raw)
		}
		if decodeBase62(t, raw[40:]) != uint64(crc32.ChecksumIEEE([]byte(raw[4:40]))) {
			t.Fatalf("accepted %q with a wrong checksum", raw)
		}
	})
}

func BenchmarkParseKey(b *testing.B) {
	k, err := GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseKey(k.Raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseKeyRejectChecksum(b *testing.B) {
	k, err := GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	bad := k.Raw[:10] + "x" + k.Raw[11:]
	if bad == k.Raw {
		bad = k.Raw[:10] + "y" + k.Raw[11:]
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseKey(bad); err == nil {
			b.Fatal("accepted a corrupted key")
		}
	}
}
