package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDatabaseName(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ url, want string }{
		{"sqlite://./data/a.db", filepath.Join(wd, "data", "a.db")},
		{"sqlite:///var/lib/z/a.db", "/var/lib/z/a.db"},
		{"postgres://app:hunter2@db:5432/auth?sslmode=require&password=hunter2", "postgres://app@db:5432/auth"},
		{"postgresql://db/auth", "postgresql://db/auth"},
		{"postgres://:hunter2@db/auth", "postgres://@db/auth"},
	} {
		got := Config{DatabaseURL: tc.url}.DatabaseName()
		if got != tc.want || strings.Contains(got, "hunter2") {
			t.Errorf("DatabaseName(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestScrub(t *testing.T) {
	c := Config{
		DatabaseURL:        "postgres://app:pg-pass%21@db/auth?password=q-pass",
		RedisURL:           "redis://:redis-pass@cache:6379",
		JWTSecret:          secret32,
		Routes:             []Route{{Upstream: "http://u:route-pass@up"}},
		JWTPreviousSecrets: []string{"previous-secret-that-is-long-enough!"},
	}
	in := "dial redis://:redis-pass@cache:6379: refused; pg-pass! q-pass pg-pass%21 " + secret32 + " route-pass previous-secret-that-is-long-enough!"
	got := c.Scrub(in)
	for _, s := range []string{"redis-pass", "pg-pass", "q-pass", secret32, "route-pass", "previous-secret"} {
		if strings.Contains(got, s) {
			t.Errorf("Scrub left %q in %q", s, got)
		}
	}
	if !strings.Contains(got, "cache:6379: refused") {
		t.Errorf("Scrub took out more than secrets: %q", got)
	}
}
