package store

import (
	"context"
	"database/sql"
	"time"
)

// RollAPIKey runs in one writer transaction: SQLite has one writer, so the
// old key cannot change between the read and the update.
func (s *sqliteStore) RollAPIKey(ctx context.Context, userID, keyID string, graceEnd time.Time, next func(APIKey) APIKey) (APIKey, APIKey, error) {
	uid, ok1 := canonicalID(userID)
	kid, ok2 := canonicalID(keyID)
	if !ok1 || !ok2 {
		return APIKey{}, APIKey{}, ErrNotFound
	}
	var old, created APIKey
	err := s.withWriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		old, err = scanSQLiteKey(tx.QueryRowContext(ctx,
			`SELECT `+sqliteKeyColumns+` FROM api_keys WHERE id = ? AND user_id = ?`, kid, uid))
		if err != nil {
			return err
		}
		created = next(old)
		if err := insertSQLiteKey(ctx, tx, created); err != nil {
			return err
		}
		old, err = scanSQLiteKey(tx.QueryRowContext(ctx,
			`UPDATE api_keys SET expires_at = min(coalesce(expires_at, ?1), ?1) WHERE id = ?2 RETURNING `+sqliteKeyColumns,
			toMicros(graceEnd), kid))
		if err != nil {
			return err
		}
		// Read back, so the new key has the shape every other read gives.
		created, err = scanSQLiteKey(tx.QueryRowContext(ctx, `SELECT `+sqliteKeyColumns+` FROM api_keys WHERE id = ?`, created.ID))
		return err
	})
	if err != nil {
		return APIKey{}, APIKey{}, sqliteError(err)
	}
	return old, created, nil
}
