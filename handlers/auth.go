package handlers

import (
	"context"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
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

// resolve finds the caller and writes the audit line of the attempt. The
// line names the method, the user or the key's public prefix, and the
// client address; never a credential.
func (a *API) resolve(ctx context.Context, rc *fasthttp.RequestCtx) (authn.AuthUser, error) {
	c := authn.Credentials{
		Authorization: string(rc.Request.Header.Peek(fasthttp.HeaderAuthorization)),
		APIKey:        string(rc.Request.Header.Peek("X-API-Key")),
	}
	u, err := a.Resolver.Resolve(ctx, c)
	if err == authn.ErrNoCredential {
		return u, err
	}
	attrs := []any{"client", clientAddr(rc), "path", string(rc.Path())}
	if err != nil {
		e := toError(err)
		attrs = append(attrs, "outcome", "denied", "code", e.Code, "reason", err.Error())
		if p := keyPrefix(c); p != "" {
			attrs = append(attrs, "key_prefix", p)
		}
		a.Log.Info("auth", attrs...)
		return u, err
	}
	attrs = append(attrs, "outcome", "ok", "method", string(u.Method), "user_id", u.ID)
	if u.APIKeyID != "" {
		attrs = append(attrs, "key_id", u.APIKeyID)
	}
	a.Log.Info("auth", attrs...)
	return u, nil
}

// keyPrefix is the public prefix of a presented API key, for logs.
func keyPrefix(c authn.Credentials) string {
	k := c.APIKey
	if len(k) < 8 || k[:len(authn.KeyPrefix)] != authn.KeyPrefix {
		return ""
	}
	return k[:8]
}

// clientAddr is the address limits and logs attribute a request to.
func clientAddr(rc *fasthttp.RequestCtx) string {
	return rc.RemoteIP().String()
}
