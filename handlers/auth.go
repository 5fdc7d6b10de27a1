package handlers

import (
	"context"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/proxy"
)

// authedFunc is a handler for an (auth) route.
type authedFunc func(ctx context.Context, rc *fasthttp.RequestCtx, u authn.AuthUser) error

// authed resolves the caller before h runs; no or a bad credential ends the
// request with 401.
func (a *API) authed(h authedFunc) handlerFunc {
	return func(ctx context.Context, rc *fasthttp.RequestCtx) error {
		u, err := a.resolve(ctx, rc)
		if err != nil {
			return err
		}
		return h(ctx, rc, u)
	}
}

// needScope refuses API keys that lack scope.
func (a *API) needScope(scope string, h authedFunc) authedFunc {
	return func(ctx context.Context, rc *fasthttp.RequestCtx, u authn.AuthUser) error {
		if !u.HasScope(scope) {
			return authn.ErrInsufficientScope
		}
		return h(ctx, rc, u)
	}
}

// resolve finds the caller and records the audit line of the attempt. The
// line names the method, the user or the key's public prefix, and the
// client address; never a credential.
//
// Every credential line counts, as on the edge: each must be valid, and all
// must name one caller (authn.ResolveAll).
func (a *API) resolve(ctx context.Context, rc *fasthttp.RequestCtx) (authn.AuthUser, error) {
	var c authn.Credentials
	creds, err := proxy.Presented(&rc.Request.Header)
	var u authn.AuthUser
	if err == nil {
		var i int
		u, i, err = authn.ResolveAll(ctx, a.Resolver.Resolve, creds)
		if i < len(creds) {
			c = creds[i]
		}
	}
	if err == authn.ErrNoCredential {
		return u, err
	}
	at := audit.Attempt{
		Source: "api", Path: string(rc.Path()), Client: proxy.ClientAddr(rc, a.Trusted), RequestID: requestID(rc),
		Credentials: c, Err: err,
	}
	if err == nil {
		at.User = u
	}
	a.record(at)
	return u, err
}

// record writes the audit line of an attempt through the shared audit
// writer, or, without one, to the log.
func (a *API) record(at audit.Attempt) {
	if a.Audit != nil {
		a.Audit.Attempt(at)
		return
	}
	e := audit.NewEvent(at, ErrorCode)
	attrs := []any{"outcome", e.Outcome, "source", e.Source, "client", e.Client.String(), "path", e.Path}
	for _, kv := range [...][2]string{
		{"method", e.Method}, {"code", e.Code}, {"user_id", e.UserID}, {"key_id", e.KeyID},
		{"key_prefix", e.KeyPrefix}, {"request_id", e.RequestID}, {"reason", e.Reason},
	} {
		if kv[1] != "" {
			attrs = append(attrs, kv[0], kv[1])
		}
	}
	a.Log.Info("auth", attrs...)
}

// clientAddr is the address limits and logs attribute a request to: the
// peer, or the client a trusted proxy names in X-Forwarded-For.
func (a *API) clientAddr(rc *fasthttp.RequestCtx) string {
	return proxy.ClientAddr(rc, a.Trusted).String()
}
