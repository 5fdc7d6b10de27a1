package proxy

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		raw  string
		want string // "" means ErrBadPath
	}{
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"//a///b//", "/a/b/"},
		{"//", "/"},
		{"/a/./b", "/a/b"},
		{"/./", "/"},
		{"/.", "/"},
		{"/a/.", "/a/"},
		{"/a/../b", "/b"},
		{"/a/b/..", "/a/"},
		{"/a/b/../../c/", "/c/"},
		{"/...", "/..."},
		{"/a/.../b", "/a/.../b"},
		{"/.hidden/x", "/.hidden/x"},

		// Unreserved escapes are decoded, others uppercased, and the
		// decoded dots take part in dot-segment resolution.
		{"/%61pi/%7e%2D%5f", "/api/~-_"},
		{"/%41%42", "/AB"},
		{"/a%3d%3Db", "/a%3D%3Db"},
		{"/a%20b", "/a%20b"},
		{"/a%25", "/a%25"},
		{"/a%252e", "/a%252e"},
		{"/%2e", "/"},
		{"/a/%2e", "/a/"},
		{"/a/%2e%2e/b", "/b"},
		{"/a/%2E./b", "/b"},
		{"/a/.%2e/b", "/b"},
		{"/public/%2e%2e/admin", "/admin"},
		{"/public/../admin", "/admin"},

		// Bytes that may not appear raw are encoded: one spelling per path.
		{"/a b", "/a%20b"},
		{"/caf\xc3\xa9", "/caf%C3%A9"},
		{"/%c3%a9", "/%C3%A9"},
		{"/a\"<>^`{|}", "/a%22%3C%3E%5E%60%7B%7C%7D"},
		{"/a[b]", "/a%5Bb%5D"},
		{"/@:!$&'()*+,=", "/@:!$&'()*+,="},

		// Refused.
		{"", ""},
		{"a/b", ""},
		{"*", ""},
		{"/..", ""},
		{"/../a", ""},
		{"/%2e%2e", ""},
		{"/%2e%2e/a", ""},
		{"/a/../..", ""},
		{"/a/b/../../..", ""},
		{"/a%2fb", ""},
		{"/a%2Fb", ""},
		{"/public/..%2fadmin", ""},
		{"/a%5cb", ""},
		{"/a%5Cb", ""},
		{"/a\\b", ""},
		{"/public\\..\\admin", ""},
		{"/%00", ""},
		{"/a%1f", ""},
		{"/a%7F", ""},
		{"/a\x00", ""},
		{"/a\x7f", ""},
		{"/a\tb", ""},
		{"/a\r\nb", ""},
		{"/%zz", ""},
		{"/%4", ""},
		{"/a%", ""},
		{"/a%g0", ""},
		{"/a?b", ""},
		{"/a#b", ""},
		{"/public/..;/admin", ""},
		{"/public/..;x/admin", ""},
		{"/public/.;/admin", ""},
		{"/public/..%3B/admin", ""},
		{"/public/..%3bx/admin", ""},
		{"/public/%2e%2e;/admin", ""},
		// Path parameters, in any segment and any spelling: Tomcat, Jetty
		// and Spring drop them before routing.
		{"/private;x/s", ""},
		{"/private%3Bx/s", ""},
		{"/private%3bx/s", ""},
		{"/a;b/c;d=e", ""},
		{"/a/;x/b", ""},
		{"/a/...;x", ""},
		{"/;", ""},
		{"/private/s;", ""},
		{"/private/s%3B", ""},
		{"/" + strings.Repeat("a", MaxPathLength), ""},
	}
	for _, tc := range tests {
		got, err := NormalizePath([]byte(tc.raw))
		if tc.want == "" {
			if !errors.Is(err, ErrBadPath) || got != "" {
				t.Errorf("NormalizePath(%q) = %q, %v; want ErrBadPath", tc.raw, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
}

func TestAppendNormalPathKeepsDstOnError(t *testing.T) {
	dst := []byte("prefix")
	got, err := appendNormalPath(dst, []byte("/a/b/../../../x"))
	if err == nil || string(got) != "prefix" {
		t.Fatalf("got %q, %v; want the untouched prefix and an error", got, err)
	}
	got, err = appendNormalPath(dst, []byte("/a/../b"))
	if err != nil || string(got) != "prefix/b" {
		t.Fatalf("got %q, %v; want prefix/b", got, err)
	}
}

// FuzzNormalizePath checks the invariants the edge relies on: no panic; an
// error means an empty result; a result is absolute, a fixed point, and
// free of every form that upstreams resolve differently.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b/", "//a//b", "/a/./b/../c", "/%2e%2e/", "/a/%2E%2e/b", "/a;b/..;/c",
		"/%61%62%2F", "/a%5c", "/caf\xc3\xa9", "/a%zz", "/a/..%3B/b", "/.%2e/x", "/%00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := NormalizePath(raw)
		if err != nil {
			if out != "" {
				t.Fatalf("error %v with output %.200q", err, out)
			}
			return
		}
		if out == "" || out[0] != '/' {
			t.Fatalf("%.200q: output %.200q is not absolute", raw, out)
		}
		again, err := NormalizePath([]byte(out))
		if err != nil || again != out {
			t.Fatalf("%.200q: not a fixed point: %.200q -> %.200q, %v", raw, out, again, err)
		}
		for _, bad := range []string{"//", "/./", "/../", "%2F", "%5C", "\\", "?", "#"} {
			if strings.Contains(out, bad) {
				t.Fatalf("%.200q: output %.200q contains %q", raw, out, bad)
			}
		}
		if strings.HasSuffix(out, "/.") || strings.HasSuffix(out, "/..") {
			t.Fatalf("%.200q: output %.200q ends in a dot segment", raw, out)
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c <= ' ' || c >= 0x7f {
				t.Fatalf("%.200q: output %.200q has raw byte %#x", raw, out, c)
			}
		}
	})
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"normal", "/api/v1/apps/1234/deployments/latest"},
		{"root", "/"},
		{"dots-and-escapes", "/api/v1/./apps//%61bc/../1234/%7euser"},
	} {
		raw := []byte(bc.raw)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NormalizePath(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// IsNormalPath never calls a path normal that NormalizePath would change.
func FuzzIsNormalPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a//b", "/a/./b", "/.x", "/a.b", "/%41", "/A~_-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !IsNormalPath([]byte(raw)) {
			return
		}
		if got, err := NormalizePath([]byte(raw)); err != nil || got != raw {
			t.Fatalf("IsNormalPath(%q), but NormalizePath gives %q, %v", raw, got, err)
		}
	})
}
