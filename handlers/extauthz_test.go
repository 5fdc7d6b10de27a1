package handlers_test

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
	zsvc "github.com/zectre/zectre-auth/service"
)

// serveExtAuthz serves svc's ext_authz listener on loopback and returns a
// real gRPC client connection to it.
func serveExtAuthz(t testing.TB, svc *zsvc.Service) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go svc.ServeExtAuthz(ln) //nolint:errcheck // ends with Stop
	t.Cleanup(svc.ExtAuthz.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// checkReq is the request Envoy asks about: method, :path, and header
// lines (name, value pairs) sent apart in header_map, as Envoy does with
// encode_raw_headers; with joined, in the headers map instead.
func checkReq(method, path string, joined bool, headers ...string) *authv3.CheckRequest {
	h := &authv3.AttributeContext_HttpRequest{Method: method, Path: path}
	if joined {
		h.Headers = map[string]string{":path": path, ":method": method}
		for i := 0; i+1 < len(headers); i += 2 {
			if v, ok := h.Headers[headers[i]]; ok {
				h.Headers[headers[i]] = v + "," + headers[i+1]
			} else {
				h.Headers[headers[i]] = headers[i+1]
			}
		}
	} else {
		h.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: ":path", RawValue: []byte(path)}}}
		for i := 0; i+1 < len(headers); i += 2 {
			h.HeaderMap.Headers = append(h.HeaderMap.Headers, &corev3.HeaderValue{Key: headers[i], RawValue: []byte(headers[i+1])})
		}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:  &authv3.AttributeContext_Peer{Address: socketAddr("203.0.113.7")},
		Request: &authv3.AttributeContext_Request{Http: h},
	}}
}

func socketAddr(ip string) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: ip}}}
}

// checkAnswer is a CheckResponse read as Envoy reads it.
type checkAnswer struct {
	code    codes.Code
	status  int               // the HTTP status: 200 when allowed
	errCode string            // the envelope's code, when denied
	set     map[string]string // allowed: headers set (all OVERWRITE_IF_EXISTS_OR_ADD)
	remove  []string
	header  map[string]string // denied: the answer's headers
	body    string
}

func check(t *testing.T, cc *grpc.ClientConn, req *authv3.CheckRequest) checkAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := authv3.NewAuthorizationClient(cc).Check(ctx, req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	a := checkAnswer{code: codes.Code(res.GetStatus().GetCode()), set: map[string]string{}, header: map[string]string{}}
	switch {
	case res.GetOkResponse() != nil:
		a.status = 200
		for _, o := range res.GetOkResponse().GetHeaders() {
			if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				t.Errorf("header %s set with %v", o.GetHeader().GetKey(), o.GetAppendAction())
			}
			a.set[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
		}
		a.remove = res.GetOkResponse().GetHeadersToRemove()
	case res.GetDeniedResponse() != nil:
		d := res.GetDeniedResponse()
		a.status, a.body = int(d.GetStatus().GetCode()), d.GetBody()
		for _, o := range d.GetHeaders() {
			a.header[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
		}
		var env struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(d.GetBody()), &env); err != nil || env.Error.Message == "" {
			t.Errorf("denied body %q is no error envelope", d.GetBody())
		}
		a.errCode = env.Error.Code
	default:
		t.Fatalf("no http_response in %v", res)
	}
	return a
}

// TestExtAuthzCheck drives Check through the cases of the forward-auth
// tables (TestForwardAuth, TestForwardAuthBoundary) that Envoy can send:
// path tricks, method overrides, credential lines, and a client's own
// claims of the original request, which Envoy passes on as headers and
// which must not count (the original is attributes.request.http).
func TestExtAuthzCheck(t *testing.T) {
	routes := append(append([]config.Route{}, boundaryRoutes...), spoofRoutes...)
	e := startEdge(t, edgeOptions{routes: routes, defaultAuth: config.AuthRequired, extAuthz: true, trusted: []string{"127.0.0.0/8"}})
	full, ro := e.key, e.roKey
	cases := []struct {
		name    string
		method  string
		path    string
		headers []string
		status  int
		code    string
		userID  string
	}{
		{"public", "GET", "/public/x?q=1", nil, 200, "", ""},
		{"admin, none", "GET", "/admin/x", nil, 401, "UNAUTHORIZED", ""},
		{"admin, key", "DELETE", "/admin/x", []string{"x-api-key", full}, 200, "", e.userID},
		{"admin, token", "GET", "/admin/x", []string{"authorization", "Bearer " + e.token}, 200, "", e.userID},
		{"dot-dot out of public", "GET", "/public/../admin/x", nil, 401, "UNAUTHORIZED", ""},
		{"query names public", "GET", "/admin/x?/public/y", nil, 401, "UNAUTHORIZED", ""},
		{"encoded slash", "GET", "/public/..%2fadmin", nil, 400, "INVALID_PATH", ""},
		{"above the root", "GET", "/../admin/x", nil, 400, "INVALID_PATH", ""},
		{"A1 ;", "GET", "/private;x/s", nil, 400, "INVALID_PATH", ""},
		{"A1 %3B", "GET", "/private%3Bx/s", nil, 400, "INVALID_PATH", ""},
		{"A2 upper", "GET", "/PRIVATE/s", nil, 401, "UNAUTHORIZED", ""},
		{"A2 lowercase method", "delete", "/deploy/1", nil, 400, "INVALID_METHOD", ""},
		{"absolute form", "GET", "http://h/admin/x", nil, 401, "UNAUTHORIZED", ""},
		{"scope missing", "DELETE", "/deploy/1", []string{"x-api-key", ro}, 403, "INSUFFICIENT_SCOPE", ""},
		{"scope held", "DELETE", "/deploy/1", []string{"x-api-key", full}, 200, "", e.userID},
		{"A3 override header", "POST", "/deploy/1", []string{"x-http-method-override", "DELETE"}, 401, "UNAUTHORIZED", ""},
		{"A3 override, lowercase value", "POST", "/deploy/1", []string{"x-http-method-override", "delete", "x-api-key", ro}, 403, "INSUFFICIENT_SCOPE", ""},
		{"A3 override look-alike", "POST", "/deploy/1", []string{"x_http_method_override", "DELETE"}, 401, "UNAUTHORIZED", ""},
		{"A3 X-HTTP-Method", "POST", "/deploy/1", []string{"x-http-method", "DELETE"}, 401, "UNAUTHORIZED", ""},
		{"A3 query _method", "POST", "/deploy/1?_method=DELETE", []string{"x-api-key", ro}, 403, "INSUFFICIENT_SCOPE", ""},
		{"A3 override not a method", "POST", "/deploy/1", []string{"x-http-method-override", "DEL ETE"}, 400, "INVALID_METHOD", ""},
		{"A4 two keys", "GET", "/x", []string{"x-api-key", full, "x-api-key", ro}, 400, "AMBIGUOUS_CREDENTIALS", ""},
		{"A4 bearer and unknown key", "GET", "/x", []string{"authorization", "Bearer " + e.token, "x-api-key", "zec_notakey"}, 401, "INVALID_API_KEY", ""},
		{"A4 empty then forged", "GET", "/x", []string{"authorization", "", "authorization", "Bearer forged"}, 401, "INVALID_TOKEN", ""},
		{"A4 look-alike", "GET", "/x", []string{"x_api_key", full}, 400, "AMBIGUOUS_CREDENTIALS", ""},
		{"A4 same key twice", "GET", "/private/s", []string{"x-api-key", full, "x-api-key", full}, 200, "", e.userID},
		// The client's own claims of the original request do not count,
		// whoever Envoy's peer is: the attributes name it.
		{"client forwarded-uri", "GET", "/admin/x", []string{"x-forwarded-uri", "/public/x", "x-forwarded-method", "GET"}, 401, "UNAUTHORIZED", ""},
		{"client original-uri", "GET", "/admin/x", []string{"x-original-uri", "/public/x"}, 401, "UNAUTHORIZED", ""},
		{"client forwarded-uri twice", "GET", "/public/x", []string{"x-forwarded-uri", "/a", "x-forwarded-uri", "/b"}, 200, "", ""},
	}
	for _, tc := range cases {
		a := check(t, e.ext, checkReq(tc.method, tc.path, false, tc.headers...))
		if a.status != tc.status || a.errCode != tc.code || a.set["x-zectre-user-id"] != tc.userID {
			t.Errorf("%s: %d %q user %q, want %d %q user %q; %s", tc.name, a.status, a.errCode, a.set["x-zectre-user-id"],
				tc.status, tc.code, tc.userID, a.body)
			continue
		}
		wantCode := map[int]codes.Code{200: codes.OK, 400: codes.InvalidArgument, 401: codes.Unauthenticated, 403: codes.PermissionDenied}[tc.status]
		if a.code != wantCode {
			t.Errorf("%s: gRPC status %v, want %v", tc.name, a.code, wantCode)
		}
		switch {
		case a.status != 200 && a.header["content-type"] != "application/json":
			t.Errorf("%s: denied with content-type %q", tc.name, a.header["content-type"])
		case a.status == 401 && a.header["www-authenticate"] != `Bearer realm="zectre"`:
			t.Errorf("%s: 401 without WWW-Authenticate: %v", tc.name, a.header)
		case a.status != 401 && a.header["www-authenticate"] != "":
			t.Errorf("%s: %d with WWW-Authenticate", tc.name, a.status)
		case tc.userID != "" && (a.set["x-zectre-scopes"] == "" || a.set["x-zectre-auth-method"] == ""):
			t.Errorf("%s: incomplete identity %v", tc.name, a.set)
		case tc.userID == "" && len(a.set) != 0:
			t.Errorf("%s: anonymous, yet sets %v", tc.name, a.set)
		}
	}
	// The same decision from the joined headers map (Envoy without
	// encode_raw_headers): two key lines arrive as one value.
	if a := check(t, e.ext, checkReq("GET", "/admin/x", true, "x-api-key", full)); a.status != 200 || a.set["x-zectre-user-id"] != e.userID {
		t.Errorf("headers map: %d %v", a.status, a.set)
	}
	if a := check(t, e.ext, checkReq("GET", "/admin/x", true, "x-api-key", full, "x-api-key", ro)); a.status != 401 {
		t.Errorf("headers map, two keys joined: %d %q, want 401", a.status, a.errCode)
	}
	if err := e.api.Audit.Flush(); err != nil {
		t.Fatal(err)
	}
	log := e.audit.String()
	if !strings.Contains(log, `"outcome":"denied","method":"api_key","source":"ext_authz","code":"INSUFFICIENT_SCOPE"`) ||
		!strings.Contains(log, `"client":"203.0.113.7","path":"/deploy/1"`) {
		t.Errorf("no ext_authz audit line naming the client and path:\n%s", log)
	}
}

// TestExtAuthzIdentityHeaders: what the upstream ends with is exactly the
// trusted identity. Every forged identity line, in any spelling, is either
// overwritten (its name is set) or removed as it arrived; a name that is
// set is never listed for removal (Envoy removes after it sets).
func TestExtAuthzIdentityHeaders(t *testing.T) {
	e := startEdge(t, edgeOptions{routes: spoofRoutes, extAuthz: true})
	forged := []string{
		"x-zectre-user-id", "evil", "X-Zectre-User-Admin", "true", "x_zectre_user_id", "evil",
		"x.zectre.scopes", "*", "X_ZECTRE_API_KEY_ID", "k", "x-zectre-user-email", "a@evil", "x-zectre-user-id", "again",
	}
	cases := []struct {
		name    string
		path    string
		headers []string
		userID  string
	}{
		{"public, forged", "/public/x", forged, ""},
		{"optional, anonymous, forged", "/other", forged, ""},
		{"key, forged", "/admin/x", append([]string{"x-api-key", e.key}, forged...), e.userID},
		{"token, forged", "/admin/x", append([]string{"authorization", "Bearer " + e.token}, forged...), e.userID},
	}
	for _, tc := range cases {
		a := check(t, e.ext, checkReq("GET", tc.path, false, tc.headers...))
		if a.status != 200 || a.set["x-zectre-user-id"] != tc.userID {
			t.Fatalf("%s: %d %v", tc.name, a.status, a.set)
		}
		// What an upstream ends with: Envoy sets, then removes.
		final := map[string]string{}
		for i := 0; i+1 < len(tc.headers); i += 2 {
			final[strings.ToLower(tc.headers[i])] = tc.headers[i+1]
		}
		for k, v := range a.set {
			final[k] = v
		}
		for _, r := range a.remove {
			if _, set := a.set[strings.ToLower(r)]; set {
				t.Errorf("%s: %q is set and removed", tc.name, r)
			}
			if !slices.Contains(tc.headers, r) {
				t.Errorf("%s: removes %q, which the client did not send so", tc.name, r)
			}
			delete(final, strings.ToLower(r))
		}
		for k, v := range final {
			if strings.HasPrefix(strings.NewReplacer("_", "-", ".", "-").Replace(k), "x-zectre-") && a.set[k] != v {
				t.Errorf("%s: the upstream would see %s: %q", tc.name, k, v)
			}
		}
		if tc.userID != "" && a.set["x-zectre-user-admin"] != "false" {
			t.Errorf("%s: admin %q", tc.name, a.set["x-zectre-user-admin"])
		}
	}
}

// TestExtAuthzHealthAndMetrics: the standard gRPC health service answers
// SERVING for the server and for Authorization, and Check decisions are
// counted under the route class ext_authz by their HTTP status.
func TestExtAuthzHealthAndMetrics(t *testing.T) {
	e := startEdge(t, edgeOptions{routes: spoofRoutes, extAuthz: true})
	hc := healthpb.NewHealthClient(e.ext)
	for _, svc := range []string{"", authv3.Authorization_ServiceDesc.ServiceName} {
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", svc, r.GetStatus(), err)
		}
	}
	check(t, e.ext, checkReq("GET", "/admin/x", false))
	check(t, e.ext, checkReq("GET", "/admin/x", false, "x-api-key", e.key))
	fams, err := e.svc.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "zectre_auth_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "ext_authz" {
				got[labels["code"]] += m.GetCounter().GetValue()
			}
		}
	}
	if got["200"] != 1 || got["401"] != 1 {
		t.Errorf("ext_authz requests by code: %v, want 200:1 401:1", got)
	}
	e.svc.ExtAuthz.Drain()
	if r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("draining health: %v %v", r.GetStatus(), err)
	}
}

// TestExtAuthzStoreDown: a credential that cannot be checked because the
// database is gone is a 503 SERVICE_UNAVAILABLE with the gRPC status
// UNAVAILABLE, never an allow and never a 500.
func TestExtAuthzStoreDown(t *testing.T) {
	e := startEdge(t, edgeOptions{routes: spoofRoutes, extAuthz: true})
	nk, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	e.closeDatabase()
	a := check(t, e.ext, checkReq("GET", "/admin/x", false, "x-api-key", nk.Raw))
	if a.status != 503 || a.errCode != "SERVICE_UNAVAILABLE" || a.code != codes.Unavailable {
		t.Fatalf("store down: %d %q %v; %s", a.status, a.errCode, a.code, a.body)
	}
}
