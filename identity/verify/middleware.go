package verify

import (
	"context"
	"net/http"
)

type ctxKey struct{}

// FromContext returns the identity Middleware verified.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok
}

// NewContext returns ctx carrying id (for tests of handlers behind
// Middleware).
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// Middleware verifies the request's X-Zectre-Identity and passes the
// request on with the identity in its context (FromContext). A missing or
// invalid assertion is answered 401 with a JSON error and never reaches
// next; wrap only the routes that need an identified caller.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values(Header)
		tok := ""
		if len(vals) == 1 { // two assertions: refuse rather than pick one
			tok = vals[0]
		}
		id, err := v.Verify(r.Context(), tok)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"INVALID_IDENTITY","message":"missing or invalid identity assertion"}}`))
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}
