// Package metrics exposes the service's Prometheus metrics. The packages it
// observes (cache, proxy, authn) know nothing of Prometheus: each declares a
// small observer hook, and this package implements them. Everything counted
// on the request path is an atomic add on a series resolved in advance, so
// that metrics cost no allocation and no lock per request.
//
// Every metric is listed, with its labels, in docs/operations.md.
package metrics

import (
	"net/http"
	"runtime"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/proxy"
)

// namespace starts every metric name of the service.
const namespace = "zectre_auth_"

// durationBuckets (seconds) span a cached forward-auth decision (well
// under a millisecond) to a password hash or a slow upstream (seconds).
var durationBuckets = []float64{
	.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30,
}

// Metrics holds every metric of one service instance in a registry of its
// own (not Prometheus's global one), so that tests can build several. It
// serves the exposition format as an http.Handler.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	requests  *table
	durations [handlers.NumClasses]prometheus.Observer

	auth *table

	cache       *table
	redisErrors prometheus.Counter
	redisUp     *lazyGauge
	storeErrors *table

	upstream *prometheus.HistogramVec
	tunnels  *atomic.Pointer[proxy.Tunnels]

	jwksRefreshes *table
	jwksKeys      *lazyGauge

	tlsLoads  *table
	tlsExpiry *lazyGauge
}

// New returns the metrics of a service of the given version, with the Go
// runtime and process metrics included.
func New(version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        namespace + "build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()},
	})
	info.Set(1)
	m.reg.MustRegister(info)
	m.newRequests()
	m.newAuth()
	m.newCache()
	m.newUpstream()
	m.newJWKS()
	m.newTLS()
	m.newTunnels()
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry: m.reg, // counts failed scrapes in promhttp_metric_handler_errors_total
		// A scrape is cheap; a burst of them must still not pile up.
		MaxRequestsInFlight: 4,
	})
	return m
}

// ServeHTTP serves the metrics in the Prometheus exposition format (text,
// or protobuf/OpenMetrics when the scraper asks for them).
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.handler.ServeHTTP(w, r)
}

// Registry is where the metrics live, for a caller that adds its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
