package authn_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"regexp"
	"testing"

	"github.com/zectre/zectre-auth/authn"
)

func TestSealRoundTrip(t *testing.T) {
	code, _ := authn.NewCLICode()
	secret := []byte("zec_thisIsTheRawKeyTheCLIWaitsFor0000000")
	sealed, err := authn.SealForCode(code, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value holds the secret in clear")
	}
	got, err := authn.OpenWithCode(code, sealed)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if !bytes.Equal(got, secret) {
		t.Fatalf("opened %q, want %q", got, secret)
	}
	// A fresh nonce each time: sealing twice gives different bytes.
	again, err := authn.SealForCode(code, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same secret are identical")
	}
}

func TestSealEmptySecret(t *testing.T) {
	code, _ := authn.NewCLICode()
	sealed, err := authn.SealForCode(code, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := authn.OpenWithCode(code, sealed)
	if err != nil || len(got) != 0 {
		t.Fatalf("open: %q, %v; want empty, nil", got, err)
	}
}

func TestOpenWithWrongCode(t *testing.T) {
	code, _ := authn.NewCLICode()
	sealed, err := authn.SealForCode(code, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := authn.NewCLICode()
	for _, wrong := range []string{other, "", code[:63], code + "0", code[:63] + "x"} {
		got, err := authn.OpenWithCode(wrong, sealed)
		if !errors.Is(err, authn.ErrSealBroken) || got != nil {
			t.Errorf("code %q: got %q, %v; want nil, %v", wrong, got, err, authn.ErrSealBroken)
		}
	}
}

// A sealed value copied from one session into another (another code) must
// not open there, nor must one sealed for the other open in the first.
func TestSealedValueMovedBetweenCodes(t *testing.T) {
	a, _ := authn.NewCLICode()
	b, _ := authn.NewCLICode()
	sa, err := authn.SealForCode(a, []byte("key of a"))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := authn.SealForCode(b, []byte("key of b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authn.OpenWithCode(b, sa); !errors.Is(err, authn.ErrSealBroken) {
		t.Errorf("a's seal under b: %v, want %v", err, authn.ErrSealBroken)
	}
	if _, err := authn.OpenWithCode(a, sb); !errors.Is(err, authn.ErrSealBroken) {
		t.Errorf("b's seal under a: %v, want %v", err, authn.ErrSealBroken)
	}
	// Splicing a's nonce onto b's ciphertext does not open either.
	spliced := append(append([]byte(nil), sa[:12]...), sb[12:]...)
	for _, code := range []string{a, b} {
		if _, err := authn.OpenWithCode(code, spliced); !errors.Is(err, authn.ErrSealBroken) {
			t.Errorf("spliced seal under %s: %v, want %v", code[:8], err, authn.ErrSealBroken)
		}
	}
}

func TestOpenDamagedSeal(t *testing.T) {
	code, _ := authn.NewCLICode()
	sealed, err := authn.SealForCode(code, []byte("zec_0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(sealed); n++ {
		got, err := authn.OpenWithCode(code, sealed[:n])
		if !errors.Is(err, authn.ErrSealBroken) || got != nil {
			t.Fatalf("truncated to %d bytes: %q, %v; want nil, %v", n, got, err, authn.ErrSealBroken)
		}
	}
	if _, err := authn.OpenWithCode(code, nil); !errors.Is(err, authn.ErrSealBroken) {
		t.Errorf("nil: %v, want %v", err, authn.ErrSealBroken)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := authn.OpenWithCode(code, bad); !errors.Is(err, authn.ErrSealBroken) {
			t.Fatalf("bit flipped in byte %d: %v, want %v", i, err, authn.ErrSealBroken)
		}
	}
	long := append(bytes.Clone(sealed), 0)
	if _, err := authn.OpenWithCode(code, long); !errors.Is(err, authn.ErrSealBroken) {
		t.Errorf("one byte appended: %v, want %v", err, authn.ErrSealBroken)
	}
}

// The lookup digest is domain-separated: a plain SHA-256 of the code (what
// another table or log might hold) does not find the session.
func TestCLICodeDigestIsTagged(t *testing.T) {
	code, digest := authn.NewCLICode()
	if digest != authn.CLICodeDigest(code) {
		t.Fatal("NewCLICode's digest differs from CLICodeDigest(code)")
	}
	if digest == sha256.Sum256([]byte(code)) {
		t.Fatal("CLICodeDigest(code) equals sha256(code)")
	}
	if authn.CLICodeDigest("") == sha256.Sum256(nil) {
		t.Fatal("CLICodeDigest(\"\") equals sha256 of nothing")
	}
}

var codeShape = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestNewCLICode(t *testing.T) {
	const draws = 1000
	seen := make(map[string]bool, draws)
	digests := make(map[[32]byte]bool, draws)
	for range draws {
		code, digest := authn.NewCLICode()
		if !codeShape.MatchString(code) {
			t.Fatalf("code %q is not 64 lowercase hex characters", code)
		}
		if len(code) != authn.MaxCLICodeLength {
			t.Fatalf("code length %d, MaxCLICodeLength %d", len(code), authn.MaxCLICodeLength)
		}
		if seen[code] || digests[digest] {
			t.Fatalf("code %q drawn twice", code)
		}
		seen[code], digests[digest] = true, true
	}
}
