package handlers

import (
	"context"

	"github.com/valyala/fasthttp"
)

// JWKSPath publishes the public keys of the identity assertions.
const JWKSPath = "/.well-known/jwks.json"

// jwksMaxAge is how long the JWKS may be cached: a rotated key is added as
// the signing key with the old one kept as previous, so 5 minutes of
// caching never makes a verifier miss the key of a fresh assertion for
// longer than its refetch on an unknown kid takes.
const jwksMaxAge = "public, max-age=300"

func (a *API) jwks(_ context.Context, rc *fasthttp.RequestCtx) error {
	rc.Response.Header.SetContentType("application/json")
	rc.Response.Header.Set(fasthttp.HeaderCacheControl, jwksMaxAge)
	rc.SetStatusCode(fasthttp.StatusOK)
	if !rc.IsHead() {
		rc.SetBody(a.IdentityJWKS)
	}
	return nil
}
