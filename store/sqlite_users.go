package store

import (
	"context"
	"fmt"
	"time"
)

const sqliteUserColumns = `id, email, name, password_hash, is_admin, disabled, created_at`

// sqliteUserRead is what every user query reads: the inserted columns and
// the revocation time, which only RevokeTokens writes.
const sqliteUserRead = sqliteUserColumns + `, tokens_valid_after`

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

func scanSQLiteUser(row rowScanner) (User, error) {
	var (
		u       User
		created int64
		after   *int64
	)
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.IsAdmin, &u.Disabled, &created, &after); err != nil {
		return User{}, sqliteError(err)
	}
	u.CreatedAt = fromMicros(created)
	if after != nil {
		u.TokensValidAfter = fromMicros(*after)
	}
	return u, nil
}

func (s *sqliteStore) CreateUser(ctx context.Context, u User) error {
	id, ok := canonicalID(u.ID)
	if !ok {
		return fmt.Errorf("store: invalid user id %q", u.ID)
	}
	_, err := s.writer.ExecContext(ctx,
		`INSERT INTO users (`+sqliteUserColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		id, normaliseEmail(u.Email), u.Name, u.PasswordHash, u.IsAdmin, u.Disabled, toMicros(u.CreatedAt))
	return sqliteError(err)
}

// The email column is COLLATE NOCASE, so plain equality is case-insensitive
// and uses the unique index.

func (s *sqliteStore) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanSQLiteUser(s.reader.QueryRowContext(ctx,
		`SELECT `+sqliteUserRead+` FROM users WHERE email = ?`, normaliseEmail(email)))
}

func (s *sqliteStore) UserByID(ctx context.Context, id string) (User, error) {
	id, ok := canonicalID(id)
	if !ok {
		return User{}, ErrNotFound
	}
	return scanSQLiteUser(s.reader.QueryRowContext(ctx, `SELECT `+sqliteUserRead+` FROM users WHERE id = ?`, id))
}

func (s *sqliteStore) SetPasswordHash(ctx context.Context, userID, hash string) error {
	id, ok := canonicalID(userID)
	if !ok {
		return ErrNotFound
	}
	res, err := s.writer.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
	if err != nil {
		return sqliteError(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *sqliteStore) SetDisabled(ctx context.Context, email string, disabled bool) (User, error) {
	return scanSQLiteUser(s.writer.QueryRowContext(ctx,
		`UPDATE users SET disabled = ? WHERE email = ? RETURNING `+sqliteUserRead, disabled, normaliseEmail(email)))
}

func (s *sqliteStore) SetAdmin(ctx context.Context, email string, admin bool) (User, error) {
	return scanSQLiteUser(s.writer.QueryRowContext(ctx,
		`UPDATE users SET is_admin = ? WHERE email = ? RETURNING `+sqliteUserRead, admin, normaliseEmail(email)))
}

func (s *sqliteStore) RevokeTokens(ctx context.Context, email string, at time.Time) (User, error) {
	v := revocationTime(at).UnixMicro()
	return scanSQLiteUser(s.writer.QueryRowContext(ctx,
		`UPDATE users SET tokens_valid_after = max(coalesce(tokens_valid_after, ?), ?)
		 WHERE email = ? RETURNING `+sqliteUserRead, v, v, normaliseEmail(email)))
}
