package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgUserColumns = `id, email, name, password_hash, is_admin, disabled, created_at`

// pgUserRead is what every user query reads: the inserted columns and the
// revocation time, which only RevokeTokens writes.
const pgUserRead = pgUserColumns + `, tokens_valid_after`

func scanPGUser(row pgx.Row) (User, error) {
	var (
		u     User
		after *time.Time
	)
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.IsAdmin, &u.Disabled, &u.CreatedAt, &after)
	if err != nil {
		return User{}, pgError(err)
	}
	u.CreatedAt = dbTime(u.CreatedAt)
	if after != nil {
		u.TokensValidAfter = dbTime(*after)
	}
	return u, nil
}

func (s *postgresStore) CreateUser(ctx context.Context, u User) error {
	id, ok := canonicalID(u.ID)
	if !ok {
		return fmt.Errorf("store: invalid user id %q", u.ID)
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO users (`+pgUserColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, normaliseEmail(u.Email), u.Name, u.PasswordHash, u.IsAdmin, u.Disabled, dbTime(u.CreatedAt))
	return pgError(err)
}

// The lookups compare lower(email) so that the unique index serves them.

func (s *postgresStore) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanPGUser(s.pool.QueryRow(ctx,
		`SELECT `+pgUserRead+` FROM users WHERE lower(email) = lower($1)`, normaliseEmail(email)))
}

func (s *postgresStore) UserByID(ctx context.Context, id string) (User, error) {
	id, ok := canonicalID(id)
	if !ok {
		return User{}, ErrNotFound
	}
	return scanPGUser(s.pool.QueryRow(ctx, `SELECT `+pgUserRead+` FROM users WHERE id = $1`, id))
}

func (s *postgresStore) SetPasswordHash(ctx context.Context, userID, hash string) error {
	id, ok := canonicalID(userID)
	if !ok {
		return ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash)
	if err != nil {
		return pgError(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *postgresStore) SetDisabled(ctx context.Context, email string, disabled bool) (User, error) {
	return scanPGUser(s.pool.QueryRow(ctx,
		`UPDATE users SET disabled = $2 WHERE lower(email) = lower($1) RETURNING `+pgUserRead,
		normaliseEmail(email), disabled))
}

func (s *postgresStore) SetAdmin(ctx context.Context, email string, admin bool) (User, error) {
	return scanPGUser(s.pool.QueryRow(ctx,
		`UPDATE users SET is_admin = $2 WHERE lower(email) = lower($1) RETURNING `+pgUserRead,
		normaliseEmail(email), admin))
}

func (s *postgresStore) RevokeTokens(ctx context.Context, email string, at time.Time) (User, error) {
	return scanPGUser(s.pool.QueryRow(ctx,
		`UPDATE users SET tokens_valid_after = GREATEST(COALESCE(tokens_valid_after, $2), $2)
		 WHERE lower(email) = lower($1) RETURNING `+pgUserRead,
		normaliseEmail(email), revocationTime(at)))
}
