package handlers

import (
	"bytes"
	"fmt"
	"strings"
	"unsafe"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/proxy"
)

// ownNamespaces are the path trees of the Authentication API: every path in
// them is answered by the service (JSON 404/405 for unknown ones), never
// forwarded.
var ownNamespaces = []string{"/api/v1/auth", "/api/v1/user", "/api/v1/api-keys"}

// NewHandler returns the server's handler, the front of every request. It
// normalises the raw path once (400 INVALID_PATH when that cannot be done
// safely) and uses that one path for everything after: to choose between
// the forward-auth endpoint, the service's own routes (the Authentication
// API, /healthz, /readyz, anything else the router serves) and the edge,
// for the route rules, and as the path forwarded upstream. So the request
// that is decided on and the request that is forwarded cannot disagree:
// /api/v1/%61pi-keys is the API-key endpoint, and /api/v1/auth/login%2F.. is
// refused rather than guessed at.
//
// Before the path, the request line itself must read one way everywhere: a
// protocol other than HTTP/1.1 or HTTP/1.0 is 505, a method that is not an
// uppercase token 400 INVALID_METHOD (proxy.ValidMethod). The service's own
// paths and the verify endpoint are recognised in any case of their
// letters, like route rules (proxy/fold.go): "/API/V1/USER" is never
// forwarded.
//
// edge may be nil: then forward-auth and every other path answer 404.
func NewHandler(api *API, edge *proxy.Handler) fasthttp.RequestHandler {
	r := NewRouter(api) // also sets api's defaults
	own := ownPaths(r)
	log := api.Log
	return func(rc *fasthttp.RequestCtx) {
		if p := rc.Request.Header.Protocol(); string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
			rc.SetConnectionClose()
			writeError(rc, log, proxy.ErrHTTPVersion)
			return
		}
		if !proxy.ValidMethod(rc.Method()) {
			writeError(rc, log, proxy.ErrBadMethod)
			return
		}
		raw := rc.URI().PathOriginal()
		if len(raw) == 0 {
			raw = slash // absolute-form target without a path
		}
		var path string
		var err error
		if string(raw) == proxy.VerifyPath {
			path = proxy.VerifyPath // the hot forward-auth path, without a copy
		} else if path, err = proxy.NormalizePath(raw); err != nil {
			writeError(rc, log, err)
			return
		}
		switch {
		case proxy.IsVerifyPath(path) || proxy.IsVerifyPath(bytesString(raw)):
			// A raw path under the verify endpoint stays there, whatever
			// its dot segments resolve to: forward-auth never forwards.
			err = callEdge(rc, edge, path, (*proxy.Handler).Verify)
		case own.contains(path):
			if !bytes.Equal(raw, []byte(path)) {
				// The router routes on the raw path; give it the normal one.
				rc.URI().SetPath(path)
			}
			r.Handler(rc)
			return
		default:
			err = callEdge(rc, edge, path, (*proxy.Handler).Serve)
		}
		if err != nil {
			writeError(rc, log, err)
		}
	}
}

var slash = []byte("/")

func callEdge(rc *fasthttp.RequestCtx, edge *proxy.Handler, path string, f func(*proxy.Handler, *fasthttp.RequestCtx, string) error) (err error) {
	if edge == nil {
		return errNotFound
	}
	defer func() {
		if v := recover(); v != nil {
			err = &Error{Status: 500, Code: "INTERNAL", Message: "Something went wrong on our side.", Err: panicError{v}}
		}
	}()
	return f(edge, rc, path)
}

type panicError struct{ v any }

func (p panicError) Error() string { return "edge panicked: " + fmt.Sprint(p.v) }

// bytesString views b as a string for the rest of the request.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// ownSet is which normalised paths the service answers itself: the
// Authentication API's namespaces and every path the router registered
// (static ones exactly, parameterised ones by their static prefix).
type ownSet struct {
	exact    map[string]bool
	prefixes []string // each ends with "/"; a path below one is own
}

// Both hold fold keys (proxy.FoldPath), so that a path is own in every case
// of its letters.
func ownPaths(r *router.Router) ownSet {
	s := ownSet{exact: map[string]bool{}}
	for _, ns := range ownNamespaces {
		s.exact[proxy.FoldPath(ns)] = true
		s.prefixes = append(s.prefixes, proxy.FoldPath(ns+"/"))
	}
	for _, paths := range r.List() {
		for _, p := range paths {
			k := strings.IndexByte(p, '{')
			if k < 0 {
				s.exact[proxy.FoldPath(p)] = true
				continue
			}
			// A parameter right below the root would claim every path.
			if prefix := p[:strings.LastIndexByte(p[:k], '/')+1]; prefix != "/" {
				s.prefixes = append(s.prefixes, proxy.FoldPath(prefix))
			}
		}
	}
	return s
}

func (s ownSet) contains(path string) bool {
	key := proxy.FoldPath(path)
	if s.exact[key] {
		return true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}
