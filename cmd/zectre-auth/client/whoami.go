package client

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// errKeyRejected means the server no longer accepts the key: there is
// nothing left to revoke.
var errKeyRejected = errors.New("the server no longer accepts this key")

// storedKey is the key a command uses and where it came from.
type storedKey struct {
	key    string
	source string // "ZECTRE_API_KEY" or the credentials file's path
	apiURL string // the server the stored key belongs to; empty for the env key
}

// currentKey finds the key: ZECTRE_API_KEY wins over the file, so that CI
// and one-off shells can act as someone else without touching the file.
func currentKey(getenv func(string) string, stderr io.Writer) (storedKey, error) {
	if k := strings.TrimSpace(getenv("ZECTRE_API_KEY")); k != "" {
		return storedKey{key: k, source: "ZECTRE_API_KEY"}, nil
	}
	path, err := credentialsPath(getenv)
	if err != nil {
		return storedKey{}, err
	}
	c, err := loadCredentials(path)
	if err != nil {
		return storedKey{}, err
	}
	if w := credentialsModeWarning(path); w != "" {
		fmt.Fprintln(stderr, w)
	}
	return storedKey{key: c.APIKey, source: path, apiURL: c.APIURL}, nil
}

// keyBase picks the server for a key: --api, else the server a stored key
// came from (a stored key is never sent to wherever ZECTRE_API_URL happens
// to point), else ZECTRE_API_URL and the default.
func keyBase(flagValue string, k storedKey, getenv func(string) string) (string, error) {
	if flagValue == "" && k.apiURL != "" {
		return apiBase(k.apiURL, func(string) string { return "" }, "")
	}
	return apiBase(flagValue, getenv, "")
}

// Whoami runs `zectre-auth whoami args…`: it shows the user of the key in
// ZECTRE_API_KEY, else of the stored key, as the API sees it. version is
// the binary's, named in the User-Agent. It returns the exit status: 0
// shown, 1 no usable key or no answer, 2 a usage error.
func Whoami(version string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("whoami", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", "", "API base `URL` (default: the stored key's server, else $ZECTRE_API_URL, else "+defaultAPIURL+")")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	k, err := currentKey(os.Getenv, stderr)
	if errors.Is(err, errNoCredentials) {
		path, _ := credentialsPath(os.Getenv)
		fmt.Fprintf(stderr, "zectre-auth: whoami: not logged in: ZECTRE_API_KEY is not set and %s does not exist; run zectre-auth login\n", path)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: whoami:", err)
		return 1
	}
	base, err := keyBase(*api, k, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: whoami:", err)
		return 2
	}
	if w := plaintextWarning(base); w != "" {
		fmt.Fprintln(stderr, w)
	}
	var u apiUser
	_, err = newAPIClient(base, version).do(context.Background(), http.MethodGet, "/api/v1/user", k.key, nil, &u)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && k.apiURL == "":
		fmt.Fprintf(stderr, "zectre-auth: whoami: %s rejects the key in ZECTRE_API_KEY (revoked, expired or mistyped)\n", base)
		return 1
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		fmt.Fprintln(stderr, "zectre-auth: whoami: the stored key is no longer valid; run zectre-auth login")
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "zectre-auth: whoami:", err)
		return 1
	}
	name := "(none)"
	if u.Name != nil {
		name = *u.Name
	}
	fmt.Fprintf(stdout, "email:  %s\nname:   %s\nid:     %s\nadmin:  %t\napi:    %s\nkey:    %s… from %s\n",
		u.Email, name, u.ID, u.IsAdmin, base, keyPrefix(k.key), k.source)
	return 0
}

// Logout runs `zectre-auth logout args…`: it revokes the stored key at its
// server and deletes the credentials file, the file even when the key
// cannot be revoked. version is the binary's, named in the User-Agent. It
// returns the exit status: 0 logged out (or nobody was), 1 something is
// left to the user, 2 a usage error.
func Logout(version string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", "", "API base `URL` to revoke the key at (default: the server it came from)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	defer func() {
		if os.Getenv("ZECTRE_API_KEY") != "" {
			fmt.Fprintln(stdout, "Note: ZECTRE_API_KEY is still set in this environment; logout neither revokes nor unsets it.")
		}
	}()
	path, err := credentialsPath(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: logout:", err)
		return 1
	}
	c, err := loadCredentials(path)
	if errors.Is(err, errNoCredentials) {
		fmt.Fprintf(stdout, "Not logged in (%s does not exist).\n", path)
		return 0
	}
	if err != nil {
		// Without a readable key there is nothing to revoke; the file
		// still goes, since it is useless and may hold a secret.
		if rerr := removeCredentials(path); rerr != nil {
			fmt.Fprintln(stderr, "zectre-auth: logout:", rerr)
			return 1
		}
		fmt.Fprintf(stderr, "zectre-auth: logout: removed %s, which was unreadable (%v); any key it held was not revoked\n", path, err)
		return 1
	}
	base, err := keyBase(*api, storedKey{key: c.APIKey, source: path, apiURL: c.APIURL}, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: logout:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*clientTimeout)
	defer cancel()
	revokeErr := revokeKey(ctx, newAPIClient(base, version), c.APIKey)
	if err := removeCredentials(path); err != nil && !errors.Is(err, errNoCredentials) {
		fmt.Fprintln(stderr, "zectre-auth: logout: could not remove the credentials:", err)
		return 1
	}
	switch {
	case revokeErr == nil:
		fmt.Fprintf(stdout, "Logged out of %s: the key %s… was revoked and %s removed.\n", base, keyPrefix(c.APIKey), path)
		return 0
	case errors.Is(revokeErr, errKeyRejected):
		fmt.Fprintf(stdout, "Logged out: %s had already stopped accepting the key %s…; %s removed.\n", base, keyPrefix(c.APIKey), path)
		return 0
	default:
		fmt.Fprintf(stderr, "zectre-auth: logout: removed %s, but the key %s… could not be revoked: %v\n"+
			"It still works until you delete it from your API keys at %s.\n", path, keyPrefix(c.APIKey), revokeErr, base)
		return 1
	}
}

// apiKeyEntry is one key of GET /api/v1/api-keys.
type apiKeyEntry struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
}

// revokeKey deletes key at the server, authenticated by the key itself. The
// API lists keys by prefix only, so the key is found by its prefix; a
// second key of the same user with the same prefix is improbable, and then
// only keys a CLI login made are considered. When that still leaves a
// choice, nothing is deleted: revoking the wrong key would be worse than
// leaving the right one to the user.
func revokeKey(ctx context.Context, c *apiClient, key string) error {
	var list struct {
		Data []apiKeyEntry `json:"data"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/api-keys", key, nil, &list); err != nil {
		return rejected(err)
	}
	var match []apiKeyEntry
	for _, e := range list.Data {
		if e.Prefix == keyPrefix(key) {
			match = append(match, e)
		}
	}
	if len(match) > 1 {
		var cli []apiKeyEntry
		for _, e := range match {
			if strings.HasPrefix(e.Name, "CLI: ") {
				cli = append(cli, e)
			}
		}
		match = cli
	}
	switch len(match) {
	case 0:
		return fmt.Errorf("%s lists no key with the prefix %s", c.base, keyPrefix(key))
	case 1:
	default:
		return fmt.Errorf("%d CLI keys share the prefix %s; delete the right one yourself", len(match), keyPrefix(key))
	}
	_, err := c.do(ctx, http.MethodDelete, "/api/v1/api-keys/"+url.PathEscape(match[0].ID), key, nil, nil)
	return rejected(err)
}

// rejected turns a 401 into errKeyRejected.
func rejected(err error) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return errKeyRejected
	}
	return err
}
