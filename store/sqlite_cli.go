package store

import (
	"context"
	"database/sql"
	"time"
)

const sqliteCLIColumns = `code_digest, device_name, status, user_id, sealed_key, expires_at, created_at`

func scanSQLiteCLI(row rowScanner) (CLISession, error) {
	var (
		cs               CLISession
		digest           []byte
		userID           sql.NullString
		expires, created int64
	)
	err := row.Scan(&digest, &cs.DeviceName, &cs.Status, &userID, &cs.SealedKey, &expires, &created)
	if err != nil {
		return CLISession{}, sqliteError(err)
	}
	if cs.CodeDigest, err = toDigest(digest); err != nil {
		return CLISession{}, err
	}
	cs.UserID = userID.String
	cs.ExpiresAt = fromMicros(expires)
	cs.CreatedAt = fromMicros(created)
	return cs, nil
}

func (s *sqliteStore) CreateCLISession(ctx context.Context, cs CLISession) error {
	var userID sql.NullString
	if cs.UserID != "" {
		id, ok := canonicalID(cs.UserID)
		if !ok {
			return ErrNotFound
		}
		userID = sql.NullString{String: id, Valid: true}
	}
	_, err := s.writer.ExecContext(ctx,
		`INSERT INTO cli_sessions (`+sqliteCLIColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		cs.CodeDigest[:], cs.DeviceName, string(cliStatus(cs.Status)), userID, cs.SealedKey,
		toMicros(cs.ExpiresAt), toMicros(cs.CreatedAt))
	return sqliteError(err)
}

func (s *sqliteStore) CLISessionByDigest(ctx context.Context, digest [32]byte) (CLISession, error) {
	return scanSQLiteCLI(s.reader.QueryRowContext(ctx,
		`SELECT `+sqliteCLIColumns+` FROM cli_sessions WHERE code_digest = ?`, digest[:]))
}

// The writer transactions below begin IMMEDIATE and so hold the write lock
// from their first read: the checks and the update cannot interleave with
// another caller's. The status guards in the updates keep them correct even
// without that.

func (s *sqliteStore) CompleteCLISession(ctx context.Context, digest [32]byte, now time.Time, key APIKey, sealed []byte) error {
	if _, _, _, err := validKey(key); err != nil {
		return err
	}
	userID, _ := canonicalID(key.UserID)
	return s.withWriteTx(ctx, func(tx *sql.Tx) error {
		var (
			status  CLIStatus
			expires int64
		)
		err := tx.QueryRowContext(ctx,
			`SELECT status, expires_at FROM cli_sessions WHERE code_digest = ?`, digest[:]).Scan(&status, &expires)
		switch {
		case err != nil:
			return err
		case status != CLIPending:
			return ErrSessionUsed
		case !fromMicros(expires).After(now):
			return ErrSessionExpired
		}
		if err := insertSQLiteKey(ctx, tx, key); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE cli_sessions SET status = 'completed', user_id = ?, sealed_key = ?
			 WHERE code_digest = ? AND status = 'pending'`, userID, sealed, digest[:])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return ErrSessionUsed
		}
		return nil
	})
}

func (s *sqliteStore) DeliverCLISession(ctx context.Context, digest [32]byte) (CLISession, error) {
	var cs CLISession
	err := s.withWriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		cs, err = scanSQLiteCLI(tx.QueryRowContext(ctx,
			`SELECT `+sqliteCLIColumns+` FROM cli_sessions WHERE code_digest = ?`, digest[:]))
		if err != nil {
			return err
		}
		if cs.Status != CLICompleted {
			return ErrSessionUsed
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE cli_sessions SET status = 'delivered', sealed_key = NULL
			 WHERE code_digest = ? AND status = 'completed'`, digest[:])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return ErrSessionUsed
		}
		cs.Status = CLIDelivered
		return nil
	})
	if err != nil {
		return CLISession{}, err
	}
	return cs, nil
}

func (s *sqliteStore) DeleteExpiredCLISessions(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM cli_sessions WHERE expires_at < ?`, toMicros(cutoff))
	if err != nil {
		return 0, sqliteError(err)
	}
	n, err := res.RowsAffected()
	return n, sqliteError(err)
}
