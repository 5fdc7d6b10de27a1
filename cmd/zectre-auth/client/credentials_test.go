package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCredentialsPath(t *testing.T) {
	cases := []struct {
		name, xdg, home, want string
	}{
		{"xdg", "/x/config", "/home/a", "/x/config/zectre/credentials.json"},
		{"default", "", "/home/a", "/home/a/.config/zectre/credentials.json"},
		{"relative xdg is ignored", "rel/config", "/home/a", "/home/a/.config/zectre/credentials.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"XDG_CONFIG_HOME": tc.xdg, "HOME": tc.home}
			got, err := credentialsPath(func(k string) string { return env[k] })
			if err != nil || got != tc.want {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}

// TestSaveCredentials: modes, replacement, round trip, and no temporary
// file left behind.
func TestSaveCredentials(t *testing.T) {
	// A permissive umask must not widen the modes.
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "zectre")
	if err := os.Mkdir(dir, 0o755); err != nil { // an existing, too open directory
		t.Fatal(err)
	}
	path := filepath.Join(dir, "credentials.json")
	name := "Alice"
	first := newCredentials("http://a", "zec_first", apiUser{ID: "u1", Email: "a@example.com", Name: &name}, time.Unix(0, 0))
	if err := saveCredentials(path, first); err != nil {
		t.Fatal(err)
	}
	second := newCredentials("http://b", "zec_second", apiUser{ID: "u2", Email: "b@example.com"}, time.Unix(60, 0))
	if err := saveCredentials(path, second); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v mode %v, want %v", p, err, fi.Mode().Perm(), want)
		}
	}
	got, err := loadCredentials(path)
	if err != nil || got.APIKey != "zec_second" || got.APIURL != "http://b" || got.User.Name != nil || got.CreatedAt != "1970-01-01T00:01:00Z" {
		t.Fatalf("loaded %+v %v", got, err)
	}
	raw, _ := os.ReadFile(path)
	for _, field := range []string{`"api_url"`, `"api_key"`, `"user"`, `"id"`, `"email"`, `"name": null`, `"created_at"`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("file lacks %s:\n%s", field, raw)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %v", entries)
	}
	if w := credentialsModeWarning(path); w != "" {
		t.Fatalf("warning on a 0600 file: %s", w)
	}
	os.Chmod(path, 0o644)
	if w := credentialsModeWarning(path); !strings.Contains(w, "0644") {
		t.Fatalf("no warning on a 0644 file: %q", w)
	}
}

// TestSaveCredentialsFailure: a failed rename keeps the old file and
// removes the temporary one.
func TestSaveCredentialsFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "zectre")
	path := filepath.Join(dir, "credentials.json")
	// A non-empty directory where the file belongs: rename must fail.
	if err := os.MkdirAll(filepath.Join(path, "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := saveCredentials(path, credentials{APIKey: "zec_x"}); err == nil {
		t.Fatal("saving over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "credentials.json" {
		t.Fatalf("directory holds %v", entries)
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadCredentials(filepath.Join(dir, "none.json")); !errors.Is(err, errNoCredentials) {
		t.Fatalf("missing file: %v", err)
	}
	for name, body := range map[string]string{"garbage": "{not json", "empty": `{"api_url":"http://a"}`} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := loadCredentials(p); err == nil || errors.Is(err, errNoCredentials) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := removeCredentials(filepath.Join(dir, "none.json")); !errors.Is(err, errNoCredentials) {
		t.Fatalf("removing a missing file: %v", err)
	}
}
