package metrics_test

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/metrics"
	"github.com/zectre/zectre-auth/proxy"
)

// Counting a request allocates nothing, whatever its class: it runs on
// every request.
func TestRequestAllocs(t *testing.T) {
	m := metrics.New("bench")
	for c := range handlers.NumClasses + 1 {
		var rc fasthttp.RequestCtx
		rc.Request.SetRequestURI("/app/items")
		rc.SetStatusCode(fasthttp.StatusOK)
		if n := testing.AllocsPerRun(100, func() { m.Request(&rc, c) }); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", c, n)
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	m := metrics.New("bench")
	var rc fasthttp.RequestCtx
	rc.Request.SetRequestURI("/app/items/42")
	rc.SetStatusCode(fasthttp.StatusOK)
	b.ReportAllocs()
	for b.Loop() {
		m.Request(&rc, handlers.ClassEdge)
	}
}

// The observers the request path calls: a cache lookup, an audit line's
// attempt and an upstream exchange.
func BenchmarkObservers(b *testing.B) {
	m := metrics.New("bench")
	c := m.Cache()
	a := audit.New(discard{}, nil)
	b.Cleanup(func() { a.Close() })
	m.ObserveAudit(a)
	up := m.Proxy().Upstream("127.0.0.1:8080")
	at := audit.Attempt{Method: string(authn.MethodAPIKey), Outcome: "ok"}
	b.ReportAllocs()
	for b.Loop() {
		c.Lookup(cache.KindKey, cache.TierFront, cache.Hit)
		a.Attempt(at)
		up(proxy.UpstreamOK, time.Millisecond)
	}
}
