package handlers

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
)

// Bounds of part B on key creation.
const (
	maxKeyNameLength = 100 // code points
	maxScopes        = 32
	maxExpiresInDays = 3650
)

type keyJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Prefix     string   `json:"prefix"`
	Scopes     []string `json:"scopes"`
	ExpiresAt  *string  `json:"expires_at"`
	LastUsedAt *string  `json:"last_used_at"`
	CreatedAt  string   `json:"created_at"`
}

type createdKeyJSON struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Key       string   `json:"key"`
	Prefix    string   `json:"prefix"`
	Scopes    []string `json:"scopes"`
	ExpiresAt *string  `json:"expires_at"`
	CreatedAt string   `json:"created_at"`
}

func (a *API) listKeys(ctx context.Context, rc *fasthttp.RequestCtx, u authn.AuthUser) error {
	keys, err := a.Store.ListAPIKeys(ctx, u.ID)
	if err != nil {
		return err
	}
	data := make([]keyJSON, 0, len(keys))
	for _, k := range keys {
		data = append(data, keyJSON{
			ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes,
			ExpiresAt: optionalTimestamp(k.ExpiresAt), LastUsedAt: optionalTimestamp(k.LastUsedAt),
			CreatedAt: timestamp(k.CreatedAt),
		})
	}
	writeJSON(rc, fasthttp.StatusOK, map[string][]keyJSON{"data": data})
	return nil
}

type createKeyRequest struct {
	Name          *string   `json:"name"`
	Scopes        *[]string `json:"scopes"`
	ExpiresInDays *float64  `json:"expires_in_days"`
}

func (a *API) createKey(ctx context.Context, rc *fasthttp.RequestCtx, u authn.AuthUser) error {
	var req createKeyRequest
	if err := decodeBody(rc, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(deref(req.Name))
	if name == "" || !store.Printable(name, maxKeyNameLength) {
		return validationError("name is required: 1 to 100 printable characters.")
	}
	scopes := []string{authn.ScopeAll}
	if req.Scopes != nil {
		var err error
		if scopes, err = validScopes(*req.Scopes); err != nil {
			return err
		}
	}
	now := a.Now().UTC()
	var expires *time.Time
	if d := req.ExpiresInDays; d != nil {
		if *d != math.Trunc(*d) || *d < 1 || *d > maxExpiresInDays {
			return validationError("expires_in_days must be a whole number from 1 to 3650, or null.")
		}
		t := now.Add(time.Duration(*d) * 24 * time.Hour)
		expires = &t
	}
	raw, k, err := newAPIKey(u.ID, name, scopes, expires, now)
	if err != nil {
		return err
	}
	if err := a.Store.CreateAPIKey(ctx, k); err != nil {
		return err
	}
	a.Log.Info("api key created", "user_id", u.ID, "key_id", k.ID, "key_prefix", k.Prefix, "request_id", requestID(rc))
	writeJSON(rc, fasthttp.StatusCreated, createdKeyJSON{
		ID: k.ID, Name: k.Name, Key: raw, Prefix: k.Prefix, Scopes: k.Scopes,
		ExpiresAt: optionalTimestamp(k.ExpiresAt), CreatedAt: timestamp(k.CreatedAt),
	})
	return nil
}

func (a *API) deleteKey(ctx context.Context, rc *fasthttp.RequestCtx, u authn.AuthUser) error {
	id, _ := rc.UserValue("id").(string)
	k, err := a.Store.DeleteAPIKey(ctx, u.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return newError(404, "NOT_FOUND", "No API key of yours has this id.")
	}
	if err != nil {
		return err
	}
	a.Log.Info("api key deleted", "user_id", u.ID, "key_id", k.ID, "key_prefix", k.Prefix, "request_id", requestID(rc))
	rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// newAPIKey makes a key for userID; the raw key goes to the caller once and
// only its digest is stored.
func newAPIKey(userID, name string, scopes []string, expires *time.Time, now time.Time) (string, store.APIKey, error) {
	nk, err := authn.GenerateKey()
	if err != nil {
		return "", store.APIKey{}, err
	}
	return nk.Raw, store.APIKey{
		ID: newID(), UserID: userID, Name: name, Prefix: nk.Prefix,
		Digest: nk.Digest, Scopes: scopes, ExpiresAt: expires, CreatedAt: now,
	}, nil
}

// validScopes checks 1 to 32 scopes, each valid by authn.ValidScope, and
// drops repeats.
func validScopes(in []string) ([]string, error) {
	if len(in) == 0 || len(in) > maxScopes {
		return nil, errScopes
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		switch err := authn.ValidScope(s); {
		case errors.Is(err, authn.ErrScopeWildcard):
			return nil, errScopeWildcard
		case err != nil:
			return nil, errScopes
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

var (
	errScopes        = validationError("scopes must be 1 to 32 strings of 1 to 64 characters from a-z 0-9 : . _ * -")
	errScopeWildcard = validationError("`*` is only valid alone; name each scope.")
)
