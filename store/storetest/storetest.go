// Package storetest gives tests a throwaway database URL for store.Open, so
// every package tests against real PostgreSQL and SQLite the same way.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// PostgresURLEnv names the variable holding an admin URL of a PostgreSQL
	// server on which tests may create and drop databases.
	PostgresURLEnv = "ZECTRE_AUTH_TEST_POSTGRES_URL"
	// DefaultPostgresURL is used when PostgresURLEnv is unset.
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// PostgresURL creates an empty database named zectre_test_<random> and
// returns its URL; the database is dropped when the test ends. The admin URL
// comes from PostgresURLEnv (URL form, not key=value). If the server cannot be
// reached the test is skipped, unless CI=true, where it fails: CI must not go
// green without having run the PostgreSQL tests.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresURLEnv)
	if admin == "" {
		admin = DefaultPostgresURL
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("storetest: %s is not a URL: %v", PostgresURLEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("storetest: PostgreSQL at %s is unreachable and CI=true requires it: %v", u.Redacted(), err)
		}
		t.Skipf("storetest: SKIPPING PostgreSQL tests: %s is unreachable (start PostgreSQL or set %s): %v",
			u.Redacted(), PostgresURLEnv, err)
	}
	defer conn.Close(ctx)

	name := "zectre_test_" + randomHex(t)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, admin, name) })

	u.Path = "/" + name
	return u.String()
}

// dropDatabase runs after the test's own cleanups (which close its stores);
// FORCE ends any connection a failed test leaked.
func dropDatabase(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("storetest: drop database %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("storetest: drop database %s: %v", name, err)
	}
}

// SQLiteURL returns the URL of a not yet existing database file in a
// temporary directory removed when the test ends.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "zectre-auth.db")
}

func randomHex(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("storetest: random name: %v", err)
	}
	return hex.EncodeToString(b)
}
