package metrics_test

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/metrics"
	"github.com/zectre/zectre-auth/proxy"
)

// instrumented is a handler that answers 200, wrapped as serve wraps the
// real one.
func instrumented() fasthttp.RequestHandler {
	m := metrics.New("bench")
	return m.Instrument(func(rc *fasthttp.RequestCtx) { rc.SetStatusCode(fasthttp.StatusOK) }, metrics.Classifier(true))
}

// The wrapper allocates nothing per request, whatever the path looks like:
// this is the one property of the request path the metrics must keep.
func TestInstrumentAllocs(t *testing.T) {
	h := instrumented()
	for _, path := range []string{"/api/v1/auth/verify", "/app/items", "/api/v1/%61pi-keys", "/a/%2F"} {
		var rc fasthttp.RequestCtx
		rc.Request.SetRequestURI(path)
		if n := testing.AllocsPerRun(100, func() { h(&rc) }); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", path, n)
		}
	}
}

func BenchmarkInstrument(b *testing.B) {
	for _, path := range []string{"/api/v1/auth/verify", "/app/items/42", "/app/./items/%34%32"} {
		b.Run(path, func(b *testing.B) {
			h := instrumented()
			var rc fasthttp.RequestCtx
			rc.Request.SetRequestURI(path)
			b.ReportAllocs()
			for b.Loop() {
				h(&rc)
			}
		})
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
