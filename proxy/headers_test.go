package proxy

import (
	"bufio"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
)

func parseHeader(t *testing.T, lines ...string) *fasthttp.RequestHeader {
	t.Helper()
	raw := "POST /x HTTP/1.1\r\nHost: example.com\r\n" + strings.Join(lines, "\r\n")
	if len(lines) > 0 {
		raw += "\r\n"
	}
	raw += "\r\n"
	var h fasthttp.RequestHeader
	if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return &h
}

// wire is h as it would be written to the upstream.
func wire(h *fasthttp.RequestHeader) string { return string(h.Header()) }

func TestBuildRequest(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		trusted bool
		cred    authn.Credentials // the verified credential, put back
		gone    []string          // substrings the written header must not contain
		kept    []string          // substrings it must contain
	}{
		{
			name: "identity headers in every spelling",
			lines: []string{"X-Zectre-User-Id: a", "x-zectre-user-email: b", "X-ZECTRE-USER-ADMIN: c",
				"X_Zectre_User_Id: d", "X.Zectre.User.Id: e", "x-zectre_user.id: f", "X-Zectre-Anything: g", "X-Other: keep"},
			gone: []string{": a\r", ": b\r", ": c\r", ": d\r", ": e\r", ": f\r", ": g\r"},
			kept: []string{"X-Other: keep"},
		},
		{
			name:  "headers named in Connection, before anything is set",
			lines: []string{"Connection: X-Api-Key, authorization", "Connection: keep-alive, X-Custom", "X-Api-Key: k", "Authorization: Bearer t", "X-Custom: c", "X-Stay: s"},
			gone:  []string{"X-Api-Key", "Authorization", "X-Custom", "Connection"},
			kept:  []string{"X-Stay: s"},
		},
		{
			name:  "hop-by-hop",
			lines: []string{"Keep-Alive: 5", "Proxy-Connection: keep-alive", "Proxy-Authorization: Basic x", "TE: trailers", "Upgrade: websocket", "Expect: 100-continue", "Connection: close"},
			gone:  []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te:", "Upgrade", "Expect", "Connection"},
		},
		{
			name: "forwarding claims from an untrusted peer",
			lines: []string{"X-Forwarded-For: 6.6.6.6", "X-Forwarded-Host: evil", "X-Forwarded-Proto: https", "X-Forwarded-Prefix: /admin",
				"Forwarded: for=6.6.6.6", "X-Real-Ip: 6.6.6.6", "X-Original-Url: /admin", "X-Rewrite-Url: /admin", "X_Forwarded_For: 6.6.6.6"},
			gone: []string{"6.6.6.6", "evil", "https", "/admin"},
		},
		{
			name:    "forwarding headers from a trusted peer",
			lines:   []string{"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Host: app.example", "Forwarded: for=10.0.0.1", "X_Forwarded_For: 6.6.6.6", "X.Request.Id: forged"},
			trusted: true,
			gone:    []string{"6.6.6.6", "forged"},
			kept:    []string{"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Host: app.example", "Forwarded: for=10.0.0.1"},
		},
		{
			name: "repeated lines keep their order",
			lines: []string{"X-Forwarded-For: 1.1.1.1", "X-Other: a", "X-Forwarded-For: 2.2.2.2", "Accept: x/a", "X-Drop_Me.Not: k",
				"X-Forwarded-For: 3.3.3.3", "Accept: x/b", "X-Zectre-User-Id: forged"},
			trusted: true,
			kept:    []string{"X-Forwarded-For: 1.1.1.1\r\nX-Other: a\r\nX-Forwarded-For: 2.2.2.2\r\nAccept: x/a\r\nX-Drop_me.not: k\r\nX-Forwarded-For: 3.3.3.3\r\nAccept: x/b\r\n"},
		},
		{
			name:  "cookies named in Connection",
			lines: []string{"Connection: cookie", "Cookie: a=1"},
			gone:  []string{"Cookie", "a=1"},
		},
		{
			name:  "a verified credential named in Connection is not passed on",
			lines: []string{"Connection: Authorization", "Authorization: Bearer good"},
			cred:  authn.Credentials{Authorization: "Bearer good"},
			gone:  []string{"Authorization", "good"},
		},
		{
			name:  "cookies pass byte for byte",
			lines: []string{`Cookie: a=1; weird="x,y"; =novalue; b`, "Cookie: c=3"},
			kept:  []string{`Cookie: a=1; weird="x,y"; =novalue; b` + "\r\n", "Cookie: c=3\r\n"},
		},
		{
			name:  "ordinary headers stay",
			lines: []string{"Content-Type: application/json", "User-Agent: ua", "Accept: */*", "X-Custom_Name: c"},
			kept:  []string{"Content-Type: application/json", "User-Agent: ua", "Accept: */*", "X-Custom_name: c", "Host: example.com"},
		},
		{
			name: "credentials: only the verified line passes, once",
			lines: []string{"Authorization: Bearer good", "Authorization: Bearer good", "Authorization: ", "X-Api-Key: zec_unverified",
				"X_API_Key: zec_lookalike", "X.Api.Key: zec_dot", "authorization_: x"},
			cred: authn.Credentials{Authorization: "Bearer good"},
			gone: []string{"zec_", "Authorization: \r", "authorization_"},
			kept: []string{"Authorization: Bearer good\r\n"},
		},
		{
			name:  "no verified credential: none passes",
			lines: []string{"Authorization: Basic dXNlcjpwYXNz", "X-Api-Key: zec_x"},
			gone:  []string{"Authorization", "X-Api-Key", "dXNlcjpwYXNz"},
		},
		{
			name: "method overrides in every spelling",
			lines: []string{"X-HTTP-Method-Override: DELETE", "x-http-method: PUT", "X-Method-Override: PATCH",
				"X_HTTP_Method_Override: DELETE", "X.Http.Method: PUT", "x_method.override: PATCH"},
			gone: []string{"DELETE", "PUT", "PATCH"},
		},
		{
			name: "look-alikes of managed headers",
			lines: []string{"Transfer_Encoding: chunked", "Transfer.Encoding: chunked", "Content_Length: 5", "Content.Length: 5",
				"X_Request_Id: forged", "Content_Type: text/plain", "Keep_Alive: 5", "Proxy.Connection: close",
				"Proxy_Authorization: Basic eA=="},
			trusted: true,
			gone:    []string{"chunked", ": 5\r", "forged", "text/plain", "close", "eA=="},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := parseHeader(t, tc.lines...)
			var s scratch
			takeCookies(src, &s)
			var h fasthttp.RequestHeader
			buildRequest(&h, src, tc.trusted, tc.cred, &s)
			h.SetHost("example.com")
			got := wire(&h)
			for _, g := range tc.gone {
				if strings.Contains(got, g) {
					t.Errorf("%q still in\n%s", g, got)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(got, k) {
					t.Errorf("%q missing from\n%s", k, got)
				}
			}
		})
	}
}

func TestStripResponse(t *testing.T) {
	var h fasthttp.ResponseHeader
	raw := "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\nX-Stay: y\r\nSet-Cookie: a=1\r\n\r\n"
	if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	var s scratch
	stripResponse(&h, &s)
	got := string(h.Header())
	for _, g := range []string{"X-Secret", "Keep-Alive", "Upgrade", "Connection"} {
		if strings.Contains(got, g) {
			t.Errorf("%q still in\n%s", g, got)
		}
	}
	for _, k := range []string{"X-Stay: y", "Set-Cookie: a=1"} {
		if !strings.Contains(got, k) {
			t.Errorf("%q missing from\n%s", k, got)
		}
	}
	if h.ConnectionClose() {
		t.Error("the upstream's Connection: close would close the client's connection")
	}
}

func TestRequestID(t *testing.T) {
	long := strings.Repeat("a", maxRequestIDLength)
	tests := []struct {
		in   string
		keep bool
	}{
		{"abc-123_x.y:z", true},
		{long, true},
		{long + "a", false},
		{"", false},
		{"has space", false},
		{"quote\"", false},
		{"ünicode", false},
	}
	for _, tc := range tests {
		h := parseHeader(t)
		if tc.in != "" {
			h.Set(HeaderRequestID, tc.in)
		}
		var s scratch
		got := string(requestID(h, &s))
		if tc.keep && got != tc.in {
			t.Errorf("%q replaced by %q", tc.in, got)
		}
		if !tc.keep && (got == tc.in || !validRequestID([]byte(got)) || len(got) != 32) {
			t.Errorf("%q: generated %q", tc.in, got)
		}
	}
}

func TestClientAddr(t *testing.T) {
	trusted := trust{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		peer, xff, want string
	}{
		{"1.2.3.4", "9.9.9.9", "1.2.3.4"},           // untrusted peer: its own address
		{"10.0.0.1", "", "10.0.0.1"},                // trusted, no header
		{"10.0.0.1", "9.9.9.9", "9.9.9.9"},          // trusted: the header's client
		{"10.0.0.1", "6.6.6.6, 9.9.9.9", "9.9.9.9"}, // right-most untrusted wins over a forged left
		{"10.0.0.1", "9.9.9.9, 10.0.0.2", "9.9.9.9"},
		{"10.0.0.1", "garbage, 10.0.0.2", "10.0.0.2"},
		{"::ffff:10.0.0.1", "9.9.9.9", "9.9.9.9"},
		// Every line counts, joined in order ("\n" separates lines here):
		// a trusted proxy appends its own line after the client's forged
		// one, so the client is in the last line.
		{"10.0.0.1", "6.6.6.6\n9.9.9.9", "9.9.9.9"},
		{"10.0.0.1", "6.6.6.6\n9.9.9.9, 10.0.0.2", "9.9.9.9"},
		{"10.0.0.1", "6.6.6.6\n10.0.0.2", "6.6.6.6"},
		{"10.0.0.1", "6.6.6.6, 7.7.7.7\n10.0.0.2\n10.0.0.3", "7.7.7.7"},
		{"1.2.3.4", "6.6.6.6\n9.9.9.9", "1.2.3.4"},
	}
	for _, tc := range tests {
		var lines []string
		if tc.xff != "" {
			for _, l := range strings.Split(tc.xff, "\n") {
				lines = append(lines, HeaderForwardedFor+": "+l)
			}
		}
		h := parseHeader(t, lines...)
		got := clientAddr(h, netip.MustParseAddr(tc.peer).Unmap(), trusted)
		if got.String() != tc.want {
			t.Errorf("peer %s xff %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}

func TestURIPath(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b?x=/public": "/a/b",
		"/a#/public":     "/a",
		"":               "/",
		"?x":             "/",
		"http://h/a/b?q": "/a/b",
		"https://h":      "/",
		"/a/http://x":    "/a/http://x",
	} {
		if got := string(uriPath([]byte(in))); got != want {
			t.Errorf("uriPath(%q) = %q, want %q", in, got, want)
		}
	}
}
