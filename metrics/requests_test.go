package metrics_test

import (
	"net/http/httptest"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/metrics"
)

// An unknown class counts as other, and a status an upstream invents
// outside 100..599 as code "other".
func TestRequestBoundsLabels(t *testing.T) {
	m := metrics.New("v")
	status := 0
	for _, code := range []int{299, 999, 42} {
		var rc fasthttp.RequestCtx
		rc.Request.SetRequestURI("/x")
		status = code
		rc.SetStatusCode(status)
		m.Request(&rc, handlers.Class(200))
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
