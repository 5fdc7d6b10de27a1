package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/store/storetest"
)

// TestHelp: every spelling of a request for help prints the commands to
// stdout and exits 0, also after a command; a flag nobody knows is 2.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"--help"}, "users disable|enable EMAIL"},
		{[]string{"-h"}, "users disable|enable EMAIL"},
		{[]string{"-help"}, "users disable|enable EMAIL"},
		{[]string{"help"}, "users disable|enable EMAIL"},
		{[]string{"serve", "--help"}, "users disable|enable EMAIL"},
		{[]string{"serve", "-h"}, "users disable|enable EMAIL"},
		{[]string{"migrate", "--help"}, "migrate"},
		{[]string{"users", "--help"}, "usage: zectre-auth users disable|enable|promote|demote|revoke-tokens EMAIL"},
		{[]string{"users", "disable", "a@example.com", "--help"}, "usage: zectre-auth"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			out, errOut, code := command(t, dir, env(), tc.args...)
			if code != 0 || !strings.Contains(out, tc.want) || errOut != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and %q on stdout", code, out, errOut, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
				t.Error("help created ./data")
			}
		})
	}
	for _, args := range [][]string{{"--nope"}, {"serve", "--nope"}, {"migrate", "-x"}} {
		_, errOut, code := command(t, t.TempDir(), env(), args...)
		if code != 2 || !strings.Contains(errOut, "usage: zectre-auth") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and the usage", args, code, errOut)
		}
	}
}

// TestConfigurationProblems: whatever its kind (refused by Validate, a
// duration without a unit, a listener that cannot bind, a Redis or a
// database that does not answer), a configuration problem exits 2 with a
// line naming the setting as written, the TOML key when the file set it and
// the environment variable when the environment did, and never a password.
func TestConfigurationProblems(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().String()
	closed := closedAddr(t)
	for _, tc := range []struct {
		name  string
		file  string   // TOML; "" for none
		env   []string // ZECTRE_AUTH_* settings
		lines []string // each must start a line of stderr after "zectre-auth: "
	}{
		{"listen in the file", "listen = \"" + busy + "\"\nadmin_listen = \"127.0.0.1:0\"\n", nil,
			[]string{"listen: listen tcp " + busy}},
		{"listen in the environment", "", []string{"ZECTRE_AUTH_LISTEN=" + busy, "ZECTRE_AUTH_ADMIN_LISTEN=127.0.0.1:0"},
			[]string{"ZECTRE_AUTH_LISTEN: listen tcp " + busy}},
		{"admin_listen in the file", "listen = \"127.0.0.1:0\"\nadmin_listen = \"" + busy + "\"\n", nil,
			[]string{"admin_listen: listen tcp " + busy}},
		{"admin_listen in the environment", "", []string{"ZECTRE_AUTH_LISTEN=127.0.0.1:0", "ZECTRE_AUTH_ADMIN_LISTEN=" + busy},
			[]string{"ZECTRE_AUTH_ADMIN_LISTEN: listen tcp " + busy}},
		{"ext_authz_listen in the file", "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\next_authz_listen = \"" + busy + "\"\n", nil,
			[]string{"ext_authz_listen: listen tcp " + busy}},
		{"ext_authz_listen in the environment", "", []string{"ZECTRE_AUTH_LISTEN=127.0.0.1:0", "ZECTRE_AUTH_ADMIN_LISTEN=127.0.0.1:0", "ZECTRE_AUTH_EXT_AUTHZ_LISTEN=" + busy},
			[]string{"ZECTRE_AUTH_EXT_AUTHZ_LISTEN: listen tcp " + busy}},
		{"redis_url in the file", "redis_url = \"redis://:hunter2@" + closed + "/0?dial_timeout=500ms\"\n", nil,
			[]string{"redis_url: "}},
		{"redis_url in the environment", "", []string{"ZECTRE_AUTH_REDIS_URL=redis://:hunter2@" + closed + "/0?dial_timeout=500ms"},
			[]string{"ZECTRE_AUTH_REDIS_URL: "}},
		{"database_url in the file", "database_url = \"postgres://postgres:hunter2@" + closed + "/x?connect_timeout=2\"\njwt_secret = \"" + testSecret + "\"\n", nil,
			[]string{"database_url: the database postgres://postgres@" + closed + "/x: "}},
		{"database_url in the environment", "", []string{"ZECTRE_AUTH_DATABASE_URL=postgres://postgres:hunter2@" + closed + "/x?connect_timeout=2", "ZECTRE_AUTH_JWT_SECRET=" + testSecret},
			[]string{"ZECTRE_AUTH_DATABASE_URL: the database postgres://postgres@" + closed + "/x: "}},
		{"every bad duration at once, with the rest", "read_timeout = 30\nidle_timeout = \"2\"\nupstream_timeout = 1.5\nno_such_setting = 1\ndefault_auth = \"sometimes\"\n",
			[]string{"ZECTRE_AUTH_SHUTDOWN_DELAY=5", "ZECTRE_AUTH_SHUTDOWN_TIMEOUT=0", "ZECTRE_AUTH_UPSTREAM=http://:8080"},
			[]string{
				"config: default_auth: ",
				"config: ZECTRE_AUTH_UPSTREAM: missing host",
				"config: no_such_setting: unknown setting",
				"config: upstream_timeout: the number 1.5 has no unit",
				"config: read_timeout: the number 30 has no unit",
				"config: idle_timeout: \"2\" has no unit",
				"config: ZECTRE_AUTH_SHUTDOWN_DELAY: \"5\" has no unit",
				"config: ZECTRE_AUTH_SHUTDOWN_TIMEOUT: \"0\" has no unit",
			}},
		{"upstreams with the other problems",
			"upstream = \"http://app:hunter2@127.0.0.1:8080\"\ndefault_auth = \"sometimes\"\n[[routes]]\npath = \"/a/**\"\nauth = \"public\"\nupstream = \"http://:8080\"\n",
			[]string{"ZECTRE_AUTH_PUBLIC_URL=https://:hunter2@auth.example"},
			[]string{
				"config: upstream: must not hold credentials",
				"config: ZECTRE_AUTH_PUBLIC_URL: must not hold credentials",
				"config: default_auth: ",
				"config: routes[0].upstream: missing host",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"serve"}
			if tc.file != "" {
				path := filepath.Join(dir, "zectre-auth.toml")
				if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", path)
			}
			_, errOut, code := command(t, dir, env(tc.env...), args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, errOut)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != len(tc.lines) {
				t.Errorf("%d lines, want %d:\n%s", len(lines), len(tc.lines), errOut)
			}
			for _, want := range tc.lines {
				found := false
				for _, l := range lines {
					found = found || strings.HasPrefix(l, "zectre-auth: "+want)
				}
				if !found {
					t.Errorf("no line starts with %q:\n%s", "zectre-auth: "+want, errOut)
				}
			}
			if strings.Contains(errOut, "hunter2") || strings.Contains(errOut, "{\"time\"") && strings.Contains(errOut, "listening") {
				t.Errorf("stderr leaks a password or the service started:\n%s", errOut)
			}
		})
	}
}

// TestUsersOpensOnlyAnExistingDatabase: run where there is no database (the
// wrong directory, a mistyped path) or where it is not migrated, `users`
// creates nothing, names the database it looked for and exits 2; every
// answer names the database it used, SQLite by its absolute path and
// PostgreSQL without the password.
func TestUsersOpensOnlyAnExistingDatabase(t *testing.T) {
	t.Run("another directory", func(t *testing.T) {
		dir := t.TempDir()
		_, errOut, code := command(t, dir, env(), "users", "disable", "carol@example.com")
		want := "no database at " + filepath.Join(dir, "data", "zectre-auth.db")
		if code != 2 || !strings.Contains(errOut, want) || !strings.HasPrefix(errOut, "zectre-auth: database_url: ") {
			t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
			t.Fatalf("users created ./data: %v", err)
		}
	})
	t.Run("mistyped path", func(t *testing.T) {
		dir := t.TempDir()
		_, errOut, code := command(t, dir, env("ZECTRE_AUTH_DATABASE_URL=sqlite://./nope/z.db"), "users", "enable", "carol@example.com")
		want := "no database at " + filepath.Join(dir, "nope", "z.db")
		if code != 2 || !strings.Contains(errOut, want) || !strings.HasPrefix(errOut, "zectre-auth: ZECTRE_AUTH_DATABASE_URL: ") {
			t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "nope")); !os.IsNotExist(err) {
			t.Fatalf("users created the directory: %v", err)
		}
	})
	t.Run("sqlite not migrated", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "z.db")
		os.WriteFile(path, nil, 0o600)
		_, errOut, code := command(t, dir, env("ZECTRE_AUTH_DATABASE_URL=sqlite://"+path), "users", "promote", "carol@example.com")
		if code != 2 || !strings.Contains(errOut, "the database "+path+" is not migrated") || !strings.Contains(errOut, "zectre-auth migrate") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("sqlite migrated, relative", func(t *testing.T) {
		dir := t.TempDir()
		e := env("ZECTRE_AUTH_DATABASE_URL=sqlite://./db/z.db")
		abs := filepath.Join(dir, "db", "z.db")
		out, errOut, code := command(t, dir, e, "migrate")
		if code != 0 || !strings.Contains(out, "applied 001_") || !strings.Contains(out, "to the database "+abs+"\n") {
			t.Fatalf("migrate: %d %q %q", code, out, errOut)
		}
		_, errOut, code = command(t, dir, e, "users", "demote", "nobody@example.com")
		if code != 1 || !strings.Contains(errOut, "no account has the email nobody@example.com in the database "+abs+"\n") {
			t.Fatalf("unknown email: %d %q", code, errOut)
		}
	})
	t.Run("postgres not migrated", func(t *testing.T) {
		db := storetest.PostgresURL(t)
		e := env("ZECTRE_AUTH_DATABASE_URL="+db, "ZECTRE_AUTH_JWT_SECRET="+testSecret)
		_, errOut, code := command(t, t.TempDir(), e, "users", "disable", "carol@example.com")
		if code != 2 || !strings.Contains(errOut, "is not migrated") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		// Nothing was applied by the refused command.
		out, _, code := command(t, t.TempDir(), e, "migrate")
		if code != 0 || !strings.Contains(out, "applied 001_") {
			t.Fatalf("migrate after users: %d %q", code, out)
		}
		_, errOut, code = command(t, t.TempDir(), e, "users", "disable", "carol@example.com")
		if code != 1 || !strings.Contains(errOut, "in the database postgres://") {
			t.Fatalf("unknown email: %d %q", code, errOut)
		}
	})
	t.Run("postgres names no password", func(t *testing.T) {
		db := storetest.PostgresURL(t)
		withPassword := strings.Replace(db, "postgres://postgres@", "postgres://postgres:hunter2@", 1)
		if withPassword == db {
			t.Skipf("the test database URL %s has another form", db)
		}
		e := env("ZECTRE_AUTH_DATABASE_URL="+withPassword, "ZECTRE_AUTH_JWT_SECRET="+testSecret)
		out, errOut, _ := command(t, t.TempDir(), e, "migrate")
		all := out + errOut
		if strings.Contains(all, "hunter2") || !strings.Contains(all, "database postgres://postgres@") {
			t.Fatalf("migrate names the database %q", all)
		}
	})
}
