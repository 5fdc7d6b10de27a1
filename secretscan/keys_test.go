package secretscan_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/secretscan"
	"github.com/zectre/zectre-auth/secretscan/secretscantest"
)

// TestFetchRefusals: a document that redirects, is too large, is not
// answered with 200 or is not JSON gives no keys (ErrFetch), and a report
// verified against it fails; a good one verifies.
func TestFetchRefusals(t *testing.T) {
	signer := secretscantest.NewSigner(t, "k")
	good := secretscantest.Serve(t, signer)
	body := []byte(`[{"token":"zec_x"}]`)
	sig := signer.Sign(t, body)
	serve := func(h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	for _, tc := range []struct {
		name string
		url  string
		want error
	}{
		{"good", good.URL, nil},
		{"redirect", serve(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, good.URL, http.StatusFound) }), secretscan.ErrFetch},
		{"too large", serve(func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`{"public_keys":[],"pad":"` + strings.Repeat("a", 70<<10) + `"}`))
		}), secretscan.ErrFetch},
		{"status 500", serve(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }), secretscan.ErrFetch},
		{"not JSON", serve(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>")) }), secretscan.ErrFetch},
		{"not a key", serve(func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`{"public_keys":[{"key_identifier":"k","key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}]}`))
		}), secretscan.ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := secretscan.NewVerifier(tc.url, nil)
			// The second call, within the minute, fetches nothing and
			// answers alike: a failed fetch is not a forged report.
			for range 2 {
				if err := v.Verify(context.Background(), "k", sig, body); !errors.Is(err, tc.want) {
					t.Fatalf("Verify: %v, want %v", err, tc.want)
				}
			}
		})
	}
}

// TestFetchTimeout: a document host that never answers is given up on
// within the request's deadline.
func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	v := secretscan.NewVerifier(srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := v.Verify(ctx, "k", "c2ln", []byte("x")); !errors.Is(err, secretscan.ErrFetch) {
		t.Fatalf("Verify: %v, want ErrFetch", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a silent host held the fetch %s", d)
	}
}
