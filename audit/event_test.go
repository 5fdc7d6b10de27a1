package audit

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/zectre/zectre-auth/authn"
)

// TestNewEvent: the one constructor gives each kind of attempt the line it
// has always had: credential attempts of the edge and the Authentication
// API (ok, refused, refused for a scope after resolving) and the password
// checks of login and CLI complete (no code, no reason).
func TestNewEvent(t *testing.T) {
	key, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr("192.0.2.7")
	keyUser := authn.AuthUser{ID: "u1", Method: authn.MethodAPIKey, APIKeyID: "k1"}
	code := func(err error) string {
		if errors.Is(err, authn.ErrInsufficientScope) {
			return "FORBIDDEN"
		}
		return "UNAUTHORIZED"
	}
	where := Attempt{Source: "verify", Path: "/apps/1", Client: client, RequestID: "req-1"}
	with := func(f func(*Attempt)) Attempt {
		at := where
		f(&at)
		return at
	}
	base := Event{Source: "verify", Path: "/apps/1", Client: client, RequestID: "req-1"}
	want := func(f func(*Event)) Event {
		e := base
		f(&e)
		return e
	}
	tests := []struct {
		name string
		at   Attempt
		code func(error) string
		want Event
	}{
		{
			name: "resolved key",
			at:   with(func(a *Attempt) { a.Credentials, a.User = authn.Credentials{APIKey: key.Raw}, keyUser }),
			code: code,
			want: want(func(e *Event) {
				e.Outcome, e.Method, e.UserID, e.KeyID, e.KeyPrefix = "ok", "api_key", "u1", "k1", key.Prefix
			}),
		},
		{
			name: "refused bearer token",
			at: with(func(a *Attempt) {
				a.Credentials, a.Err = authn.Credentials{Authorization: "Bearer eyJhbGciOi"}, authn.ErrInvalidToken
			}),
			code: code,
			want: want(func(e *Event) {
				e.Outcome, e.Method, e.Code, e.Reason = "denied", "bearer", "UNAUTHORIZED", "authn: invalid token"
			}),
		},
		{
			name: "refused key as a bearer token",
			at: with(func(a *Attempt) {
				a.Credentials, a.Err = authn.Credentials{Authorization: "Bearer " + key.Raw}, authn.ErrInvalidKey
			}),
			code: code,
			want: want(func(e *Event) {
				e.Outcome, e.Method, e.KeyPrefix = "denied", "api_key", key.Prefix
				e.Code, e.Reason = "UNAUTHORIZED", "authn: invalid api key"
			}),
		},
		{
			name: "resolved, then refused for a scope",
			at: with(func(a *Attempt) {
				a.Credentials, a.User, a.Err = authn.Credentials{APIKey: key.Raw}, keyUser, authn.ErrInsufficientScope
			}),
			code: code,
			want: want(func(e *Event) {
				e.Outcome, e.Method, e.UserID, e.KeyID, e.KeyPrefix = "denied", "api_key", "u1", "k1", key.Prefix
				e.Code, e.Reason = "FORBIDDEN", "authn: insufficient scope"
			}),
		},
		{
			name: "no coder: no code",
			at:   with(func(a *Attempt) { a.Err = authn.ErrAmbiguousCredentials }),
			want: want(func(e *Event) { e.Outcome, e.Reason = "denied", authn.ErrAmbiguousCredentials.Error() }),
		},
		{
			name: "password check refused by a limit",
			at:   with(func(a *Attempt) { a.Method, a.Outcome = "password", "limited" }),
			code: code,
			want: want(func(e *Event) { e.Outcome, e.Method = "limited", "password" }),
		},
		{
			name: "wrong password",
			at:   with(func(a *Attempt) { a.Method, a.UserID, a.Outcome = "cli", "u2", "denied" }),
			code: code,
			want: want(func(e *Event) { e.Outcome, e.Method, e.UserID = "denied", "cli", "u2" }),
		},
		{
			name: "disabled account",
			at:   with(func(a *Attempt) { a.Method, a.UserID, a.Outcome = "password", "u2", "disabled" }),
			code: code,
			want: want(func(e *Event) { e.Outcome, e.Method, e.UserID = "disabled", "password", "u2" }),
		},
		{
			name: "password accepted",
			at:   with(func(a *Attempt) { a.Method, a.UserID, a.Outcome = "password", "u2", "ok" }),
			code: code,
			want: want(func(e *Event) { e.Outcome, e.Method, e.UserID = "ok", "password", "u2" }),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewEvent(tc.at, tc.code); got != tc.want {
				t.Errorf("NewEvent:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
