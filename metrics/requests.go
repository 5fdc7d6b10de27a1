package metrics

import (
	"bytes"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/proxy"
)

// Route classes: the values of the route label. A class says which part of
// the service answered, so that an error rate of the edge is not hidden by
// health checks, nor a slow login by fast forward-auth decisions.
const (
	RouteAuthAPI     = "auth_api"     // the Authentication API
	RouteEdgeProxy   = "edge_proxy"   // forwarded to an upstream (or refused by the edge)
	RouteForwardAuth = "forward_auth" // the forward-auth endpoint
	RouteHealth      = "health"       // /healthz and /readyz
	RouteOther       = "other"        // the CLI login page; paths refused before routing
)

// routeClasses are the classes in label order; the index is the class.
var routeClasses = [...]string{RouteAuthAPI, RouteEdgeProxy, RouteForwardAuth, RouteHealth, RouteOther}

func routeIndex(class string) int {
	switch class {
	case RouteAuthAPI:
		return 0
	case RouteEdgeProxy:
		return 1
	case RouteForwardAuth:
		return 2
	case RouteHealth:
		return 3
	}
	return 4
}

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
	m.requests = newTable(namespace+"http_requests_total",
		"Requests answered on the main listener, by route class and HTTP status code.",
		[]string{"route", "code"}, routeClasses[:], codes)
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    namespace + "http_request_duration_seconds",
		Help:    "Time from the request's headers read to its handler's return, by route class (for a streamed upstream body: to the upstream's headers).",
		Buckets: durationBuckets,
	}, []string{"route"})
	for i, c := range routeClasses {
		m.durations[i] = hist.WithLabelValues(c)
	}
	m.reg.MustRegister(m.requests, hist)
}

// Instrument wraps the main listener's handler: it counts every request by
// route class and status code and observes its duration. classify names a
// request's class from its raw path (Classifier gives the service's own);
// any value other than the Route* constants counts as RouteOther.
//
// Requests the server cannot parse never reach a handler and are not
// counted; the status is read when the handler returns.
func (m *Metrics) Instrument(next fasthttp.RequestHandler, classify func(rawPath []byte) string) fasthttp.RequestHandler {
	return func(rc *fasthttp.RequestCtx) {
		// The server read the clock when the request began (unless it was
		// built with LazyRequestTime, when Time reads it now).
		start := rc.Time()
		// Before next: the router may rewrite the path it serves.
		class := routeIndex(classify(rc.URI().PathOriginal()))
		next(rc)
		code := rc.Response.StatusCode()
		if code < minCode || code > maxCode {
			code = otherCode
		} else {
			code -= minCode
		}
		m.requests.add2(class, code)
		m.durations[class].Observe(time.Since(start).Seconds())
	}
}

// Own paths of the service besides the forward-auth endpoint, as the front
// dispatch (handlers.NewHandler) answers them.
var (
	apiNamespaces = [...]string{"/api/v1/auth", "/api/v1/user", "/api/v1/api-keys"}
	healthPaths   = [...]string{"/healthz", "/readyz"}
)

// cliPagePath is the built-in CLI login page and its assets.
const cliPagePath = "/auth/cli"

// Classifier returns the route classifier of the service, deciding as the
// front dispatch does on the normalised path: the forward-auth endpoint,
// then /healthz and /readyz, then the Authentication API's namespaces;
// everything else goes to the edge. cliPage says the service serves the CLI
// login page under /auth/cli itself (no dashboard URL configured); that page
// is RouteOther, as is a path that cannot be normalised (answered 400).
func Classifier(cliPage bool) func(rawPath []byte) string {
	return func(raw []byte) string {
		path := raw
		if len(path) == 0 {
			path = slash // absolute-form target without a path
		}
		var buf [256]byte
		if !normal(path) {
			var err error
			if path, err = proxy.AppendNormalPath(buf[:0], path); err != nil {
				return RouteOther
			}
		}
		switch {
		case under(path, proxy.VerifyPath) || under(raw, proxy.VerifyPath):
			// A raw path under the endpoint stays there, whatever its dot
			// segments resolve to.
			return RouteForwardAuth
		case string(path) == healthPaths[0] || string(path) == healthPaths[1]:
			return RouteHealth
		case cliPage && under(path, cliPagePath):
			return RouteOther
		}
		for _, ns := range apiNamespaces {
			if under(path, ns) {
				return RouteAuthAPI
			}
		}
		return RouteEdgeProxy
	}
}

var slash = []byte("/")

// under reports whether p is prefix or a path below it.
func under(p []byte, prefix string) bool {
	return bytes.HasPrefix(p, []byte(prefix)) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}

// normal reports whether p is certainly in normal form already, so that the
// common case skips normalising: it starts with "/", holds only unreserved
// characters and slashes, no empty segment and no segment starting with a
// dot. Anything else is normalised to be sure.
func normal(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/' || c == '.':
			if p[i-1] == '/' {
				return false // "//", "/." and "/.."
			}
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}
