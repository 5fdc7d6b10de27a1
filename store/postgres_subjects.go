package store

import (
	"context"
	"errors"
)

// The linked user is found through a subquery rather than a join, so that
// the user columns stay unqualified and shared with the other user queries.
const pgUserBySubject = `SELECT ` + pgUserRead + ` FROM users
	WHERE id = (SELECT user_id FROM user_subjects WHERE issuer = $1 AND subject = $2)`

func (s *postgresStore) UserBySubject(ctx context.Context, issuer, subject string) (User, error) {
	return scanPGUser(s.pool.QueryRow(ctx, pgUserBySubject, issuer, subject))
}

// LinkSubject inserts the user and then the link in one transaction. Racing
// callers meet on the unique indexes: PostgreSQL makes the second wait for
// the first to commit, and then it finds the first one's link.
func (s *postgresStore) LinkSubject(ctx context.Context, issuer, subject string, u User) (User, error) {
	if subject == "" {
		return User{}, errors.New("store: link subject: empty subject")
	}
	id, err := newUserID()
	if err != nil {
		return User{}, err
	}
	u.ID, u.Email, u.CreatedAt = id, normaliseEmail(u.Email), dbTime(u.CreatedAt)

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return User{}, pgError(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit

	_, err = tx.Exec(ctx,
		`INSERT INTO users (`+pgUserColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.IsAdmin, u.Disabled, u.CreatedAt)
	if err = pgError(err); errors.Is(err, ErrEmailExists) {
		// Either a racing first sight of this identity created the user
		// (then it is linked by now), or the email is someone else's.
		_ = tx.Rollback(ctx)
		return s.linkedOr(ctx, issuer, subject, err)
	}
	if err != nil {
		return User{}, err
	}
	// ON CONFLICT: the identity was linked meanwhile (a racing first sight
	// whose token carried another email); that link wins.
	tag, err := tx.Exec(ctx,
		`INSERT INTO user_subjects (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (issuer, subject) DO NOTHING`,
		issuer, subject, u.ID, u.CreatedAt)
	if err != nil {
		return User{}, pgError(err)
	}
	if tag.RowsAffected() == 0 {
		_ = tx.Rollback(ctx)
		return s.UserBySubject(ctx, issuer, subject)
	}
	if err := tx.Commit(ctx); err != nil {
		return User{}, pgError(err)
	}
	return u, nil
}

// linkedOr returns the user linked to the identity, or fallback when there
// is none.
func (s *postgresStore) linkedOr(ctx context.Context, issuer, subject string, fallback error) (User, error) {
	u, err := s.UserBySubject(ctx, issuer, subject)
	if errors.Is(err, ErrNotFound) {
		return User{}, fallback
	}
	return u, err
}
