package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store/storetest"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

// TestEmbeddedDefault starts with no configuration at all: SQLite and the
// generated secret under ./data, which survive a restart.
func TestEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir, env())
	token, key := s.account("alice@example.com")
	s.stop()

	secret := filepath.Join(dir, "data", "jwt-secret")
	fi, err := os.Stat(secret)
	if err != nil {
		t.Fatalf("generated secret: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "zectre-auth.db")); err != nil {
		t.Fatalf("database file: %v", err)
	}
	before, _ := os.ReadFile(secret)

	s = start(t, dir, env())
	if st := s.whoami("Authorization", "Bearer "+token); st != 200 {
		t.Fatalf("token after restart: %d", st)
	}
	if st := s.whoami("X-API-Key", key); st != 200 {
		t.Fatalf("key after restart: %d", st)
	}
	s.stop()
	if after, _ := os.ReadFile(secret); string(after) != string(before) {
		t.Fatal("the secret changed across restarts")
	}
	if strings.Contains(s.logs(), token) || strings.Contains(s.logs(), key) || strings.Contains(s.logs(), "hunter2abc") {
		t.Fatal("a credential appears in the log")
	}
}

// TestPostgresRestart keeps tokens and keys across restarts on PostgreSQL.
func TestPostgresRestart(t *testing.T) {
	db := storetest.PostgresURL(t)
	e := env("ZECTRE_AUTH_DATABASE_URL="+db, "ZECTRE_AUTH_JWT_SECRET="+testSecret)
	dir := t.TempDir()
	s := start(t, dir, e)
	token, key := s.account("bob@example.com")
	s.stop()
	s = start(t, dir, e)
	if st := s.whoami("Authorization", "Bearer "+token); st != 200 {
		t.Fatalf("token after restart: %d", st)
	}
	if st := s.whoami("X-API-Key", key); st != 200 {
		t.Fatalf("key after restart: %d", st)
	}
	s.stop()
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Fatal("with PostgreSQL and a configured secret nothing belongs in ./data")
	}
}

// TestUsersCommands administers a running service's accounts from another
// process. A disabled account's token and key stop working: within the
// SQLite change watch's interval on the embedded default, at once through
// Redis, and within the fallback TTL on PostgreSQL without Redis (one
// replica; docs/edge.md).
func TestUsersCommands(t *testing.T) {
	postgres := func(t *testing.T) []string {
		return env("ZECTRE_AUTH_DATABASE_URL="+storetest.PostgresURL(t), "ZECTRE_AUTH_JWT_SECRET="+testSecret)
	}
	for _, tc := range []struct {
		name  string
		env   func(t *testing.T) []string
		limit time.Duration
	}{
		{"sqlite", func(t *testing.T) []string { return env("ZECTRE_AUTH_DATABASE_URL=" + storetest.SQLiteURL(t)) }, time.Second},
		{"postgres", postgres, 3 * time.Second},
		{"postgres+redis", func(t *testing.T) []string {
			return append(postgres(t), "ZECTRE_AUTH_REDIS_URL="+cachetest.RedisURL(t), "ZECTRE_AUTH_REDIS_PREFIX="+cachetest.Prefix(t))
		}, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.env(t)
			dir := t.TempDir()
			s := start(t, dir, e)
			token, key := s.account("carol@example.com")

			out, errOut, code := command(t, dir, e, "users", "disable", "Carol@Example.com")
			if code != 0 || !strings.Contains(out, "disabled carol@example.com in the database ") {
				t.Fatalf("users disable: %d %q %q", code, out, errOut)
			}
			took := until(t, tc.limit, "disabled account's credentials refused", func() bool {
				return s.whoami("Authorization", "Bearer "+token) == 401 && s.whoami("X-API-Key", key) == 401
			})
			t.Logf("disable took effect after %s", took)
			if st, b := s.call("POST", "/api/v1/auth/login", `{"email":"carol@example.com","password":"hunter2abc"}`); st != 403 {
				t.Fatalf("login of a disabled account: %d %v", st, b)
			}
			if _, _, code := command(t, dir, e, "users", "enable", "carol@example.com"); code != 0 {
				t.Fatal("users enable failed")
			}
			until(t, tc.limit, "re-enabled account's key works", func() bool { return s.whoami("X-API-Key", key) == 200 })
			if _, _, code := command(t, dir, e, "users", "promote", "carol@example.com"); code != 0 {
				t.Fatal("users promote failed")
			}
			until(t, tc.limit, "promotion visible", func() bool {
				_, b := s.call("GET", "/api/v1/user", "", "X-API-Key", key)
				return b["is_admin"] == true
			})
			if _, _, code := command(t, dir, e, "users", "demote", "carol@example.com"); code != 0 {
				t.Fatal("users demote failed")
			}
			until(t, tc.limit, "demotion visible", func() bool {
				_, b := s.call("GET", "/api/v1/user", "", "X-API-Key", key)
				return b["is_admin"] == false
			})
			_, errOut, code = command(t, dir, e, "users", "disable", "nobody@example.com")
			if code != 1 || !strings.Contains(errOut, "no account has the email nobody@example.com in the database ") {
				t.Fatalf("unknown email: %d %q", code, errOut)
			}
			if _, _, code := command(t, dir, e, "users", "explode", "carol@example.com"); code != 2 {
				t.Fatalf("unknown action exit %d, want 2", code)
			}
			s.stop()
		})
	}
}

func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	e := env("ZECTRE_AUTH_DATABASE_URL=sqlite://" + filepath.Join(dir, "m.db"))
	out, errOut, code := command(t, dir, e, "migrate")
	if code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("first migrate: %d %q %q", code, out, errOut)
	}
	out, _, code = command(t, dir, e, "migrate")
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %d %q", code, out)
	}
}

// TestBadConfiguration: every problem is reported at once, one line each,
// naming the setting, and the process exits non-zero without serving.
func TestBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	os.WriteFile(cfg, []byte("default_auth = \"sometimes\"\ntrusted_proxies = [\"not-a-cidr\"]\n"), 0o600)
	e := env(
		"ZECTRE_AUTH_DATABASE_URL=postgres://127.0.0.1:1/x",
		"ZECTRE_AUTH_JWT_SECRET=short",
		"ZECTRE_AUTH_UPSTREAM=ftp://example.com",
	)
	_, errOut, code := command(t, dir, e, "serve", "--config", cfg)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	for _, want := range []string{"ZECTRE_AUTH_JWT_SECRET", "ZECTRE_AUTH_UPSTREAM", "default_auth", "trusted_proxies"} {
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l, want)
		}
		if !found {
			t.Errorf("no line names %s:\n%s", want, errOut)
		}
	}
	if len(lines) < 4 {
		t.Fatalf("want one line per problem, got:\n%s", errOut)
	}

	os.WriteFile(cfg, []byte("listen = \":47080\"\nno_such_setting = 1\n"), 0o600)
	_, errOut, code = command(t, dir, env(), "serve", "--config", cfg)
	if code != 2 || !strings.Contains(errOut, "no_such_setting") {
		t.Fatalf("unknown key: exit %d, %q", code, errOut)
	}
}

func TestVersionAndUsage(t *testing.T) {
	out, _, code := command(t, t.TempDir(), env(), "version")
	if code != 0 || !strings.HasPrefix(out, "zectre-auth ") {
		t.Fatalf("version: %d %q", code, out)
	}
	_, errOut, code := command(t, t.TempDir(), env(), "frobnicate")
	if code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}
