package handlers_test

// The differential test (issue 11, part A): every hostile request of the
// table is sent, byte for byte, to zectre-auth in proxy mode in front of a
// recorder of each of four stacks (Go net/http, Node.js http, Python
// http.server, nginx). A request zectre-auth refuses must reach no stack; a
// request it forwards must be read by every stack as exactly what was
// decided: the method, the normalised path, only the verified credential,
// the identity of the decided caller, no method override, no framing
// look-alike, and an X-Forwarded-For that ends with the peer.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/config"
)

// diffRoutes: a required tree, a DELETE-only admin tree that needs the
// "admin" scope, a public tree; optional elsewhere.
var diffRoutes = []config.Route{
	{Path: "/private/**", Auth: config.AuthRequired},
	{Path: "/admin/**", Methods: []string{"DELETE"}, Auth: config.AuthRequired, Scopes: []string{"admin"}},
	{Path: "/public/**", Auth: config.AuthPublic},
}

// Values that name no real credential.
const (
	forgedToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJldmlsIn0.Zm9yZ2Vk"
	unknownKey  = "zec_unknownunknownunknownunknownunknown0000"
)

// diffRow is one hostile request and what zectre-auth must do with it.
// Header values and expectations name credentials and callers by
// placeholder: {token} (user A's token), {key} (A's key, scopes "*"), {ro}
// (A's key with "apps:read" only), {other} (user B's key), {userA}, {userB}.
type diffRow struct {
	class   string // the item of issue 11 part A
	name    string
	method  string // default GET
	target  string
	proto   string   // default HTTP/1.1
	headers []string // name, value pairs, sent in order
	body    string   // sent with Content-Length (also "" for methods that carry a body)
	want    outcome
}

// outcome is either an answer of zectre-auth itself (forward false: then
// no stack may see anything) or a forwarded request and what every stack
// must read of it.
type outcome struct {
	status  int
	code    string // the error code; "" for a success
	forward bool
	method  string   // the decided method; "" the row's
	target  string   // the decided target; "" the row's
	creds   []string // the credential lines the upstream gets, exactly
	user    string   // the decided caller (forwarded, or named by a 200 of forward-auth); "" anonymous
	xff     string   // the X-Forwarded-For the upstream gets; "" only its last entry is checked
	client  string   // the client address of the audit line; "" not checked
}

func answered(status int, code string) outcome { return outcome{status: status, code: code} }

// verified is forward-auth's 200 for user (or anonymous).
func verified(user string) outcome { return outcome{status: 200, user: user} }

// passes is a forwarded request of user (or anonymous) with creds.
func passes(user string, creds ...string) outcome {
	return outcome{status: 200, forward: true, user: user, creds: creds}
}

func (o outcome) withTarget(t string) outcome { o.target = t; return o }
func (o outcome) withXFF(xff, client string) outcome {
	o.xff, o.client = xff, client
	return o
}

const (
	bearerToken = "Authorization: Bearer {token}"
	keyA        = "X-API-Key: {key}"
	keyB        = "X-API-Key: {other}"
)

var diffRows = []diffRow{
	// A1: ";" path parameters, raw or escaped, in any segment.
	{class: "A1", name: "raw ;", target: "/private;x/s", want: answered(400, "INVALID_PATH")},
	{class: "A1", name: "%3B", target: "/private%3Bx/s", want: answered(400, "INVALID_PATH")},
	{class: "A1", name: "%3b", target: "/private%3bx/s", want: answered(400, "INVALID_PATH")},
	{class: "A1", name: "..;", target: "/x/..;/private/s", want: answered(400, "INVALID_PATH")},
	{class: "A1", name: "; in the last segment", target: "/private/s;jsessionid=1", want: answered(400, "INVALID_PATH")},
	{class: "A1", name: "; under a public tree", target: "/public/x;y", want: answered(400, "INVALID_PATH")},
	{class: "A1", name: "; with a valid token", target: "/private;x/s", headers: []string{"Authorization", "Bearer {token}"},
		want: answered(400, "INVALID_PATH")},
	{class: "A1", name: "; in the query is fine", target: "/private/s?a=1;b=2", headers: []string{"Authorization", "Bearer {token}"},
		want: passes("{userA}", bearerToken)},

	// A2: path case and method case.
	{class: "A2", name: "upper case", target: "/PRIVATE/s", want: answered(401, "UNAUTHORIZED")},
	{class: "A2", name: "mixed case", target: "/Private/s", want: answered(401, "UNAUTHORIZED")},
	{class: "A2", name: "dotless i", target: "/pr%C4%B1vate/s", want: answered(401, "UNAUTHORIZED")},
	{class: "A2", name: "escaped upper case", target: "/PRIV%41TE/s", want: answered(401, "UNAUTHORIZED")},
	{class: "A2", name: "upper case with a token keeps its spelling", target: "/PRIVATE/s",
		headers: []string{"Authorization", "Bearer {token}"}, want: passes("{userA}", bearerToken)},
	{class: "A2", name: "upper case admin without the scope", method: "DELETE", target: "/ADMIN/x",
		headers: []string{"X-API-Key", "{ro}"}, want: answered(403, "INSUFFICIENT_SCOPE")},
	{class: "A2", name: "mixed case admin anonymous", method: "DELETE", target: "/Admin/x", want: answered(401, "UNAUTHORIZED")},
	{class: "A2", name: "upper case admin with the scope", method: "DELETE", target: "/ADMIN/x",
		headers: []string{"X-API-Key", "{key}"}, want: passes("{userA}", keyA)},
	{class: "A2", name: "method post", method: "post", target: "/admin/x", want: answered(400, "INVALID_METHOD")},
	{class: "A2", name: "method delete", method: "delete", target: "/admin/x", want: answered(400, "INVALID_METHOD")},
	{class: "A2", name: "method Get", method: "Get", target: "/private/s", headers: []string{"Authorization", "Bearer {token}"},
		want: answered(400, "INVALID_METHOD")},
	{class: "A2", name: "API namespace in upper case", target: "/API/V1/USER", headers: []string{"Authorization", "Bearer {token}"},
		want: answered(404, "NOT_FOUND")},
	{class: "A2", name: "verify endpoint in mixed case", target: "/Api/V1/Auth/Verify", want: answered(200, "")},

	// A3: method overrides never reach the upstream; _method is decided.
	{class: "A3", name: "X-HTTP-Method-Override", method: "POST", target: "/admin/x",
		headers: []string{"X-HTTP-Method-Override", "DELETE"}, want: passes("")},
	{class: "A3", name: "x_http_method_override", method: "POST", target: "/admin/x",
		headers: []string{"x_http_method_override", "DELETE"}, want: passes("")},
	{class: "A3", name: "X.HTTP.Method", method: "POST", target: "/admin/x",
		headers: []string{"X.HTTP.Method", "DELETE"}, want: passes("")},
	{class: "A3", name: "x-http-method", method: "POST", target: "/admin/x",
		headers: []string{"x-http-method", "DELETE"}, want: passes("")},
	{class: "A3", name: "X-Method-Override", method: "POST", target: "/admin/x",
		headers: []string{"X-Method-Override", "delete"}, want: passes("")},
	{class: "A3", name: "X_Method.Override with a key", method: "POST", target: "/admin/x",
		headers: []string{"X-API-Key", "{key}", "X_Method.Override", "DELETE"}, want: passes("{userA}", keyA)},
	{class: "A3", name: "_method anonymous", method: "POST", target: "/admin/x?_method=DELETE", want: answered(401, "UNAUTHORIZED")},
	{class: "A3", name: "_method without the scope", method: "POST", target: "/admin/x?_method=DELETE",
		headers: []string{"X-API-Key", "{ro}"}, want: answered(403, "INSUFFICIENT_SCOPE")},
	{class: "A3", name: "_method lower case without the scope", method: "POST", target: "/admin/x?_method=delete",
		headers: []string{"X-API-Key", "{ro}"}, want: answered(403, "INSUFFICIENT_SCOPE")},
	{class: "A3", name: "_method with the scope", method: "POST", target: "/admin/x?_method=DELETE",
		headers: []string{"X-API-Key", "{key}"}, want: passes("{userA}", keyA)},

	// A4: every credential line is verified; the upstream gets only the one.
	{class: "A4", name: "the same token twice", target: "/private/s",
		headers: []string{"Authorization", "Bearer {token}", "Authorization", "Bearer {token}"}, want: passes("{userA}", bearerToken)},
	{class: "A4", name: "token then forged", target: "/private/s",
		headers: []string{"Authorization", "Bearer {token}", "Authorization", "Bearer " + forgedToken}, want: answered(401, "INVALID_TOKEN")},
	{class: "A4", name: "forged then token", target: "/private/s",
		headers: []string{"Authorization", "Bearer " + forgedToken, "Authorization", "Bearer {token}"}, want: answered(401, "INVALID_TOKEN")},
	{class: "A4", name: "empty then forged", target: "/other",
		headers: []string{"Authorization", "", "Authorization", "Bearer " + forgedToken}, want: answered(401, "INVALID_TOKEN")},
	{class: "A4", name: "empty then token", target: "/private/s",
		headers: []string{"Authorization", "", "Authorization", "Bearer {token}"}, want: passes("{userA}", bearerToken)},
	{class: "A4", name: "empty key then key", target: "/private/s",
		headers: []string{"X-API-Key", "", "X-API-Key", "{key}"}, want: passes("{userA}", keyA)},
	{class: "A4", name: "the same key twice", target: "/private/s",
		headers: []string{"X-API-Key", "{key}", "X-API-Key", "{key}"}, want: passes("{userA}", keyA)},
	{class: "A4", name: "keys of two users", target: "/private/s",
		headers: []string{"X-API-Key", "{key}", "X-API-Key", "{other}"}, want: answered(400, "AMBIGUOUS_CREDENTIALS")},
	{class: "A4", name: "two keys of one user", target: "/other",
		headers: []string{"X-API-Key", "{key}", "X-API-Key", "{ro}"}, want: answered(400, "AMBIGUOUS_CREDENTIALS")},
	{class: "A4", name: "token and unknown key", target: "/other",
		headers: []string{"Authorization", "Bearer {token}", "X-API-Key", unknownKey}, want: answered(401, "INVALID_API_KEY")},
	{class: "A4", name: "key and forged token", target: "/other",
		headers: []string{"X-API-Key", "{key}", "Authorization", "Bearer " + forgedToken}, want: answered(401, "INVALID_TOKEN")},
	{class: "A4", name: "token and key of one user", target: "/private/s",
		headers: []string{"Authorization", "Bearer {token}", "X-API-Key", "{key}"}, want: answered(400, "AMBIGUOUS_CREDENTIALS")},
	{class: "A4", name: "token and another user's key", target: "/private/s",
		headers: []string{"Authorization", "Bearer {token}", "X-API-Key", "{other}"}, want: answered(400, "AMBIGUOUS_CREDENTIALS")},
	{class: "A4", name: "Bearer alone", target: "/other", headers: []string{"Authorization", "Bearer"}, want: answered(401, "INVALID_TOKEN")},
	{class: "A4", name: "Bearer,token", target: "/other", headers: []string{"Authorization", "Bearer,{token}"}, want: answered(401, "INVALID_TOKEN")},
	{class: "A4", name: "Bearer tab token", target: "/other", headers: []string{"Authorization", "Bearer\t{token}"}, want: answered(401, "INVALID_TOKEN")},
	{class: "A4", name: "Basic", target: "/other", headers: []string{"Authorization", "Basic dXNlcjpwYXNz"}, want: answered(401, "INVALID_TOKEN")},
	{class: "A4", name: "X_API_Key", target: "/other", headers: []string{"X_API_Key", "{key}"}, want: answered(400, "AMBIGUOUS_CREDENTIALS")},
	{class: "A4", name: "X.Api.Key", target: "/other", headers: []string{"X.Api.Key", "{key}"}, want: answered(400, "AMBIGUOUS_CREDENTIALS")},
	{class: "A4", name: "x_api_key next to a key", target: "/private/s",
		headers: []string{"X-API-Key", "{key}", "x_api_key", "{other}"}, want: answered(400, "AMBIGUOUS_CREDENTIALS")},
	{class: "A4", name: "key alone", target: "/private/s", headers: []string{"X-API-Key", "{key}"}, want: passes("{userA}", keyA)},
	{class: "A4", name: "another user's key", target: "/other", headers: []string{"X-API-Key", "{other}"}, want: passes("{userB}", keyB)},
	{class: "A4", name: "public: credentials never pass", target: "/public/x",
		headers: []string{"Authorization", "Bearer {token}", "X-API-Key", "{key}"}, want: passes("")},
	{class: "A4", name: "public: bad credentials never pass", target: "/public/x",
		headers: []string{"Authorization", "Bearer " + forgedToken, "X-API-Key", unknownKey, "Authorization", "Basic eDp5"}, want: passes("")},

	// A5: the client address is the right-most untrusted entry of every
	// X-Forwarded-For line joined (the test's peer, loopback, is trusted).
	{class: "A5", name: "two lines", target: "/other",
		headers: []string{"X-API-Key", "{key}", "X-Forwarded-For", "198.51.100.1", "X-Forwarded-For", "203.0.113.7"},
		want:    passes("{userA}", keyA).withXFF("198.51.100.1, 203.0.113.7, 127.0.0.1", "203.0.113.7")},
	{class: "A5", name: "a list, then a line", target: "/other",
		headers: []string{"X-API-Key", "{key}", "X-Forwarded-For", "198.51.100.1, 203.0.113.7", "X-Forwarded-For", "192.0.2.9"},
		want:    passes("{userA}", keyA).withXFF("198.51.100.1, 203.0.113.7, 192.0.2.9, 127.0.0.1", "192.0.2.9")},
	{class: "A5", name: "a trusted entry last", target: "/other",
		headers: []string{"X-API-Key", "{key}", "X-Forwarded-For", "203.0.113.7", "X-Forwarded-For", "127.0.0.2"},
		want:    passes("{userA}", keyA).withXFF("203.0.113.7, 127.0.0.2, 127.0.0.1", "203.0.113.7")},
	{class: "A5", name: "X_Forwarded_For next to the real one", target: "/other",
		headers: []string{"X-API-Key", "{key}", "X-Forwarded-For", "203.0.113.7", "X_Forwarded_For", "6.6.6.6"},
		want:    passes("{userA}", keyA).withXFF("203.0.113.7, 127.0.0.1", "203.0.113.7")},

	// A6: framing and managed-header look-alikes next to real framing.
	{class: "A6", name: "Transfer_Encoding", method: "POST", target: "/other", body: "hello",
		headers: []string{"Transfer_Encoding", "chunked"}, want: passes("")},
	{class: "A6", name: "Transfer.Encoding", method: "POST", target: "/other", body: "hello",
		headers: []string{"Transfer.Encoding", "chunked"}, want: passes("")},
	{class: "A6", name: "transfer_encoding", method: "POST", target: "/other", body: "hello",
		headers: []string{"transfer_encoding", "gzip"}, want: passes("")},
	{class: "A6", name: "Content_Length", method: "POST", target: "/other", body: "hello",
		headers: []string{"Content_Length", "50"}, want: passes("")},
	{class: "A6", name: "Content.Length", method: "POST", target: "/other", body: "hello",
		headers: []string{"Content.Length", "50"}, want: passes("")},
	{class: "A6", name: "hop-by-hop look-alikes", method: "POST", target: "/other", body: "hello",
		headers: []string{"Keep_Alive", "300", "Proxy_Connection", "keep-alive", "Proxy.Connection", "close"}, want: passes("")},
	{class: "A6", name: "X_Request_Id and X.Forwarded.Host", target: "/other",
		headers: []string{"X_Request_Id", "evil", "X.Forwarded.Host", "evil.example"}, want: passes("")},

	// A8: protocols other than HTTP/1.1 and HTTP/1.0.
	{class: "A8", name: "HTTP/2.0", target: "/other", proto: "HTTP/2.0", want: answered(505, "HTTP_VERSION_NOT_SUPPORTED")},
	{class: "A8", name: "HTTP/1.2", target: "/other", proto: "HTTP/1.2", want: answered(505, "HTTP_VERSION_NOT_SUPPORTED")},
	{class: "A8", name: "HTTP/0.9", target: "/other", proto: "HTTP/0.9", want: answered(505, "HTTP_VERSION_NOT_SUPPORTED")},
	{class: "A8", name: "http/1.1", target: "/other", proto: "http/1.1", want: answered(505, "HTTP_VERSION_NOT_SUPPORTED")},
	{class: "A8", name: "HTTP/2.0 with a key", target: "/private/s", proto: "HTTP/2.0",
		headers: []string{"X-API-Key", "{key}"}, want: answered(505, "HTTP_VERSION_NOT_SUPPORTED")},
	{class: "A8", name: "HTTP/1.0 is served", target: "/other", proto: "HTTP/1.0", want: passes("")},

	// Forward-auth asked directly by a trusted peer (the test's, loopback):
	// the same classes in the original request it names, and A7. The
	// endpoint answers; it never forwards.
	{class: "A1", name: "verify: ; in X-Original-URI", target: verify,
		headers: []string{"X-Original-URI", "/private;x/s"}, want: answered(400, "INVALID_PATH")},
	{class: "A1", name: "verify: %3B in X-Forwarded-Uri", target: verify,
		headers: []string{"X-Forwarded-Uri", "/private%3Bx/s"}, want: answered(400, "INVALID_PATH")},
	{class: "A1", name: "verify: ; in the query is fine", target: verify,
		headers: []string{"X-Original-URI", "/public/x?a=1;b=2"}, want: verified("")},
	{class: "A2", name: "verify: upper case", target: verify,
		headers: []string{"X-Original-URI", "/PRIVATE/s"}, want: answered(401, "UNAUTHORIZED")},
	{class: "A2", name: "verify: dotless i", target: verify,
		headers: []string{"X-Original-URI", "/pr%C4%B1vate/s"}, want: answered(401, "UNAUTHORIZED")},
	{class: "A2", name: "verify: X-Original-Method post", target: verify,
		headers: []string{"X-Original-URI", "/admin/x", "X-Original-Method", "post"}, want: answered(400, "INVALID_METHOD")},
	{class: "A2", name: "verify: X-Forwarded-Method Get", target: verify,
		headers: []string{"Authorization", "Bearer {token}", "X-Forwarded-Uri", "/private/s", "X-Forwarded-Method", "Get"},
		want:    answered(400, "INVALID_METHOD")},
	{class: "A2", name: "verify: the endpoint in upper case", target: "/API/V1/AUTH/VERIFY",
		headers: []string{"X-Original-URI", "/private/s"}, want: answered(401, "UNAUTHORIZED")},
	{class: "A3", name: "verify: X-HTTP-Method-Override", target: verify,
		headers: []string{"X-Original-URI", "/admin/x", "X-Original-Method", "POST", "X-HTTP-Method-Override", "DELETE"},
		want:    answered(401, "UNAUTHORIZED")},
	{class: "A3", name: "verify: x_http_method_override without the scope", target: verify,
		headers: []string{"X-API-Key", "{ro}", "X-Original-URI", "/admin/x", "X-Original-Method", "POST", "x_http_method_override", "delete"},
		want:    answered(403, "INSUFFICIENT_SCOPE")},
	{class: "A3", name: "verify: _method without the scope", target: verify,
		headers: []string{"X-API-Key", "{ro}", "X-Original-URI", "/admin/x?_method=DELETE", "X-Original-Method", "POST"},
		want:    answered(403, "INSUFFICIENT_SCOPE")},
	{class: "A3", name: "verify: override with the scope", target: verify,
		headers: []string{"X-API-Key", "{key}", "X-Original-URI", "/admin/x", "X-Original-Method", "POST", "X-HTTP-Method-Override", "DELETE"},
		want:    verified("{userA}")},
	{class: "A4", name: "verify: token then forged", target: verify,
		headers: []string{"Authorization", "Bearer {token}", "Authorization", "Bearer " + forgedToken, "X-Original-URI", "/other"},
		want:    answered(401, "INVALID_TOKEN")},
	{class: "A4", name: "verify: keys of two users", target: verify,
		headers: []string{"X-API-Key", "{key}", "X-API-Key", "{other}", "X-Original-URI", "/other"},
		want:    answered(400, "AMBIGUOUS_CREDENTIALS")},
	{class: "A4", name: "verify: Bearer alone", target: verify,
		headers: []string{"Authorization", "Bearer", "X-Original-URI", "/other"}, want: answered(401, "INVALID_TOKEN")},
	{class: "A7", name: "verify: two X-Original-URI", target: verify,
		headers: []string{"X-Original-URI", "/private/s", "X-Original-URI", "/public/x"}, want: answered(400, "AMBIGUOUS_ORIGINAL")},
	{class: "A7", name: "verify: the same X-Original-URI twice", target: verify,
		headers: []string{"X-Original-URI", "/public/x", "X-Original-URI", "/public/x"}, want: answered(400, "AMBIGUOUS_ORIGINAL")},
	{class: "A7", name: "verify: two X-Forwarded-Uri", target: verify,
		headers: []string{"X-Forwarded-Uri", "/public/x", "X-Forwarded-Uri", "/private/s"}, want: answered(400, "AMBIGUOUS_ORIGINAL")},
	{class: "A7", name: "verify: two X-Forwarded-Method", target: verify,
		headers: []string{"X-Forwarded-Uri", "/admin/x", "X-Forwarded-Method", "GET", "X-Forwarded-Method", "DELETE"},
		want:    answered(400, "AMBIGUOUS_ORIGINAL")},
	{class: "A7", name: "verify: two X-Original-Method", target: verify,
		headers: []string{"X-Original-URI", "/admin/x", "X-Original-Method", "DELETE", "X-Original-Method", "GET"},
		want:    answered(400, "AMBIGUOUS_ORIGINAL")},
	{class: "A7", name: "verify: one of each is fine", target: verify,
		headers: []string{"Authorization", "Bearer {token}", "X-Original-URI", "/private/s", "X-Original-Method", "GET"},
		want:    verified("{userA}")},
}

// verify is the forward-auth endpoint.
const verify = "/api/v1/auth/verify"

// diffEdge is zectre-auth in proxy mode in front of one stack's recorder,
// with a second user and the replacer of placeholders by its secrets.
type diffEdge struct {
	*edge
	stack  stack
	secret *strings.Replacer // placeholders to this edge's values
	name   *strings.Replacer // this edge's values to placeholders
}

func startDiffEdge(t *testing.T, s stack) *diffEdge {
	t.Helper()
	return withSecrets(t, startEdge(t, edgeOptions{routes: diffRoutes, upstream: s.url, trusted: config.DefaultTrustedProxies()}), s)
}

// withSecrets adds user B, with a key, to e and names e's secrets.
func withSecrets(t *testing.T, e *edge, s stack) *diffEdge {
	t.Helper()
	tokB := e.signupLogin("other@example.com")
	otherKey, _ := e.createKey(tokB, map[string]any{"name": "other"})
	r := e.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+tokB)
	expect(t, r, 200, "")
	pairs := []string{"{token}", e.token, "{key}", e.key, "{ro}", e.roKey, "{other}", otherKey, "{userA}", e.userID, "{userB}", r.str("id")}
	reversed := make([]string, 0, len(pairs))
	for i := 0; i < len(pairs); i += 2 {
		reversed = append(reversed, pairs[i+1], pairs[i])
	}
	return &diffEdge{edge: e, stack: s, secret: strings.NewReplacer(pairs...), name: strings.NewReplacer(reversed...)}
}

// TestDifferential sends every row to each stack through its own
// zectre-auth and compares what each stack read with what was decided,
// and the stacks with each other.
func TestDifferential(t *testing.T) {
	stacks := startStacks(t)
	edges := make([]*diffEdge, len(stacks))
	for i, s := range stacks {
		edges[i] = startDiffEdge(t, s)
	}
	for _, row := range diffRows {
		t.Run(row.class+" "+row.name, func(t *testing.T) {
			got := map[string]reading{}
			for _, e := range edges {
				reply := sendRaw(e.addr, row, e.secret)
				for _, p := range checkReply(reply, row.want, e.name) {
					t.Errorf("%s: %s", e.stack.name, p)
				}
				// Every recorder answers with its view: an answer from one
				// says its log will show the request.
				expected := ""
				if strings.Contains(string(reply.body), `"stack":"`+e.stack.name+`"`) {
					expected = e.stack.name
				}
				reached := collectViews(stacks, expected)
				if !row.want.forward {
					if got := e.name.Replace(reply.header.Get("X-Zectre-User-Id")); row.want.status == 200 && reply.status == 200 && got != row.want.user {
						t.Errorf("%s: forward-auth named caller %q, decided %q", e.stack.name, got, row.want.user)
					}
					for name, vs := range reached {
						t.Errorf("%s: a refused request reached %s: %s", e.stack.name, name, e.name.Replace(fmt.Sprintf("%+v", vs)))
					}
					continue
				}
				for name, vs := range reached {
					if name != e.stack.name {
						t.Errorf("%s: the request reached another stack, %s: %s", e.stack.name, name, e.name.Replace(fmt.Sprintf("%+v", vs)))
					}
				}
				vs := reached[e.stack.name]
				if len(vs) != 1 {
					t.Errorf("%s: the stack saw %d requests, want 1", e.stack.name, len(vs))
					continue
				}
				rd := readingOf(vs[0], e.name)
				got[e.stack.name] = rd
				for _, p := range rd.problems(row) {
					t.Errorf("%s: %s\n\tthe stack read %s", e.stack.name, p, e.name.Replace(fmt.Sprintf("%+v", vs[0])))
				}
				if row.want.client != "" {
					if c := auditClient(t, e.edge, reply.header.Get("X-Request-Id")); c != row.want.client {
						t.Errorf("%s: the audit line names client %q, want %q", e.stack.name, c, row.want.client)
					}
				}
			}
			compareStacks(t, got)
		})
	}
}

// sendRaw writes row's request on a new connection exactly as written,
// placeholders replaced, and reads the answer (status 0: none).
func sendRaw(addr string, row diffRow, secret *strings.Replacer) rawReply {
	method, proto := row.method, row.proto
	if method == "" {
		method = "GET"
	}
	if proto == "" {
		proto = "HTTP/1.1"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: app.example\r\nConnection: close\r\n", method, row.target, proto)
	for i := 0; i+1 < len(row.headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", row.headers[i], secret.Replace(row.headers[i+1]))
	}
	if row.body != "" || !slices.Contains([]string{"GET", "HEAD", "DELETE"}, method) {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(row.body))
	}
	b.WriteString("\r\n" + row.body)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return rawReply{body: []byte(err.Error())}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, b.String()); err != nil {
		return rawReply{body: []byte(err.Error())}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return rawReply{body: []byte("no HTTP answer: " + err.Error())}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return rawReply{resp.StatusCode, resp.Header, body}
}

// checkReply compares zectre-auth's answer with the outcome; name hides
// the secrets in what it quotes.
func checkReply(r rawReply, want outcome, name *strings.Replacer) []string {
	var out []string
	if r.status != want.status || (want.code != "" && r.code() != want.code) {
		out = append(out, fmt.Sprintf("answered %d %q, want %d %q; body %.300s", r.status, r.code(), want.status, want.code, name.Replace(string(r.body))))
	}
	if r.status == 0 {
		return out
	}
	if r.header.Get("X-Request-Id") == "" {
		out = append(out, "the answer has no X-Request-Id")
	}
	if r.status >= 400 && (r.header.Get("Content-Type") != "application/json" || r.code() == "") {
		out = append(out, fmt.Sprintf("%d without the JSON error envelope: %q %.200s", r.status, r.header.Get("Content-Type"), name.Replace(string(r.body))))
	}
	return out
}

// collectViews takes what reached every stack, by stack name, once the
// stack named want (if any) has logged a request. nginx logs a request only
// after it has answered, so what reached it shows a moment after the
// answer: every request gets that moment before nothing counts as nothing.
func collectViews(stacks []stack, want string) map[string][]view {
	out := map[string][]view{}
	time.Sleep(10 * time.Millisecond)
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		for _, s := range stacks {
			out[s.name] = append(out[s.name], s.take()...)
		}
		if want == "" || len(out[want]) > 0 || time.Now().After(deadline) {
			break
		}
	}
	for name, vs := range out {
		if len(vs) == 0 {
			delete(out, name)
		}
	}
	return out
}

// auditClient is the client address of the audit line of a request id.
func auditClient(t *testing.T, e *edge, id string) string {
	t.Helper()
	if err := e.api.Audit.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(e.audit.String(), "\n") {
		if id != "" && strings.Contains(line, `"request_id":"`+id+`"`) {
			_, rest, _ := strings.Cut(line, `"client":"`)
			client, _, _ := strings.Cut(rest, `"`)
			return client
		}
	}
	return "(no audit line)"
}

// compareStacks fails when the stacks read a forwarded request differently
// in what all of them expose.
func compareStacks(t *testing.T, got map[string]reading) {
	t.Helper()
	var first, firstName string
	for _, name := range []string{"go", "node", "python", "nginx"} {
		rd, ok := got[name]
		if !ok {
			continue
		}
		if firstName == "" {
			first, firstName = rd.common(), name
			continue
		}
		if c := rd.common(); c != first {
			t.Errorf("the stacks disagree:\n\t%s: %s\n\t%s: %s", firstName, first, name, c)
		}
	}
}
