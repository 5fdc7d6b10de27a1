package handlers_test

// The forward-auth half of the differential test: a real nginx ingress runs
// the auth_request recipe of docs/edge.md against zectre-auth and proxies to
// the recorder of each stack. A request zectre-auth denies never reaches a
// stack; one it allows reaches each stack as the request that was decided,
// with the identity of the decided caller.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/config"
)

// ingressRows are sent to the ingress, not to zectre-auth. Statuses are
// nginx's: it passes 401 and 403 on and answers 500 for any other refusal
// of the subrequest (400 INVALID_PATH, AMBIGUOUS_*); a 400 is nginx's own
// (a lower-case method, a repeated Authorization line). Codes are not
// checked: auth_request drops the JSON body.
var ingressRows = []diffRow{
	{class: "A1", name: "raw ;", target: "/private;x/s", want: answered(500, "")},
	{class: "A1", name: "%3B", target: "/private%3Bx/s", want: answered(500, "")},
	{class: "A1", name: "; under a public tree", target: "/public/x;y", want: answered(500, "")},
	{class: "A1", name: "..;", target: "/x/..;/private/s", want: answered(500, "")},
	{class: "A2", name: "upper case", target: "/PRIVATE/s", want: answered(401, "")},
	{class: "A2", name: "dotless i", target: "/pr%C4%B1vate/s", want: answered(401, "")},
	{class: "A2", name: "upper case admin without the scope", method: "DELETE", target: "/ADMIN/x",
		headers: []string{"X-API-Key", "{ro}"}, want: answered(403, "")},
	{class: "A2", name: "upper case with a token", target: "/PRIVATE/s",
		headers: []string{"Authorization", "Bearer {token}"}, want: passes("{userA}")},
	{class: "A2", name: "method post (nginx refuses it)", method: "post", target: "/private/s", want: answered(400, "")},
	{class: "A3", name: "X-HTTP-Method-Override", method: "POST", target: "/admin/x",
		headers: []string{"X-HTTP-Method-Override", "DELETE"}, want: answered(401, "")},
	{class: "A3", name: "x-method-override without the scope", method: "POST", target: "/admin/x",
		headers: []string{"X-API-Key", "{ro}", "x-method-override", "delete"}, want: answered(403, "")},
	{class: "A3", name: "_method anonymous", method: "POST", target: "/admin/x?_method=DELETE", want: answered(401, "")},
	{class: "A3", name: "override with the scope", method: "POST", target: "/admin/x",
		headers: []string{"X-API-Key", "{key}", "X-HTTP-Method-Override", "DELETE"}, want: passes("{userA}")},
	{class: "A4", name: "token and unknown key", target: "/other",
		headers: []string{"Authorization", "Bearer {token}", "X-API-Key", unknownKey}, want: answered(401, "")},
	{class: "A4", name: "keys of two users", target: "/private/s",
		headers: []string{"X-API-Key", "{key}", "X-API-Key", "{other}"}, want: answered(500, "")},
	{class: "A4", name: "token and key of one user", target: "/private/s",
		headers: []string{"Authorization", "Bearer {token}", "X-API-Key", "{key}"}, want: answered(500, "")},
	{class: "A4", name: "token then forged (nginx refuses it)", target: "/private/s",
		headers: []string{"Authorization", "Bearer {token}", "Authorization", "Bearer " + forgedToken}, want: answered(400, "")},
	{class: "A4", name: "Bearer alone", target: "/other", headers: []string{"Authorization", "Bearer"}, want: answered(401, "")},
	{class: "A4", name: "Bearer,token", target: "/other", headers: []string{"Authorization", "Bearer,{token}"}, want: answered(401, "")},
	{class: "A4", name: "X_API_Key (nginx drops it)", target: "/other", headers: []string{"X_API_Key", "{key}"}, want: passes("")},
	{class: "A4", name: "token", target: "/private/s", headers: []string{"Authorization", "Bearer {token}"}, want: passes("{userA}")},
	// nginx replaces the client's X-Original-* and removes X-Forwarded-Uri
	// and X-Forwarded-Method (the recipe), so repeated lines from a client
	// never stand in for the request itself.
	{class: "A7", name: "two X-Original-URI naming a public path", target: "/private/s",
		headers: []string{"X-Original-URI", "/public/x", "X-Original-URI", "/public/x"}, want: answered(401, "")},
	{class: "A7", name: "two X-Forwarded-Uri naming a public path", target: "/private/s",
		headers: []string{"X-Forwarded-Uri", "/public/x", "X-Forwarded-Uri", "/public/x", "X-Forwarded-Method", "GET"}, want: answered(401, "")},
	{class: "A7", name: "originals naming a private path", target: "/public/x",
		headers: []string{"X-Original-URI", "/private/s", "X-Original-URI", "/admin/x", "X-Original-Method", "DELETE"}, want: passes("")},
}

// TestDifferentialIngress sends every ingress row through nginx to each
// stack and checks what reached it.
func TestDifferentialIngress(t *testing.T) {
	stacks := startStacks(t)
	nginx := needProgram(t, "nginx")
	e := withSecrets(t, startEdge(t, edgeOptions{routes: diffRoutes, trusted: config.DefaultTrustedProxies()}), stack{})
	dir := t.TempDir()
	type server struct {
		Port     int
		Upstream string
	}
	servers := make([]server, len(stacks))
	for i, s := range stacks {
		servers[i] = server{Port: freeLoopbackPort(t), Upstream: s.url}
	}
	conf := renderTemplate(t, "ingress.conf.tmpl", map[string]any{"Dir": dir, "Auth": e.addr, "Servers": servers})
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	// One process serves every port; it listens on all of them or none.
	runDaemon(t, fmt.Sprintf("127.0.0.1:%d", servers[len(servers)-1].Port), filepath.Join(dir, "nginx.out"),
		nginx, "-p", dir, "-c", confFile, "-e", filepath.Join(dir, "error.log"))

	for _, row := range ingressRows {
		t.Run(row.class+" "+row.name, func(t *testing.T) {
			got := map[string]reading{}
			for i, s := range stacks {
				reply := sendRaw(fmt.Sprintf("127.0.0.1:%d", servers[i].Port), row, e.secret)
				if reply.status != row.want.status {
					t.Errorf("%s: the ingress answered %d, want %d; body %.200s", s.name, reply.status, row.want.status, e.name.Replace(string(reply.body)))
				}
				expected := ""
				if strings.Contains(string(reply.body), `"stack":"`+s.name+`"`) {
					expected = s.name
				}
				reached := collectViews(stacks, expected)
				if !row.want.forward {
					for name, vs := range reached {
						t.Errorf("%s: a denied request reached %s: %s", s.name, name, e.name.Replace(fmt.Sprintf("%+v", vs)))
					}
					continue
				}
				vs := reached[s.name]
				if len(reached) != 1 || len(vs) != 1 {
					t.Errorf("%s: want the request at this stack only, reached %s", s.name, e.name.Replace(fmt.Sprintf("%+v", reached)))
					continue
				}
				rd := readingOf(vs[0], e.name)
				got[s.name] = rd
				for _, p := range rd.ingressProblems(row) {
					t.Errorf("%s: %s\n\tthe stack read %s", s.name, p, e.name.Replace(fmt.Sprintf("%+v", vs[0])))
				}
			}
			compareStacks(t, got)
		})
	}
}

// ingressProblems lists where a reading behind the ingress differs from the
// decision: the ingress passes the client's own headers on (credentials,
// overrides: they were decided on), so only the method, the target, the
// identity and look-alikes are the edge's to answer for.
func (rd reading) ingressProblems(row diffRow) []string {
	var out []string
	method := firstNonEmpty(row.method, "GET")
	if rd.method != method {
		out = append(out, fmt.Sprintf("method %q, decided %q", rd.method, method))
	}
	if rd.target != row.target {
		out = append(out, fmt.Sprintf("target %q, decided %q", rd.target, row.target))
	}
	switch user := row.want.user; {
	case user == "" && len(rd.identity) > 0:
		out = append(out, fmt.Sprintf("identity lines %q on an anonymous request", rd.identity))
	case user != "" && !slices.Equal(rd.users, []string{user}):
		out = append(out, fmt.Sprintf("X-Zectre-User-Id %q, decided %q", rd.users, user))
	}
	if len(rd.lookAlikes) > 0 {
		out = append(out, fmt.Sprintf("look-alike header names %q", rd.lookAlikes))
	}
	return out
}
