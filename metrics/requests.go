package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/handlers"
)

// The values of the route label are the front's classes
// (handlers.Class): which part of the service answered, so that an error
// rate of the edge is not hidden by health checks, nor a slow login by fast
// forward-auth decisions.
const (
	RouteAuthAPI     = "auth_api"     // the Authentication API
	RouteEdgeProxy   = "edge_proxy"   // forwarded to an upstream (or refused by the edge)
	RouteForwardAuth = "forward_auth" // the forward-auth endpoint
	RouteHealth      = "health"       // /healthz and /readyz
	RouteOther       = "other"        // the CLI login page; requests refused before routing
	RouteExtAuthz    = "ext_authz"    // Envoy's Check on the ext_authz listener, by the HTTP status it decided
)

// Status codes 100 to 599 each have a series; anything else an upstream
// invents is counted as "other", so that the label stays bounded.
const (
	minCode   = 100
	maxCode   = 599
	otherCode = maxCode - minCode + 1
)

func (m *Metrics) newRequests() {
	codes := make([]string, otherCode+1)
	for c := minCode; c <= maxCode; c++ {
		codes[c-minCode] = strconv.Itoa(c)
	}
	codes[otherCode] = "other"
	classes := make([]string, handlers.NumClasses)
	for c := range handlers.NumClasses {
		classes[c] = c.String()
	}
	m.requests = newTable(namespace+"http_requests_total",
		"Requests answered on the main listener, by route class and HTTP status code.",
		[]string{"route", "code"}, classes, codes)
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    namespace + "http_request_duration_seconds",
		Help:    "Time from the request's headers read to its handler's return, by route class (for a streamed upstream body: to the upstream's headers).",
		Buckets: durationBuckets,
	}, []string{"route"})
	for c := range handlers.NumClasses {
		m.durations[c] = hist.WithLabelValues(c.String())
	}
	m.reg.MustRegister(m.requests, hist)
}

// Request counts one request answered on the main listener, by the class
// the front decided (handlers.Front's observer) and its status code, and
// observes its duration: from the request's headers read to its answer (for
// a streamed upstream body, to the upstream's headers). A class out of
// range counts as other, a status outside 100..599 as code "other".
//
// Requests the server cannot parse never reach the front and are not
// counted.
func (m *Metrics) Request(rc *fasthttp.RequestCtx, class handlers.Class) {
	// The server read the clock when the request began (unless it was
	// built with LazyRequestTime, when Time reads it now).
	m.Answered(class, rc.Response.StatusCode(), time.Since(rc.Time()))
}

// Answered counts one answer of class with HTTP status code that took d:
// Request's count for an answer the main listener did not write (the
// ext_authz listener's Check, by the HTTP status of its decision).
func (m *Metrics) Answered(class handlers.Class, code int, d time.Duration) {
	if class >= handlers.NumClasses {
		class = handlers.ClassOther
	}
	if code < minCode || code > maxCode {
		code = otherCode
	} else {
		code -= minCode
	}
	m.requests.add2(int(class), code)
	m.durations[class].Observe(d.Seconds())
}
