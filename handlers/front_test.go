package handlers

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestFrontClassify: the one classification of a request, from its raw
// path, as the metrics and everyone else receive it.
func TestFrontClassify(t *testing.T) {
	tests := []struct {
		path    string
		cliPage bool
		want    Class
	}{
		{"/api/v1/auth/login", false, ClassAuthAPI},
		{"/api/v1/auth/cli/status/abc", false, ClassAuthAPI},
		{"/api/v1/user", false, ClassAuthAPI},
		{"/api/v1/api-keys/123", false, ClassAuthAPI},
		{"/api/v1/%61pi-keys", false, ClassAuthAPI}, // served by the API once normalised
		{"/api/v1/auth", false, ClassAuthAPI},
		{"/API/V1/USER", false, ClassAuthAPI}, // own in any case (a JSON 404)
		{"/api/v1/users", false, ClassEdge},   // not below /api/v1/user
		{"/api/v1/auth/verify", false, ClassForwardAuth},
		{"/api/v1/auth/verify/app/x", false, ClassForwardAuth},
		{"/api/v1/auth/verify/../../x", false, ClassForwardAuth}, // the raw path decides
		{"/api/v1/auth//verify", false, ClassForwardAuth},
		{"/API/V1/AUTH/VERIFY", false, ClassForwardAuth},
		{"/healthz", false, ClassHealth},
		{"/readyz", false, ClassHealth},
		{"/healthz/x", false, ClassEdge},
		{"/x/../healthz", false, ClassHealth},
		{"/auth/cli", true, ClassOther},
		{"/auth/cli/assets/cli.js", true, ClassOther},
		{"/auth/cli", false, ClassEdge}, // a dashboard serves it
		{"/", false, ClassEdge},
		{"/app/items.json", false, ClassEdge},
		{"/a/%2F/b", false, ClassOther}, // 400 before routing
		{"/..", false, ClassOther},
		{"/private;x", false, ClassOther},
	}
	fronts := map[bool]*Front{false: NewFront(&API{}, nil, nil), true: NewFront(&API{ServeCLIPage: true}, nil, nil)}
	for _, tc := range tests {
		var rc fasthttp.RequestCtx
		rc.Request.SetRequestURI(tc.path)
		if got, _, _ := fronts[tc.cliPage].classify(&rc); got != tc.want {
			t.Errorf("classify(%q, cli page %v) = %s, want %s", tc.path, tc.cliPage, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name, method, proto string
	}{
		{"lowercase method", "get", "HTTP/1.1"},
		{"HTTP/2.0", "GET", "HTTP/2.0"},
	} {
		var rc fasthttp.RequestCtx
		rc.Request.SetRequestURI("/api/v1/user")
		rc.Request.Header.SetMethod(tc.method)
		rc.Request.Header.SetProtocol(tc.proto)
		if got, _, err := fronts[false].classify(&rc); got != ClassOther || err == nil {
			t.Errorf("%s: %s, %v; want other and an error", tc.name, got, err)
		}
	}
}

// The classification allocates nothing for a path already in normal form
// and lowercase, nor for one it refuses: it runs on every request. (A path
// that normalisation rewrites gets its normal form allocated once, for the
// rest of the request.)
func TestFrontClassifyAllocs(t *testing.T) {
	f := NewFront(&API{ServeCLIPage: true}, nil, nil)
	for _, path := range []string{"/api/v1/auth/verify", "/app/items", "/a/%2F", "/healthz", "/api/v1/user"} {
		var rc fasthttp.RequestCtx
		rc.Request.SetRequestURI(path)
		if n := testing.AllocsPerRun(100, func() { f.classify(&rc) }); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", path, n)
		}
	}
}

func TestClassNames(t *testing.T) {
	for c, want := range map[Class]string{ClassAuthAPI: "auth_api", ClassEdge: "edge_proxy", ClassForwardAuth: "forward_auth",
		ClassHealth: "health", ClassOther: "other", NumClasses: "other", 200: "other"} {
		if got := c.String(); got != want {
			t.Errorf("Class(%d) = %q, want %q", c, got, want)
		}
	}
}
