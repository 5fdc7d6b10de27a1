package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// TestOpenExisting: the admin commands' open finds only a database that
// exists and is migrated, and creates or migrates nothing when it refuses.
func TestOpenExisting(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string // a database in the state the case names
		want error                     // nil: opens
	}{
		{"sqlite missing file", func(t *testing.T) string {
			return "sqlite://" + filepath.Join(t.TempDir(), "no-dir", "zectre-auth.db")
		}, store.ErrNoDatabase},
		{"sqlite directory", func(t *testing.T) string { return "sqlite://" + t.TempDir() }, store.ErrNoDatabase},
		{"sqlite empty file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "zectre-auth.db")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return "sqlite://" + p
		}, store.ErrNotMigrated},
		{"sqlite migrated", func(t *testing.T) string { return migrated(t, storetest.SQLiteURL(t)) }, nil},
		{"postgres empty database", func(t *testing.T) string { return storetest.PostgresURL(t) }, store.ErrNotMigrated},
		{"postgres migrated", func(t *testing.T) string { return migrated(t, storetest.PostgresURL(t)) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			s, err := store.OpenExisting(ctx, url)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("OpenExisting: %v", err)
				}
				defer s.Close()
				u := newUser(t, s, "ops@example.com")
				got, err := s.UserByEmail(ctx, "ops@example.com")
				mustIs(t, "UserByEmail", err, nil)
				mustEqual(t, "UserByEmail", got, u)
				return
			}
			if !errors.Is(err, tc.want) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("OpenExisting: %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "@") {
				t.Errorf("the error quotes the URL: %v", err)
			}
			// Nothing was made: no file or directory, and every migration is
			// still to apply.
			if path, ok := strings.CutPrefix(url, "sqlite://"); ok && tc.want == store.ErrNoDatabase {
				if _, err := os.Stat(filepath.Dir(path)); err == nil && filepath.Base(filepath.Dir(path)) == "no-dir" {
					t.Errorf("OpenExisting created %s", filepath.Dir(path))
				}
				return
			}
			applied, err := store.Migrate(ctx, url)
			if err != nil || len(applied) == 0 {
				t.Fatalf("Migrate after a refused OpenExisting: %v %v", applied, err)
			}
			s, err = store.OpenExisting(ctx, url)
			if err != nil {
				t.Fatalf("OpenExisting after Migrate: %v", err)
			}
			s.Close()
		})
	}
}

// migrated applies the migrations to url and returns it.
func migrated(t *testing.T, url string) string {
	t.Helper()
	if _, err := store.Migrate(context.Background(), url); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return url
}
