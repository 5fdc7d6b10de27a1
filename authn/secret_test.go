package authn

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

func TestSecretCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested") // does not exist yet
	secret, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 64 {
		t.Fatalf("secret has %d bytes, want 64 hex characters", len(secret))
	}
	if _, err := hex.DecodeString(string(secret)); err != nil {
		t.Errorf("secret %q is not hex: %v", secret, err)
	}
	if _, err := NewTokens(secret, DefaultTokenTTL); err != nil {
		t.Errorf("the created secret is not usable: %v", err)
	}
	path := filepath.Join(dir, "jwt-secret")
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(onDisk), secret) {
		t.Errorf("file holds %q, returned %q", onDisk, secret)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
		}
		if fi, _ := os.Stat(dir); fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("data dir mode %v, want no group/other access", fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only jwt-secret (temporary file left behind?)", len(entries))
	}
}

func TestSecretStable(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := LoadOrCreateSecret(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("secret changed between calls: %q then %q", first, again)
		}
	}
	other, err := LoadOrCreateSecret(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, other) {
		t.Error("two data dirs got the same secret")
	}
}

func TestSecretConcurrentCreation(t *testing.T) {
	for range 20 { // the race window is small; try it several times
		dir := filepath.Join(t.TempDir(), "data")
		const n = 8
		secrets := make([][]byte, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				secrets[i], errs[i] = LoadOrCreateSecret(dir)
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("goroutine %d: %v", i, errs[i])
			}
			if !bytes.Equal(secrets[i], secrets[0]) {
				t.Fatalf("goroutines disagree: %q vs %q", secrets[i], secrets[0])
			}
		}
		onDisk, err := LoadOrCreateSecret(dir)
		if err != nil || !bytes.Equal(onDisk, secrets[0]) {
			t.Fatalf("file holds %q (%v), goroutines got %q", onDisk, err, secrets[0])
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("data dir holds %d entries after the race, want 1", len(entries))
		}
	}
}

func TestSecretExistingFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix permissions")
	}
	long := "this-is-an-operator-provided-secret-of-enough-length"
	cases := []struct {
		name     string
		content  string
		mode     os.FileMode
		want     string // "" means an error
		wantMode os.FileMode
	}{
		{"ok", long, 0o600, long, 0o600},
		{"whitespace trimmed", "\n  " + long + "\r\n\t", 0o600, long, 0o600},
		{"world readable tightened", long, 0o644, long, 0o600},
		{"group readable tightened", long, 0o640, long, 0o600},
		{"executable tightened", long, 0o700, long, 0o600},
		{"read-only kept", long, 0o400, long, 0o400},
		{"short rejected", "short-secret", 0o600, "", 0o600},
		{"31 bytes rejected", "0123456789abcdef0123456789abcde", 0o600, "", 0o600},
		{"padded short rejected", "   0123456789abcdef0123456789abcde   ", 0o600, "", 0o600},
		{"empty rejected", "", 0o600, "", 0o600},
		{"too large rejected", string(bytes.Repeat([]byte("a"), 5000)), 0o600, "", 0o600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "jwt-secret")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			got, err := LoadOrCreateSecret(dir)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted %q", got)
				}
			} else if err != nil || string(got) != tc.want {
				t.Fatalf("LoadOrCreateSecret = %q, %v; want %q", got, err, tc.want)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.wantMode {
				t.Errorf("mode after load %v, want %v", fi.Mode().Perm(), tc.wantMode)
			}
			// A rejected file is never replaced by a fresh secret: the
			// operator must fix it, or every token would silently change.
			if content, _ := os.ReadFile(path); string(content) != tc.content {
				t.Errorf("file content changed")
			}
		})
	}
}

func TestSecretNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "jwt-secret"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSecret(dir); err == nil {
		t.Error("accepted a directory as the secret file")
	}
	if _, err := LoadOrCreateSecret(""); err == nil {
		t.Error("accepted an empty data dir")
	}
}

// Without hard links (some network and FUSE file systems) the secret is
// created with O_EXCL instead; racing callers must still agree.
func TestSecretWithoutHardLinks(t *testing.T) {
	linkFile = func(string, string) error { return &os.LinkError{Op: "link", Err: errors.ErrUnsupported} }
	defer func() { linkFile = os.Link }()
	for range 10 {
		dir := t.TempDir()
		const n = 8
		secrets := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { secrets[i], errs[i] = LoadOrCreateSecret(dir) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || !bytes.Equal(secrets[i], secrets[0]) {
				t.Fatalf("goroutine %d: %q, %v; goroutine 0: %q", i, secrets[i], errs[i], secrets[0])
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, "jwt-secret")); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
			t.Fatalf("secret file: %v, %v", fi, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("data dir holds %d entries, want 1", len(entries))
		}
	}
}

// Separate processes starting at once on one data dir agree on the secret.
func TestSecretConcurrentProcesses(t *testing.T) {
	if dir := os.Getenv("AUTHN_SECRET_HELPER_DIR"); dir != "" {
		secret, err := LoadOrCreateSecret(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("secret=%s\n", secret)
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := filepath.Join(t.TempDir(), "data")
	const n = 8
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSecretConcurrentProcesses$")
			cmd.Env = append(os.Environ(), "AUTHN_SECRET_HELPER_DIR="+dir)
			outs[i], errs[i] = cmd.Output()
		})
	}
	wg.Wait()
	want, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("process %d: %v", i, errs[i])
		}
		got, ok := bytes.CutPrefix(bytes.TrimSpace(outs[i]), []byte("secret="))
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("process %d printed %q, file holds %q", i, outs[i], want)
		}
	}
}
