package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestClientRedirects: redirects within the API are followed, a redirect to
// another host never receives the key.
func TestClientRedirects(t *testing.T) {
	leaked := make(chan string, 1)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked <- r.Header.Get("X-API-Key")
	}))
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/user", http.StatusFound)
		case "/user":
			w.Write([]byte(`{"email":"` + r.Header.Get("X-API-Key") + `"}`))
		}
	}))
	defer api.Close()
	c := newAPIClient(api.URL, "dev")
	var u apiUser
	if _, err := c.do(context.Background(), "GET", "/here", "zec_k", nil, &u); err != nil || u.Email != "zec_k" {
		t.Fatalf("same-host redirect: %v %+v", err, u)
	}
	_, err := c.do(context.Background(), "GET", "/away", "zec_k", nil, &u)
	if err == nil || !strings.Contains(err.Error(), "refusing a redirect") {
		t.Fatalf("cross-host redirect: %v", err)
	}
	select {
	case k := <-leaked:
		t.Fatalf("the other host was asked (key %q)", k)
	default:
	}
}

// TestClientUserAgent: the version main passes in names the client to the
// server, as it did when the client read main's version itself.
func TestClientUserAgent(t *testing.T) {
	got := make(chan string, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("User-Agent")
	}))
	defer api.Close()
	if _, err := newAPIClient(api.URL, "1.2.3").do(context.Background(), "GET", "/", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	if ua := <-got; ua != "zectre-auth/1.2.3" {
		t.Fatalf("User-Agent %q", ua)
	}
}

func TestClientErrors(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limited":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			w.Write([]byte(`{"error":{"code":"RATE_LIMITED","message":"Too many attempts."}}`))
		case "/html":
			w.WriteHeader(502)
			w.Write([]byte(`<html>bad gateway</html>`))
		case "/notjson":
			w.Write([]byte(`<html>hello</html>`))
		}
	}))
	defer api.Close()
	c := newAPIClient(api.URL, "dev")
	_, err := c.do(context.Background(), "GET", "/limited", "", nil, nil)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.Code != "RATE_LIMITED" || ae.RetryAfter != 7*time.Second {
		t.Fatalf("429: %#v", err)
	}
	if _, err = c.do(context.Background(), "GET", "/html", "", nil, nil); !errors.As(err, &ae) || ae.Status != 502 || err.Error() != "502 Bad Gateway" {
		t.Fatalf("502: %v", err)
	}
	var out apiUser
	if _, err = c.do(context.Background(), "GET", "/notjson", "", nil, &out); err == nil || !strings.Contains(err.Error(), "not the expected JSON") {
		t.Fatalf("not JSON: %v", err)
	}
	var ue *unreachableError
	if _, err = newAPIClient("http://"+closedAddr(t), "dev").do(context.Background(), "GET", "/", "", nil, nil); !errors.As(err, &ue) {
		t.Fatalf("closed port: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":     0,
		"5":    5 * time.Second,
		"-1":   0,
		"soon": 0,
		now.Add(9 * time.Second).Format(http.TimeFormat): 9 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):      0,
	}
	for v, want := range cases {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestAPIBase(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "ZECTRE_API_URL" {
				return v
			}
			return ""
		}
	}
	cases := []struct {
		name, flag, env, fallback, want string
		bad                             bool
	}{
		{"default", "", "", "", defaultAPIURL, false},
		{"flag wins", "https://a.example/", "http://b", "http://c", "https://a.example", false},
		{"env", "", "http://b:1/base/", "http://c", "http://b:1/base", false},
		{"fallback", "", "", "http://c", "http://c", false},
		{"not http", "ftp://a", "", "", "", true},
		{"no host", "http://", "", "", "", true},
		{"query", "http://a/?x=1", "", "", "", true},
		{"user", "http://u:p@a", "", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := apiBase(tc.flag, env(tc.env), tc.fallback)
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("got %q %v", got, err)
			}
		})
	}
	if plaintextWarning("http://localhost:1") != "" || plaintextWarning("http://127.0.0.1") != "" || plaintextWarning("https://a.example") != "" {
		t.Error("warning for a safe URL")
	}
	if plaintextWarning("http://a.example") == "" {
		t.Error("no warning for plain HTTP across the network")
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
