package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// RollAPIKey locks the old row, so that two rolls of one key cannot both
// succeed on a key they read before the other's change.
func (s *postgresStore) RollAPIKey(ctx context.Context, userID, keyID string, graceEnd time.Time, next func(APIKey) APIKey) (APIKey, APIKey, error) {
	uid, ok1 := canonicalID(userID)
	kid, ok2 := canonicalID(keyID)
	if !ok1 || !ok2 {
		return APIKey{}, APIKey{}, ErrNotFound
	}
	var old, created APIKey
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		old, err = scanPGKey(tx.QueryRow(ctx,
			`SELECT `+pgKeyColumns+` FROM api_keys WHERE id = $1 AND user_id = $2 FOR UPDATE`, kid, uid))
		if err != nil {
			return err
		}
		created = next(old)
		if err := insertPGKey(ctx, tx, created); err != nil {
			return err
		}
		old, err = scanPGKey(tx.QueryRow(ctx,
			`UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at, $2), $2) WHERE id = $1 RETURNING `+pgKeyColumns,
			kid, dbTime(graceEnd)))
		if err != nil {
			return err
		}
		// Read back, so the new key has the shape every other read gives.
		created, err = scanPGKey(tx.QueryRow(ctx, `SELECT `+pgKeyColumns+` FROM api_keys WHERE id = $1`, created.ID))
		return err
	})
	if err != nil {
		return APIKey{}, APIKey{}, pgError(err)
	}
	return old, created, nil
}
