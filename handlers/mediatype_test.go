package handlers_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/store"
)

// TestJSONContentType: every endpoint that reads a body answers 415
// UNSUPPORTED_MEDIA_TYPE to a body declared as anything but JSON, and
// changes nothing; JSON types in any spelling, and no Content-Type at all,
// are read.
func TestJSONContentType(t *testing.T) {
	s := startService(t, storeURLForOneStore(t), testPolicy())
	token := s.signupLogin("mt@example.com")
	types := []struct {
		ct string // "" sends no Content-Type
		ok bool
	}{
		{"", true},
		{"application/json", true},
		{"Application/JSON", true},
		{"application/json; charset=utf-8", true},
		{"application/json;charset=UTF-8", true},
		{"application/merge-patch+json", true},
		{"application/vnd.api+json; charset=utf-8", true},
		{"APPLICATION/PROBLEM+JSON", true},

		{"text/plain", false},
		{"text/plain; charset=utf-8", false},
		{"TEXT/PLAIN", false},
		{"application/x-www-form-urlencoded", false},
		{"Application/X-WWW-Form-Urlencoded; charset=utf-8", false},
		{"multipart/form-data; boundary=xyz", false},
		{"multipart/form-data", false},
		{"text/json", false},
		{"application/jsonp", false},
		{"application/json-seq", false},
		{"application/+json", false},
		{"application/xml", false},
		{"application/octet-stream", false},
		{"text/html", false},
		{"json", false},
		{"application/json; charset", false}, // not a media type
	}
	// Each endpoint: a valid JSON body for pass n, the status of success,
	// and a check that a refused request changed nothing.
	type endpoint struct {
		name, path string
		auth       bool
		body       func(n int) string
		status     int
		unchanged  func(t *testing.T, n int)
	}
	codes := map[int]string{}
	endpoints := []endpoint{
		{name: "signup", path: "/api/v1/auth/signup", status: 201,
			body: func(n int) string { return fmt.Sprintf(`{"email":"mt%d@example.com","password":"hunter2abc"}`, n) },
			unchanged: func(t *testing.T, n int) {
				if _, err := s.store.UserByEmail(t.Context(), fmt.Sprintf("mt%d@example.com", n)); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("a refused signup made an account: %v", err)
				}
			}},
		{name: "login", path: "/api/v1/auth/login", status: 200,
			body: func(int) string { return `{"email":"mt@example.com","password":"hunter2abc"}` }},
		{name: "cli initiate", path: "/api/v1/auth/cli/initiate", status: 200,
			body: func(int) string { return `{"device_name":"mt"}` }},
		{name: "cli complete", path: "/api/v1/auth/cli/complete", status: 200,
			body: func(n int) string {
				codes[n] = s.do("POST", "/api/v1/auth/cli/initiate", nil).str("code")
				return fmt.Sprintf(`{"code":%q,"email":"mt@example.com","password":"hunter2abc"}`, codes[n])
			},
			unchanged: func(t *testing.T, n int) {
				if r := s.do("GET", "/api/v1/auth/cli/status/"+codes[n], nil); r.str("status") != "pending" {
					t.Fatalf("a refused complete changed the login: %s", r.raw)
				}
			}},
		{name: "api key create", path: "/api/v1/api-keys", auth: true, status: 201,
			body: func(n int) string { return fmt.Sprintf(`{"name":"mt key %d"}`, n) },
			unchanged: func(t *testing.T, n int) {
				r := s.do("GET", "/api/v1/api-keys", nil, "Authorization", "Bearer "+token)
				if strings.Contains(string(r.raw), fmt.Sprintf(`"mt key %d"`, n)) {
					t.Fatalf("a refused create made a key: %s", r.raw)
				}
			}},
	}
	n := 0
	for _, ep := range endpoints {
		for _, ty := range types {
			n++
			t.Run(ep.name+"/"+ty.ct, func(t *testing.T) {
				req, err := http.NewRequest("POST", s.base+ep.path, strings.NewReader(ep.body(n)))
				if err != nil {
					t.Fatal(err)
				}
				if ty.ct != "" {
					req.Header.Set("Content-Type", ty.ct)
				}
				if ep.auth {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				r := s.send(req)
				if ty.ok {
					expect(t, r, ep.status, "")
					return
				}
				expect(t, r, 415, "UNSUPPORTED_MEDIA_TYPE")
				e, _ := r.body["error"].(map[string]any)
				if msg, _ := e["message"].(string); !strings.Contains(msg, "Content-Type: application/json") {
					t.Fatalf("the message does not say which type to send: %q", msg)
				}
				if ep.unchanged != nil {
					ep.unchanged(t, n)
				}
			})
		}
	}
	// A bare initiate (no body, no type) still starts a login; a form type
	// without a body is still a form post.
	expect(t, s.do("POST", "/api/v1/auth/cli/initiate", nil), 200, "")
	req, _ := http.NewRequest("POST", s.base+"/api/v1/auth/cli/initiate", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	expect(t, s.send(req), 415, "UNSUPPORTED_MEDIA_TYPE")
}
