package store

import (
	"context"
	"database/sql"
	"errors"
)

// The linked user is found through a subquery rather than a join, so that
// the user columns stay unqualified and shared with the other user queries.
const sqliteUserBySubject = `SELECT ` + sqliteUserRead + ` FROM users
	WHERE id = (SELECT user_id FROM user_subjects WHERE issuer = ? AND subject = ?)`

func (s *sqliteStore) UserBySubject(ctx context.Context, issuer, subject string) (User, error) {
	return scanSQLiteUser(s.reader.QueryRowContext(ctx, sqliteUserBySubject, issuer, subject))
}

// LinkSubject looks the identity up and creates user and link inside one
// writer transaction. BEGIN IMMEDIATE holds the database's write lock from
// the start, also against other processes, so the lookup cannot go stale
// before the inserts: racing first sights run one after the other and the
// later ones find the first one's link.
func (s *sqliteStore) LinkSubject(ctx context.Context, issuer, subject string, u User) (User, error) {
	if subject == "" {
		return User{}, errors.New("store: link subject: empty subject")
	}
	id, err := newUserID()
	if err != nil {
		return User{}, err
	}
	u.ID, u.Email, u.CreatedAt = id, normaliseEmail(u.Email), dbTime(u.CreatedAt)

	var out User
	err = s.withWriteTx(ctx, func(tx *sql.Tx) error {
		linked, err := scanSQLiteUser(tx.QueryRowContext(ctx, sqliteUserBySubject, issuer, subject))
		if err == nil {
			out = linked
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO users (`+sqliteUserColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.Name, u.PasswordHash, u.IsAdmin, u.Disabled, toMicros(u.CreatedAt)); err != nil {
			return err // a taken email: sqliteError makes it ErrEmailExists
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO user_subjects (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)`,
			issuer, subject, u.ID, toMicros(u.CreatedAt)); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return out, nil
}
