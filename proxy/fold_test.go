package proxy

import (
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/config"
)

func TestFoldPath(t *testing.T) {
	for in, want := range map[string]string{
		"/private/x":       "/private/x",
		"/PRIVATE/X":       "/private/x",
		"/Private/%3A":     "/private/%3A", // escape hex stays uppercase
		"/a%3AB":           "/a%3Ab",
		"/caf%C3%89":       "/caf%C3%A9", // É is é
		"/caf%C3%A9":       "/caf%C3%A9",
		"/pr%C4%B1vate":    "/private",      // dotless i
		"/pr%C4%B0vate":    "/private",      // dotted capital I
		"/%C5%BFecret":     "/secret",       // long s
		"/%E2%84%AAey":     "/key",          // Kelvin sign
		"/%CE%A3%CF%82":    "/%CF%83%CF%83", // Σ and final ς are σ
		"/%FF%FE":          "/%FF%FE",       // not UTF-8: as it is
		"/%C3":             "/%C3",          // truncated
		"/%E2%84":          "/%E2%84",
		"/%C3%A9%FF%C3%89": "/%C3%A9%FF%C3%A9",
		"/x%20Y":           "/x%20y",
		"/%F0%9F%98%80":    "/%F0%9F%98%80", // no case
	} {
		if got := FoldPath(in); got != want {
			t.Errorf("FoldPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRulesIgnoreCase: every spelling of a path gets the rule of its
// lowercase spelling, and rules written in capitals match lowercase paths.
func TestRulesIgnoreCase(t *testing.T) {
	r, err := Compile([]config.Route{
		{Path: "/private/**", Auth: config.AuthRequired},
		{Path: "/Docs/Public/*", Auth: config.AuthPublic},
		{Path: "/caf%C3%A9/**", Auth: config.AuthRequired},
	}, "", config.AuthOptional)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]config.AuthMode{
		"/private/x":      config.AuthRequired,
		"/PRIVATE/x":      config.AuthRequired,
		"/pRiVaTe":        config.AuthRequired,
		"/pr%C4%B1vate/x": config.AuthRequired,
		"/PR%C4%B0VATE/x": config.AuthRequired,
		"/docs/public/a":  config.AuthPublic,
		"/DOCS/PUBLIC/a":  config.AuthPublic,
		"/CAF%C3%89/x":    config.AuthRequired,
		"/caf%C3%A9/x":    config.AuthRequired,
		"/privatex":       config.AuthOptional,
		"/other":          config.AuthOptional,
		"/priv%C3%A4te/x": config.AuthOptional, // ä is no a
	} {
		if got := r.Match("GET", path).Auth; got != want {
			t.Errorf("Match(%q) = %s, want %s", path, got, want)
		}
	}
}

// FuzzFoldPath: FoldPath of a normal path is a fixed point, and ASCII case
// never changes it.
func FuzzFoldPath(f *testing.F) {
	for _, s := range []string{"/a", "/A/%C3%89", "/pr%C4%B1vate", "/%E2%84%AA", "/%FF", "/x%3Ay"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := NormalizePath([]byte(raw))
		if err != nil {
			return
		}
		k := FoldPath(p)
		if again := FoldPath(k); again != k {
			t.Fatalf("FoldPath(%q) = %q, again %q", p, k, again)
		}
		if u := FoldPath(strings.ToUpper(p)); u != k && !strings.Contains(p, "%") {
			t.Fatalf("FoldPath(upper %q) = %q, want %q", p, u, k)
		}
	})
}
