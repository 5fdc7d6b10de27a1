package main

import (
	"fmt"
	"strings"
)

// errorCase is one request the documents answer with an error.
type errorCase struct {
	name         string
	method, path string
	body         string
	header       []string
	status       int
	code         string
}

func (s *smoke) errorCases(cases []errorCase) {
	for _, tc := range cases {
		r := s.c.do(tc.method, tc.path, tc.body, tc.header...)
		s.check(fmt.Sprintf("%s: %d %s", tc.name, tc.status, tc.code), apiError(r, tc.status, tc.code))
	}
}

// accountErrors are signup's and login's documented errors.
func (s *smoke) accountErrors() {
	signup := func(email, password string) string {
		return fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	}
	other := "nobody+" + strings.TrimPrefix(s.email, "smoke+")

	// The README's example of the envelope, word for word.
	r := s.c.do("POST", "/api/v1/auth/signup", signup(s.email, s.password))
	p := apiError(r, 409, "EMAIL_EXISTS")
	if len(p) == 0 {
		if got, want := string(r.raw), `{"error":{"code":"EMAIL_EXISTS","message":"This email is already registered."}}`; got != want {
			p = append(p, fmt.Sprintf("body %s, want %s", got, want))
		}
	}
	s.check("signup again: 409 EMAIL_EXISTS, the README's envelope", p)

	s.errorCases([]errorCase{
		{name: "signup again in upper case", method: "POST", path: "/api/v1/auth/signup", body: signup(strings.ToUpper(s.email), s.password), status: 409, code: "EMAIL_EXISTS"},
		{name: "signup with a malformed email", method: "POST", path: "/api/v1/auth/signup", body: signup("not-an-email", s.password), status: 400, code: "INVALID_EMAIL"},
		{name: "signup without an email", method: "POST", path: "/api/v1/auth/signup", body: fmt.Sprintf(`{"password":%q}`, s.password), status: 400, code: "INVALID_EMAIL"},
		{name: "signup with a short password", method: "POST", path: "/api/v1/auth/signup", body: signup(other, "short"), status: 400, code: "WEAK_PASSWORD"},
		{name: "signup without a password", method: "POST", path: "/api/v1/auth/signup", body: fmt.Sprintf(`{"email":%q}`, other), status: 400, code: "WEAK_PASSWORD"},
		{name: "login with a wrong password", method: "POST", path: "/api/v1/auth/login", body: signup(s.email, s.password+"-wrong"), status: 401, code: "INVALID_CREDENTIALS"},
		{name: "login of an unknown email", method: "POST", path: "/api/v1/auth/login", body: signup(other, s.password), status: 401, code: "INVALID_CREDENTIALS"},
		{name: "login without a password", method: "POST", path: "/api/v1/auth/login", body: fmt.Sprintf(`{"email":%q}`, s.email), status: 400, code: "VALIDATION_ERROR"},
	})
}

// credentialErrors are the answers of an (auth) route to a missing or bad
// credential.
func (s *smoke) credentialErrors() {
	// A well-formed key whose checksum is wrong: refused without a lookup.
	forged := "zec_" + strings.Repeat("A", 42)
	s.errorCases([]errorCase{
		{name: "GET /api/v1/user without a credential", method: "GET", path: "/api/v1/user", status: 401, code: "UNAUTHORIZED"},
		{name: "GET /api/v1/user with another scheme (Basic)", method: "GET", path: "/api/v1/user", header: []string{"Authorization", "Basic YWxpY2U6aHVudGVyMg=="}, status: 401, code: "INVALID_TOKEN"},
		{name: "GET /api/v1/user with a malformed token", method: "GET", path: "/api/v1/user", header: []string{"Authorization", "Bearer not-a-token"}, status: 401, code: "INVALID_TOKEN"},
		{name: "GET /api/v1/user with a forged key", method: "GET", path: "/api/v1/user", header: []string{"X-API-Key", forged}, status: 401, code: "INVALID_API_KEY"},
		{name: "GET /api/v1/api-keys without a credential", method: "GET", path: "/api/v1/api-keys", status: 401, code: "UNAUTHORIZED"},
	})
}

// requestErrors are the answers to unknown paths, wrong methods and bodies
// that are not what a route takes.
func (s *smoke) requestErrors() {
	keys := "/api/v1/api-keys"
	s.errorCases([]errorCase{
		{name: "a trailing slash is not redirected", method: "GET", path: "/api/v1/user/", header: s.bearer(), status: 404, code: "NOT_FOUND"},
		{name: "an unknown path of the API", method: "GET", path: "/api/v1/auth/no-such-route", status: 404, code: "NOT_FOUND"},
		{name: "a wrong method", method: "PUT", path: "/api/v1/user", body: "{}", header: s.bearer(), status: 405, code: "METHOD_NOT_ALLOWED"},
		{name: "delete a key that does not exist", method: "DELETE", path: keys + "/00000000-0000-7000-8000-000000000000", header: s.bearer(), status: 404, code: "NOT_FOUND"},
		{name: "a body that is not JSON", method: "POST", path: "/api/v1/auth/login", body: "email=a@example.com", status: 400, code: "INVALID_JSON"},
		{name: "a form post (what curl -d sends)", method: "POST", path: "/api/v1/auth/login", body: "email=a@example.com", header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "a text/plain post", method: "POST", path: "/api/v1/auth/signup", body: `{"email":"x@example.com","password":"hunter2abc"}`, header: []string{"Content-Type", "text/plain"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "a field of the wrong type", method: "POST", path: keys, body: `{"name":"x","expires_in_days":"30"}`, header: s.bearer(), status: 400, code: "INVALID_JSON"},
		{name: "a key without a name", method: "POST", path: keys, body: `{"scopes":["*"]}`, header: s.bearer(), status: 400, code: "VALIDATION_ERROR"},
		{name: "a key with no scopes", method: "POST", path: keys, body: `{"name":"x","scopes":[]}`, header: s.bearer(), status: 400, code: "VALIDATION_ERROR"},
		{name: "a key expiring in 0 days", method: "POST", path: keys, body: `{"name":"x","expires_in_days":0}`, header: s.bearer(), status: 400, code: "VALIDATION_ERROR"},
	})
}

// cleanup deletes the keys the run left, so that nothing usable stays on
// the instance (the account stays: the API deletes no accounts, and its
// password is random).
func (s *smoke) cleanup() {
	var p []string
	for _, id := range []string{s.scopedID, s.cliKeyID} {
		if id == "" {
			p = append(p, "a key to delete is unknown (an earlier step failed)")
			continue
		}
		r := s.c.do("DELETE", "/api/v1/api-keys/"+id, "", s.bearer()...)
		p = append(p, answer(r, 204)...)
	}
	s.check("delete the run's other keys: 204 each", p)
}
