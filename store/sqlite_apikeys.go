package store

import (
	"context"
	"database/sql"
	"time"
)

const sqliteKeyColumns = `id, user_id, name, prefix, digest, scopes, expires_at, last_used_at, created_at`

func scanSQLiteKey(row rowScanner) (APIKey, error) {
	var (
		k                 APIKey
		digest            []byte
		scopes            string
		expires, lastUsed sql.NullInt64
		created           int64
	)
	err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &digest, &scopes, &expires, &lastUsed, &created)
	if err != nil {
		return APIKey{}, sqliteError(err)
	}
	if k.Digest, err = toDigest(digest); err != nil {
		return APIKey{}, err
	}
	k.Scopes = splitScopes(scopes)
	k.ExpiresAt = fromNullMicros(expires)
	k.LastUsedAt = fromNullMicros(lastUsed)
	k.CreatedAt = fromMicros(created)
	return k, nil
}

// sqliteExecer is the writer or a transaction on it.
type sqliteExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertSQLiteKey(ctx context.Context, db sqliteExecer, k APIKey) error {
	id, userID, scopes, err := validKey(k)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx,
		`INSERT INTO api_keys (`+sqliteKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, userID, k.Name, k.Prefix, k.Digest[:], scopes,
		toNullMicros(k.ExpiresAt), toNullMicros(k.LastUsedAt), toMicros(k.CreatedAt))
	return sqliteError(err)
}

func (s *sqliteStore) CreateAPIKey(ctx context.Context, k APIKey) error {
	return insertSQLiteKey(ctx, s.writer, k)
}

func (s *sqliteStore) APIKeyByDigest(ctx context.Context, digest [32]byte) (APIKey, error) {
	return scanSQLiteKey(s.reader.QueryRowContext(ctx,
		`SELECT `+sqliteKeyColumns+` FROM api_keys WHERE digest = ?`, digest[:]))
}

func (s *sqliteStore) ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error) {
	keys := []APIKey{}
	id, ok := canonicalID(userID)
	if !ok {
		return keys, nil
	}
	rows, err := s.reader.QueryContext(ctx,
		`SELECT `+sqliteKeyColumns+` FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, id DESC`, id)
	if err != nil {
		return nil, sqliteError(err)
	}
	defer rows.Close()
	for rows.Next() {
		k, err := scanSQLiteKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, sqliteError(rows.Err())
}

func (s *sqliteStore) DeleteAPIKey(ctx context.Context, userID, keyID string) (APIKey, error) {
	uid, ok1 := canonicalID(userID)
	kid, ok2 := canonicalID(keyID)
	if !ok1 || !ok2 {
		return APIKey{}, ErrNotFound
	}
	return scanSQLiteKey(s.writer.QueryRowContext(ctx,
		`DELETE FROM api_keys WHERE id = ? AND user_id = ? RETURNING `+sqliteKeyColumns, kid, uid))
}

// TouchAPIKeys never moves last_used_at backwards, since batches from several
// replicas can arrive out of order.
func (s *sqliteStore) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	return inChunks(canonicalTouches(used), func(chunk []touch) error {
		return s.withWriteTx(ctx, func(tx *sql.Tx) error {
			stmt, err := tx.PrepareContext(ctx,
				`UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ?1), ?1) WHERE id = ?2`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, t := range chunk {
				if _, err := stmt.ExecContext(ctx, toMicros(t.at), t.id); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
