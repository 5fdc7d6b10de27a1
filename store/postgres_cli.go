package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgCLIColumns = `code_digest, device_name, status, user_id, sealed_key, expires_at, created_at`

func scanPGCLI(row pgx.Row) (CLISession, error) {
	var (
		cs     CLISession
		digest []byte
		userID *string
	)
	err := row.Scan(&digest, &cs.DeviceName, &cs.Status, &userID, &cs.SealedKey, &cs.ExpiresAt, &cs.CreatedAt)
	if err != nil {
		return CLISession{}, pgError(err)
	}
	if cs.CodeDigest, err = toDigest(digest); err != nil {
		return CLISession{}, err
	}
	if userID != nil {
		cs.UserID = *userID
	}
	cs.ExpiresAt = dbTime(cs.ExpiresAt)
	cs.CreatedAt = dbTime(cs.CreatedAt)
	return cs, nil
}

func (s *postgresStore) CreateCLISession(ctx context.Context, cs CLISession) error {
	var userID *string
	if cs.UserID != "" {
		id, ok := canonicalID(cs.UserID)
		if !ok {
			return ErrNotFound
		}
		userID = &id
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO cli_sessions (`+pgCLIColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		cs.CodeDigest[:], cs.DeviceName, string(cliStatus(cs.Status)), userID, cs.SealedKey,
		dbTime(cs.ExpiresAt), dbTime(cs.CreatedAt))
	return pgError(err)
}

func (s *postgresStore) CLISessionByDigest(ctx context.Context, digest [32]byte) (CLISession, error) {
	return scanPGCLI(s.pool.QueryRow(ctx, `SELECT `+pgCLIColumns+` FROM cli_sessions WHERE code_digest = $1`, digest[:]))
}

func (s *postgresStore) CompleteCLISession(ctx context.Context, digest [32]byte, now time.Time, key APIKey, sealed []byte) error {
	if _, _, _, err := validKey(key); err != nil {
		return err
	}
	userID, _ := canonicalID(key.UserID)
	return pgError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// FOR UPDATE makes a concurrent completer wait here and then read
		// the winner's status, instead of failing later on the update.
		var (
			status  CLIStatus
			expires time.Time
		)
		err := tx.QueryRow(ctx,
			`SELECT status, expires_at FROM cli_sessions WHERE code_digest = $1 FOR UPDATE`, digest[:]).
			Scan(&status, &expires)
		switch {
		case err != nil:
			return err
		case status != CLIPending:
			return ErrSessionUsed
		case !expires.After(now):
			return ErrSessionExpired
		}
		if err := insertPGKey(ctx, tx, key); err != nil {
			return err
		}
		// The status guard is the real arbiter: whatever the lock did, only
		// one transaction can move the row out of pending.
		tag, err := tx.Exec(ctx,
			`UPDATE cli_sessions SET status = 'completed', user_id = $2, sealed_key = $3
			 WHERE code_digest = $1 AND status = 'pending'`, digest[:], userID, sealed)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrSessionUsed
		}
		return nil
	}))
}

// DeliverCLISession reads the sealed key through a locking subquery because
// RETURNING would only show the erased value; a concurrent deliverer waits on
// the row lock, re-checks status = 'completed' and matches nothing.
func (s *postgresStore) DeliverCLISession(ctx context.Context, digest [32]byte) (CLISession, error) {
	cs, err := scanPGCLI(s.pool.QueryRow(ctx, `
		UPDATE cli_sessions s SET status = 'delivered', sealed_key = NULL
		FROM (SELECT code_digest, sealed_key FROM cli_sessions
		      WHERE code_digest = $1 AND status = 'completed' FOR UPDATE) old
		WHERE s.code_digest = old.code_digest
		RETURNING s.code_digest, s.device_name, s.status, s.user_id, old.sealed_key, s.expires_at, s.created_at`,
		digest[:]))
	if !errors.Is(err, ErrNotFound) {
		return cs, err
	}
	var exists bool
	if err := s.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM cli_sessions WHERE code_digest = $1)`, digest[:]).Scan(&exists); err != nil {
		return CLISession{}, pgError(err)
	}
	if exists {
		return CLISession{}, ErrSessionUsed
	}
	return CLISession{}, ErrNotFound
}

func (s *postgresStore) DeleteExpiredCLISessions(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM cli_sessions WHERE expires_at < $1`, dbTime(cutoff))
	if err != nil {
		return 0, pgError(err)
	}
	return tag.RowsAffected(), nil
}
