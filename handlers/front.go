package handlers

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/proxy"
)

// Class is what the front decided a request is: which part of the service
// answers it. It is decided once, in Front.Serve, and handed to whoever
// needs it (the request metrics) instead of being derived again.
type Class uint8

// The classes. Their names are the route label of the request metrics.
const (
	ClassAuthAPI     Class = iota // the Authentication API
	ClassEdge                     // proxy mode: forwarded to an upstream, or refused by the edge
	ClassForwardAuth              // the forward-auth endpoint
	ClassHealth                   // /healthz and /readyz
	ClassOther                    // the built-in CLI login page; requests refused before routing
	ClassExtAuthz                 // Envoy's ext_authz Check, on its own listener (never the front's)
	NumClasses                    // the number of classes
)

var classNames = [NumClasses]string{"auth_api", "edge_proxy", "forward_auth", "health", "other", "ext_authz"}

// String is the class's label value; a Class out of range reads as "other".
func (c Class) String() string {
	if c >= NumClasses {
		return classNames[ClassOther]
	}
	return classNames[c]
}

// ownNamespaces are the path trees of the Authentication API: every path in
// them is answered by the service (JSON 404/405 for unknown ones), never
// forwarded.
var ownNamespaces = []string{"/api/v1/auth", "/api/v1/user", "/api/v1/api-keys", "/api/v1/secret-scanning"}

// healthPaths are the health checks; cliPagePath the built-in login page
// and its assets (when it is served).
var healthPaths = []string{"/healthz", "/readyz"}

const cliPagePath = "/auth/cli"

// Front is the handler of every request on the main listener. Serve
// normalises the raw path once (400 INVALID_PATH when that cannot be done
// safely) and uses that one path for everything after: to classify the
// request (the forward-auth endpoint, the service's own routes: the
// Authentication API, /healthz, /readyz, the login page; or the edge), for
// the route rules, and as the path forwarded upstream. So the request that
// is decided on and the request that is forwarded cannot disagree:
// /api/v1/%61pi-keys is the API-key endpoint, and /api/v1/auth/login%2F.. is
// refused rather than guessed at.
//
// Before the path, the request line itself must read one way everywhere: a
// protocol other than HTTP/1.1 or HTTP/1.0 is 505, a method that is not an
// uppercase token 400 INVALID_METHOD (proxy.ValidMethod). The service's own
// paths and the verify endpoint are recognised in any case of their
// letters, like route rules (proxy/fold.go): "/API/V1/USER" is never
// forwarded.
type Front struct {
	router  *router.Router
	own     ownSet
	api     *API
	edge    atomic.Pointer[proxy.Handler]
	observe func(*fasthttp.RequestCtx, Class)
}

// NewFront returns the front of api and edge. edge may be nil: then
// forward-auth and every other path answer 404. observe, when not nil,
// learns of every request with its class once it is answered (for a
// streamed upstream body: once its headers are).
func NewFront(api *API, edge *proxy.Handler, observe func(*fasthttp.RequestCtx, Class)) *Front {
	r := newRouter(api) // also sets api's defaults
	f := &Front{router: r, own: ownPaths(r, api.ServeCLIPage), api: api, observe: observe}
	f.edge.Store(edge)
	return f
}

// SetEdge replaces the edge (its route table, trusted peers and upstream
// pools) while the front serves: each request runs entirely on the edge it
// started with.
func (f *Front) SetEdge(edge *proxy.Handler) { f.edge.Store(edge) }

// Edge is the edge in force.
func (f *Front) Edge() *proxy.Handler { return f.edge.Load() }

// Serve is the fasthttp.RequestHandler of the main listener.
func (f *Front) Serve(rc *fasthttp.RequestCtx) {
	class := f.serve(rc)
	if f.observe != nil {
		f.observe(rc, class)
	}
}

func (f *Front) serve(rc *fasthttp.RequestCtx) Class {
	log := f.api.Log
	class, path, err := f.classify(rc)
	switch {
	case err != nil:
		if err == proxy.ErrHTTPVersion {
			rc.SetConnectionClose()
		}
	case class == ClassForwardAuth:
		err = callEdge(rc, f.edge.Load(), path, (*proxy.Handler).Verify)
	case class == ClassEdge:
		err = callEdge(rc, f.edge.Load(), path, (*proxy.Handler).Serve)
	default:
		if raw := rc.URI().PathOriginal(); !bytes.Equal(raw, []byte(path)) {
			// The router routes on the raw path; give it the normal one.
			rc.URI().SetPath(path)
		}
		f.router.Handler(rc)
		return class
	}
	if err != nil {
		writeError(rc, log, err)
	}
	return class
}

// classify decides what the request is, and its normalised path. An error
// is a request refused before routing (ClassOther).
func (f *Front) classify(rc *fasthttp.RequestCtx) (Class, string, error) {
	if p := rc.Request.Header.Protocol(); string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
		return ClassOther, "", proxy.ErrHTTPVersion
	}
	if !proxy.ValidMethod(rc.Method()) {
		return ClassOther, "", proxy.ErrBadMethod
	}
	raw := rc.URI().PathOriginal()
	if len(raw) == 0 {
		raw = slash // absolute-form target without a path
	}
	var path string
	switch {
	case string(raw) == proxy.VerifyPath:
		path = proxy.VerifyPath // the hot forward-auth path
	case proxy.IsNormalPath(raw):
		// Already normal: the raw path itself, which lives as long as
		// the request (nothing sets the URI's path in that case).
		path = bytesString(raw)
	default:
		var err error
		if path, err = proxy.NormalizePath(raw); err != nil {
			return ClassOther, "", err
		}
	}
	// A raw path under the verify endpoint stays there, whatever its dot
	// segments resolve to: forward-auth never forwards.
	if proxy.IsVerifyPath(path) || proxy.IsVerifyPath(bytesString(raw)) {
		return ClassForwardAuth, path, nil
	}
	if c, ok := f.own.class(path); ok {
		return c, path, nil
	}
	return ClassEdge, path, nil
}

var slash = []byte("/")

func callEdge(rc *fasthttp.RequestCtx, edge *proxy.Handler, path string, f func(*proxy.Handler, *fasthttp.RequestCtx, string) error) (err error) {
	if edge == nil {
		return errNotFound
	}
	defer func() {
		if v := recover(); v != nil {
			err = errInternal.wrap(panicError{v})
		}
	}()
	return f(edge, rc, path)
}

type panicError struct{ v any }

func (p panicError) Error() string { return "edge panicked: " + fmt.Sprint(p.v) }

// bytesString views b as a string for the rest of the request.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// ownSet is which normalised paths the service answers itself, and as
// what: the Authentication API's namespaces and every path the router
// registered (static ones exactly, parameterised ones by their static
// prefix). Both hold fold keys (proxy.FoldPath), so that a path is own in
// every case of its letters.
type ownSet struct {
	exact    map[string]Class
	prefixes []ownPrefix
}

type ownPrefix struct {
	prefix string // ends with "/"; a path below it is own
	class  Class
}

func ownPaths(r *router.Router, cliPage bool) ownSet {
	s := ownSet{exact: map[string]Class{}}
	classOf := func(p string) Class {
		switch {
		case cliPage && proxy.IsUnder(p, cliPagePath):
			return ClassOther
		case p == healthPaths[0] || p == healthPaths[1]:
			return ClassHealth
		}
		return ClassAuthAPI
	}
	for _, ns := range ownNamespaces {
		s.exact[proxy.FoldPath(ns)] = ClassAuthAPI
		s.prefixes = append(s.prefixes, ownPrefix{proxy.FoldPath(ns + "/"), ClassAuthAPI})
	}
	for _, paths := range r.List() {
		for _, p := range paths {
			k := strings.IndexByte(p, '{')
			if k < 0 {
				s.exact[proxy.FoldPath(p)] = classOf(p)
				continue
			}
			// A parameter right below the root would claim every path.
			if prefix := p[:strings.LastIndexByte(p[:k], '/')+1]; prefix != "/" {
				s.prefixes = append(s.prefixes, ownPrefix{proxy.FoldPath(prefix), classOf(prefix)})
			}
		}
	}
	return s
}

// class is the class of an own path, and whether path is one.
func (s ownSet) class(path string) (Class, bool) {
	key := proxy.FoldPath(path)
	if c, ok := s.exact[key]; ok {
		return c, true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(key, p.prefix) {
			return p.class, true
		}
	}
	return 0, false
}
