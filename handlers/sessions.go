package handlers

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/authn"
)

// revokeSessions logs the caller out everywhere: every token issued to it
// before now, the one of this request included, own and catalog alike, is
// refused on every replica (the user record carries the time and is
// published like a disable). API keys are not affected. The request's audit
// line is written by authed; this line records the change itself.
func (a *API) revokeSessions(ctx context.Context, rc *fasthttp.RequestCtx, u authn.AuthUser) error {
	changed, err := a.Store.RevokeTokens(ctx, u.Email, a.Now())
	if err != nil {
		return err
	}
	a.Log.Info("tokens revoked", "user_id", u.ID, "valid_after", changed.TokensValidAfter, "request_id", requestID(rc))
	rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}
