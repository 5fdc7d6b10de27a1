package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const pgKeyColumns = `id, user_id, name, prefix, digest, scopes, expires_at, last_used_at, created_at`

func scanPGKey(row pgx.Row) (APIKey, error) {
	var (
		k      APIKey
		digest []byte
		scopes string
	)
	err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &digest, &scopes, &k.ExpiresAt, &k.LastUsedAt, &k.CreatedAt)
	if err != nil {
		return APIKey{}, pgError(err)
	}
	if k.Digest, err = toDigest(digest); err != nil {
		return APIKey{}, err
	}
	k.Scopes = splitScopes(scopes)
	k.ExpiresAt = dbTimePtr(k.ExpiresAt)
	k.LastUsedAt = dbTimePtr(k.LastUsedAt)
	k.CreatedAt = dbTime(k.CreatedAt)
	return k, nil
}

// pgExecer is a pool or a transaction.
type pgExecer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertPGKey(ctx context.Context, db pgExecer, k APIKey) error {
	id, userID, scopes, err := validKey(k)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx,
		`INSERT INTO api_keys (`+pgKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		id, userID, k.Name, k.Prefix, k.Digest[:], scopes,
		dbTimePtr(k.ExpiresAt), dbTimePtr(k.LastUsedAt), dbTime(k.CreatedAt))
	return pgError(err)
}

func (s *postgresStore) CreateAPIKey(ctx context.Context, k APIKey) error {
	return insertPGKey(ctx, s.pool, k)
}

func (s *postgresStore) APIKeyByDigest(ctx context.Context, digest [32]byte) (APIKey, error) {
	return scanPGKey(s.pool.QueryRow(ctx, `SELECT `+pgKeyColumns+` FROM api_keys WHERE digest = $1`, digest[:]))
}

func (s *postgresStore) ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error) {
	keys := []APIKey{}
	id, ok := canonicalID(userID)
	if !ok {
		return keys, nil
	}
	rows, err := s.pool.Query(ctx,
		`SELECT `+pgKeyColumns+` FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, id)
	if err != nil {
		return nil, pgError(err)
	}
	defer rows.Close()
	for rows.Next() {
		k, err := scanPGKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, pgError(rows.Err())
}

func (s *postgresStore) DeleteAPIKey(ctx context.Context, userID, keyID string) (APIKey, error) {
	uid, ok1 := canonicalID(userID)
	kid, ok2 := canonicalID(keyID)
	if !ok1 || !ok2 {
		return APIKey{}, ErrNotFound
	}
	return scanPGKey(s.pool.QueryRow(ctx,
		`DELETE FROM api_keys WHERE id = $1 AND user_id = $2 RETURNING `+pgKeyColumns, kid, uid))
}

// TouchAPIKeys never moves last_used_at backwards, since batches from several
// replicas can arrive out of order. Rows are updated in id order so that two
// overlapping batches lock them in the same order and cannot deadlock.
func (s *postgresStore) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	return inChunks(canonicalTouches(used), func(chunk []touch) error {
		return pgError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			batch := &pgx.Batch{}
			for _, t := range chunk {
				batch.Queue(`UPDATE api_keys SET last_used_at = GREATEST(last_used_at, $2) WHERE id = $1`, t.id, t.at)
			}
			return tx.SendBatch(ctx, batch).Close()
		}))
	})
}
