package metrics_test

import (
	"net/http/httptest"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/metrics"
)

func TestClassifier(t *testing.T) {
	tests := []struct {
		path    string
		cliPage bool
		want    string
	}{
		{"/api/v1/auth/login", false, metrics.RouteAuthAPI},
		{"/api/v1/auth/cli/status/abc", false, metrics.RouteAuthAPI},
		{"/api/v1/user", false, metrics.RouteAuthAPI},
		{"/api/v1/api-keys/123", false, metrics.RouteAuthAPI},
		{"/api/v1/%61pi-keys", false, metrics.RouteAuthAPI}, // served by the API once normalised
		{"/api/v1/auth", false, metrics.RouteAuthAPI},
		{"/api/v1/users", false, metrics.RouteEdgeProxy}, // not below /api/v1/user
		{"/api/v1/auth/verify", false, metrics.RouteForwardAuth},
		{"/api/v1/auth/verify/app/x", false, metrics.RouteForwardAuth},
		{"/api/v1/auth/verify/../../x", false, metrics.RouteForwardAuth}, // the raw path decides
		{"/api/v1/auth//verify", false, metrics.RouteForwardAuth},
		{"/healthz", false, metrics.RouteHealth},
		{"/readyz", false, metrics.RouteHealth},
		{"/healthz/x", false, metrics.RouteEdgeProxy},
		{"/x/../healthz", false, metrics.RouteHealth},
		{"/auth/cli", true, metrics.RouteOther},
		{"/auth/cli/assets/cli.js", true, metrics.RouteOther},
		{"/auth/cli", false, metrics.RouteEdgeProxy}, // a dashboard serves it
		{"/", false, metrics.RouteEdgeProxy},
		{"", false, metrics.RouteEdgeProxy},
		{"/app/items.json", false, metrics.RouteEdgeProxy},
		{"/a/%2F/b", false, metrics.RouteOther}, // 400 before routing
		{"/..", false, metrics.RouteOther},
		{"relative", false, metrics.RouteOther},
	}
	for _, tc := range tests {
		if got := metrics.Classifier(tc.cliPage)([]byte(tc.path)); got != tc.want {
			t.Errorf("Classifier(%v)(%q) = %q, want %q", tc.cliPage, tc.path, got, tc.want)
		}
	}
}

// An unknown class counts as other, and a status an upstream invents
// outside 100..599 as code "other".
func TestInstrumentBoundsLabels(t *testing.T) {
	m := metrics.New("v")
	status := 0
	h := m.Instrument(func(rc *fasthttp.RequestCtx) { rc.SetStatusCode(status) },
		func([]byte) string { return "made-up" })
	for _, code := range []int{299, 999, 42} {
		var rc fasthttp.RequestCtx
		rc.Request.SetRequestURI("/x")
		status = code
		h(&rc)
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	f := scrapeURL(t, srv.URL)
	const name = "zectre_auth_http_requests_total"
	if got := f.value(name, "route", "other", "code", "299"); got != 1 {
		t.Errorf("code 299: %v, want 1", got)
	}
	if got := f.value(name, "route", "other", "code", "other"); got != 2 {
		t.Errorf("codes 999 and 42: %v, want 2", got)
	}
	if n := len(f[name].GetMetric()); n != 2 {
		t.Errorf("%d series, want 2", n)
	}
}
