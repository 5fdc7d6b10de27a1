package handlers_test

import (
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/config"
)

// spoofRoutes: a public tree, a required tree, optional elsewhere.
var spoofRoutes = []config.Route{
	{Path: "/public/**", Auth: config.AuthPublic},
	{Path: "/admin/**", Auth: config.AuthRequired},
}

// forgedIdentity claims an identity in every spelling an upstream might
// fold into X-Zectre-*.
var forgedIdentity = []string{
	"X-Zectre-User-Id", "evil",
	"x-zectre-user-id", "evil",
	"X-ZECTRE-USER-EMAIL", "evil@example.com",
	"X_Zectre_User_Id", "evil",
	"X.Zectre.User.Id", "evil",
	"x-zectre_user.id", "evil",
	"X-Zectre-User-Admin", "true",
	"X_ZECTRE_USER_ADMIN", "true",
	"X-Zectre-Auth-Method", "evil",
	"X-Zectre-Api-Key-Id", "evil",
	"X-Zectre-Scopes", "*",
	"X.zectre.scopes", "*",
	"X-Zectre-Invented", "evil",
}

// TestEdgeIdentitySpoofing: whatever identity the client claims, the
// upstream sees only the one zectre-auth resolved (or none).
func TestEdgeIdentitySpoofing(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{routes: spoofRoutes, upstream: up.srv.URL, trusted: []string{"10.0.0.0/8"}})
	cases := []struct {
		name    string
		target  string
		headers []string
		userID  string // the identity the upstream must see; "" none
	}{
		{"public, forged", "/public/x", forgedIdentity, ""},
		{"optional, forged, no credential", "/other", forgedIdentity, ""},
		{"optional, forged, key", "/other", append([]string{"X-API-Key", e.key}, forgedIdentity...), e.userID},
		{"required, forged, token", "/admin/x", append([]string{"Authorization", "Bearer " + e.token}, forgedIdentity...), e.userID},
		{"public, forged, key", "/public/x", append([]string{"X-API-Key", e.key}, forgedIdentity...), ""},
		// A client asking the proxy to drop what it sets.
		{"Connection names the identity header", "/admin/x",
			[]string{"X-API-Key", e.key, "Connection", "X-Zectre-User-Id, X-Zectre-Scopes"}, e.userID},
		{"Connection names the key header", "/admin/x",
			[]string{"X-API-Key", e.key, "Connection", "X-API-Key"}, e.userID},
		{"Connection names Authorization", "/admin/x",
			[]string{"Authorization", "Bearer " + e.token, "Connection", "Authorization"}, e.userID},
		{"Connection names a forged header", "/other",
			append([]string{"Connection", "keep-alive, X-Zectre-User-Id"}, forgedIdentity...), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up.take()
			r := e.raw("GET", tc.target, tc.headers...)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			seen := up.take()
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests", len(seen))
			}
			ids := identityHeaders(seen[0].Header)
			for name, vals := range ids {
				for _, v := range vals {
					if strings.Contains(v, "evil") {
						t.Errorf("forged %s: %s reached the upstream", name, v)
					}
				}
				if len(vals) != 1 {
					t.Errorf("%s arrived %d times: %v", name, len(vals), vals)
				}
			}
			if tc.userID == "" {
				if len(ids) != 0 {
					t.Fatalf("anonymous request reached the upstream with %v", ids)
				}
				return
			}
			h := seen[0].Header
			if got := h.Get("X-Zectre-User-Id"); got != tc.userID {
				t.Errorf("X-Zectre-User-Id = %q, want %q", got, tc.userID)
			}
			if got := h.Get("X-Zectre-User-Admin"); got != "false" {
				t.Errorf("X-Zectre-User-Admin = %q", got)
			}
			if got := h.Get("X-Zectre-User-Email"); got != "edge@example.com" {
				t.Errorf("X-Zectre-User-Email = %q", got)
			}
			if h.Get("X-Zectre-Scopes") != "*" || h.Get("X-Zectre-Auth-Method") == "" {
				t.Errorf("scopes %q method %q", h.Get("X-Zectre-Scopes"), h.Get("X-Zectre-Auth-Method"))
			}
		})
	}
}

// TestEdgeForwardedHeaders: X-Forwarded-* and friends are believed only
// from trusted peers.
func TestEdgeForwardedHeaders(t *testing.T) {
	forged := []string{
		"X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https",
		"X-Forwarded-Prefix", "/evil", "Forwarded", "for=6.6.6.6;host=evil.example", "X-Real-Ip", "6.6.6.6",
		"X-Original-Url", "/admin", "X_Forwarded_For", "6.6.6.6",
	}
	t.Run("untrusted peer", func(t *testing.T) {
		up := newUpstream(t)
		e := startEdge(t, edgeOptions{upstream: up.srv.URL, trusted: []string{"10.0.0.0/8"}})
		if r := e.raw("GET", "/x", forged...); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		h := up.take()[0].Header
		if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q", got)
		}
		if got := h.Get("X-Forwarded-Host"); got != "app.example" {
			t.Errorf("X-Forwarded-Host = %q", got)
		}
		if got := h.Get("X-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto = %q", got)
		}
		for name, vals := range h {
			for _, v := range vals {
				if strings.Contains(v, "6.6.6.6") || strings.Contains(v, "evil") || v == "/admin" {
					t.Errorf("forged %s: %s reached the upstream", name, v)
				}
			}
		}
	})
	t.Run("trusted peer", func(t *testing.T) {
		up := newUpstream(t)
		e := startEdge(t, edgeOptions{upstream: up.srv.URL, trusted: []string{"127.0.0.0/8"}})
		if r := e.raw("GET", "/x", "X-Forwarded-For", "192.0.2.1", "X-Forwarded-Host", "public.example",
			"X-Forwarded-Proto", "https", "X-Real-Ip", "192.0.2.1", "X_Forwarded_For", "6.6.6.6"); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		h := up.take()[0].Header
		if got := h.Get("X-Forwarded-For"); got != "192.0.2.1, 127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q", got)
		}
		if h.Get("X-Forwarded-Host") != "public.example" || h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Real-Ip") != "192.0.2.1" {
			t.Errorf("trusted forwarding headers not kept: %v", h)
		}
		if _, ok := h["X_forwarded_for"]; ok {
			t.Errorf("a non-canonical spelling passed: %v", h)
		}
	})
}
