package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// credentials is what `zectre-auth login` keeps between runs. The file holds
// a long-lived secret, so it is private to its owner (0600 in a 0700
// directory) and replaced atomically: a reader never sees half a file and an
// interrupted write leaves the previous one in place.
type credentials struct {
	APIURL    string          `json:"api_url"`
	APIKey    string          `json:"api_key"`
	User      credentialsUser `json:"user"`
	CreatedAt string          `json:"created_at"`
}

// credentialsUser is the part of the user object worth showing offline.
type credentialsUser struct {
	ID    string  `json:"id"`
	Email string  `json:"email"`
	Name  *string `json:"name"`
}

// errNoCredentials means nobody is logged in on this machine.
var errNoCredentials = errors.New("no stored credentials")

// credentialsPath is $XDG_CONFIG_HOME/zectre/credentials.json, or
// ~/.config/zectre/credentials.json. A relative XDG_CONFIG_HOME is ignored,
// as the XDG base directory specification asks: it would put the key
// wherever the command happens to run.
func credentialsPath(getenv func(string) string) (string, error) {
	base := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(base) {
		home := getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", fmt.Errorf("no place for the credentials: set XDG_CONFIG_HOME or HOME: %w", err)
			}
		}
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "zectre", "credentials.json"), nil
}

// loadCredentials reads the file; a missing file is errNoCredentials.
func loadCredentials(path string) (credentials, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return credentials{}, errNoCredentials
	}
	if err != nil {
		return credentials{}, err
	}
	var c credentials
	if err := json.Unmarshal(raw, &c); err != nil {
		return credentials{}, fmt.Errorf("%s is not a credentials file: %w", path, err)
	}
	if c.APIKey == "" {
		return credentials{}, fmt.Errorf("%s holds no api_key", path)
	}
	return c, nil
}

// saveCredentials writes c to path atomically: a temporary file in the same
// directory (so the rename never crosses file systems), synced, then renamed
// over the old one. The directory is created 0700 and tightened to 0700 if
// it already existed wider, since the key's secrecy rests on both modes.
func saveCredentials(path string, c credentials) (err error) {
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; chmod anyway so that the mode does not
	// depend on that detail.
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(raw); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable across a crash; where directories cannot
// be synced the rename is still atomic, so a failure is not worth reporting.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// removeCredentials deletes the file; a missing one is errNoCredentials.
func removeCredentials(path string) error {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return errNoCredentials
	}
	return err
}

// newCredentials is what a completed login stores.
func newCredentials(apiURL, key string, u apiUser, now time.Time) credentials {
	return credentials{
		APIURL:    apiURL,
		APIKey:    key,
		User:      credentialsUser{ID: u.ID, Email: u.Email, Name: u.Name},
		CreatedAt: now.UTC().Format(time.RFC3339),
	}
}

// credentialsModeWarning complains, like ssh does about private keys, when
// the credentials file is readable by others; empty when it is not.
func credentialsModeWarning(path string) string {
	if goos == "windows" {
		return "" // modes mean nothing there
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("warning: %s is accessible by others (mode %04o); run chmod 600 on it", path, fi.Mode().Perm())
}
