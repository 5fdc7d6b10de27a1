package handlers

import (
	"bytes"
	"context"
	"errors"
	"math"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
)

// maxGracePeriodSeconds is a week: long enough for a weekly deploy to pick
// the new key up, short enough that a forgotten old key does not live on.
const maxGracePeriodSeconds = 7 * 24 * 3600

type rollKeyRequest struct {
	GracePeriodSeconds *float64 `json:"grace_period_seconds"`
}

// rollKey replaces one of the caller's keys: a new key with the same name,
// scopes and expiry rule, and the old one expiring when the grace period
// ends. The expiry travels with the old key's cache entry, so every replica
// stops it then without anybody deleting it.
func (a *API) rollKey(ctx context.Context, rc *fasthttp.RequestCtx, u authn.AuthUser) error {
	var req rollKeyRequest
	// Every field is optional, so an empty body is an empty object.
	if len(bytes.TrimSpace(rc.PostBody())) > 0 {
		if err := decodeBody(rc, &req); err != nil {
			return err
		}
	}
	grace := 0.0
	if g := req.GracePeriodSeconds; g != nil {
		if *g != math.Trunc(*g) || *g < 0 || *g > maxGracePeriodSeconds {
			return validationError("grace_period_seconds must be a whole number from 0 to 604800.")
		}
		grace = *g
	}
	id, _ := rc.UserValue("id").(string)
	now := a.Now().UTC()
	var raw string
	var genErr error
	next := func(old store.APIKey) store.APIKey {
		var k store.APIKey
		raw, k, genErr = newAPIKey(old.UserID, old.Name, old.Scopes, rolledExpiry(old, now), now)
		return k
	}
	old, k, err := a.Store.RollAPIKey(ctx, u.ID, id, now.Add(time.Duration(grace)*time.Second), next)
	if genErr != nil {
		return genErr
	}
	if errors.Is(err, store.ErrNotFound) {
		return newError(404, "NOT_FOUND", "No API key of yours has this id.")
	}
	if err != nil {
		return err
	}
	a.Log.Info("api key rolled", "user_id", u.ID, "key_id", old.ID, "key_prefix", old.Prefix,
		"new_key_id", k.ID, "new_key_prefix", k.Prefix, "old_expires_at", timestamp(*old.ExpiresAt),
		"request_id", requestID(rc))
	writeJSON(rc, fasthttp.StatusCreated, createdKeyJSON{
		ID: k.ID, Name: k.Name, Key: raw, Prefix: k.Prefix, Scopes: k.Scopes,
		ExpiresAt: optionalTimestamp(k.ExpiresAt), CreatedAt: timestamp(k.CreatedAt),
	})
	return nil
}

// rolledExpiry keeps the old key's expiry rule: a key made to live N days
// gets a successor that lives N days from now; one that never expires, a
// successor that never expires.
func rolledExpiry(old store.APIKey, now time.Time) *time.Time {
	if old.ExpiresAt == nil {
		return nil
	}
	life := old.ExpiresAt.Sub(old.CreatedAt)
	t := now.Add(life)
	return &t
}
