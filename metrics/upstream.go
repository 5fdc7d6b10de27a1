package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zectre/zectre-auth/proxy"
)

var upstreamResults = [...]proxy.UpstreamResult{proxy.UpstreamOK, proxy.UpstreamError, proxy.UpstreamTimeout}

func (m *Metrics) newUpstream() {
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    namespace + "upstream_request_duration_seconds",
		Help:    "Upstream exchanges of the edge, from sending the request to the response headers, by upstream host:port and result (ok: answered, whatever the status; error: refused, reset or not HTTP; timeout: stalled).",
		Buckets: durationBuckets,
	}, []string{"upstream", "result"})
	m.reg.MustRegister(m.upstream)
}

// Proxy returns the observer to set as proxy.Options.Observer.
func (m *Metrics) Proxy() proxy.Observer { return upstreamObserver{m} }

type upstreamObserver struct{ m *Metrics }

var _ proxy.Observer = upstreamObserver{}

// Upstream resolves the upstream's series once, when the edge is built, so
// that each exchange only indexes an array.
func (o upstreamObserver) Upstream(host string) func(proxy.UpstreamResult, time.Duration) {
	var series [len(upstreamResults)]prometheus.Observer
	for i, r := range upstreamResults {
		series[i] = o.m.upstream.WithLabelValues(host, r.String())
	}
	return func(r proxy.UpstreamResult, d time.Duration) {
		if int(r) < len(series) {
			series[r].Observe(d.Seconds())
		}
	}
}
