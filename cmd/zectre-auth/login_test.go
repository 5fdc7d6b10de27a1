package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// exitInterrupted is the status login ends with on Ctrl-C or SIGTERM: the
// shell's for a command ended by Ctrl-C.
const exitInterrupted = 130

// credentials is the credentials file as login writes it.
type credentials struct {
	APIURL string `json:"api_url"`
	APIKey string `json:"api_key"`
	User   struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
	CreatedAt string `json:"created_at"`
}

// cliURLLine finds the auth_url login prints on a line of its own.
var cliURLLine = regexp.MustCompile(`^\s+(https?://\S+/auth/cli\?code=([0-9a-f]+))\s*$`)

type cliLogin struct {
	t        *testing.T
	cmd      *exec.Cmd
	stdout   lockedBuffer
	stderr   lockedBuffer
	authURL  string
	code     string
	done     chan struct{}
	exitCode int
}

// startLogin runs the login command and waits for the URL it prints.
func startLogin(t *testing.T, environ []string, args ...string) *cliLogin {
	t.Helper()
	l := &cliLogin{t: t, done: make(chan struct{})}
	l.cmd = exec.Command(binary, append([]string{"login"}, args...)...)
	l.cmd.Dir, l.cmd.Env, l.cmd.Stderr = t.TempDir(), environ, &l.stderr
	pipe, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			fmt.Fprintln(&l.stdout, sc.Text())
			if m := cliURLLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- [2]string{m[1], m[2]}:
				default:
				}
			}
		}
		err := l.cmd.Wait()
		l.exitCode = l.cmd.ProcessState.ExitCode()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			l.exitCode = -1
		}
		close(l.done)
	}()
	t.Cleanup(func() {
		select {
		case <-l.done:
		default:
			l.cmd.Process.Kill()
			<-l.done
		}
	})
	select {
	case m := <-found:
		l.authURL, l.code = m[0], m[1]
	case <-l.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("login printed no URL within 30s\nstdout:\n%s\nstderr:\n%s", l.stdout.String(), l.stderr.String())
	}
	return l
}

// wait returns the exit code.
func (l *cliLogin) wait(limit time.Duration) int {
	l.t.Helper()
	select {
	case <-l.done:
		return l.exitCode
	case <-time.After(limit):
		l.t.Fatalf("login still running after %s\nstdout:\n%s\nstderr:\n%s", limit, l.stdout.String(), l.stderr.String())
		return 0
	}
}

// readCredentials decodes the file login wrote under config.
func readCredentials(t *testing.T, config string) credentials {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(config, "zectre", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c credentials
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("credentials file: %v\n%s", err, raw)
	}
	noteSecret("stored API key", c.APIKey)
	return c
}

// writeCredentials stores c at path as a login would: 0600 in a 0700
// directory, so that the commands have no mode to warn about.
func writeCredentials(t *testing.T, path string, c credentials) {
	t.Helper()
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCLILogin is the whole client side against the real service: login
// completed as the browser page would, whoami from the file and from
// ZECTRE_API_KEY, logout revoking the key.
func TestCLILogin(t *testing.T) {
	s := start(t, t.TempDir(), env())
	s.account("alice@example.com")
	_, bobKey := s.account("bob@example.com")
	config := t.TempDir()
	cliEnv := env("XDG_CONFIG_HOME="+config, "LANG=C.UTF-8")

	l := startLogin(t, cliEnv, "--no-browser", "--api", s.base, "--device", "test laptop")
	if l.authURL == "" {
		t.Fatalf("no URL; exit %d\n%s\n%s", l.wait(time.Second), l.stdout.String(), l.stderr.String())
	}
	wants := []string{"device: test laptop", "code:   " + l.code[:4] + "-" + l.code[4:8], "only if the page shows this device and code"}
	// The lines after the URL may still be on their way through the pipe.
	out := l.stdout.String()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(out, wants[len(wants)-1]); {
		time.Sleep(10 * time.Millisecond)
		out = l.stdout.String()
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("login output lacks %q:\n%s", want, out)
		}
	}
	time.Sleep(1500 * time.Millisecond) // let it poll "pending" at least once
	body := fmt.Sprintf(`{"code":%q,"email":"alice@example.com","password":"hunter2abc"}`, l.code)
	if st, b := s.call("POST", "/api/v1/auth/cli/complete", body); st != 200 {
		t.Fatalf("complete: %d %v", st, b)
	}
	if code := l.wait(30 * time.Second); code != 0 {
		t.Fatalf("login exit %d\nstdout:\n%s\nstderr:\n%s", code, l.stdout.String(), l.stderr.String())
	}

	dir := filepath.Join(config, "zectre")
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "credentials.json"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, mode %v, want %v", path, err, fi.Mode().Perm(), want)
		}
	}
	c := readCredentials(t, config)
	if c.APIURL != s.base || c.User.Email != "alice@example.com" || c.User.ID == "" || c.CreatedAt == "" {
		t.Fatalf("credentials %+v", c)
	}
	if st := s.whoami("X-API-Key", c.APIKey); st != 200 {
		t.Fatalf("stored key: %d", st)
	}
	all := l.stdout.String() + l.stderr.String()
	if strings.Contains(all, c.APIKey) {
		t.Fatal("login printed the key")
	}
	if !strings.Contains(l.stdout.String(), "Logged in to "+s.base+" as alice@example.com") {
		t.Fatalf("no success line:\n%s", l.stdout.String())
	}
	if !strings.Contains(l.stderr.String(), "waiting for the login in the browser") || strings.Contains(l.stderr.String(), "\r") {
		t.Fatalf("not a terminal: want plain wait lines, got %q", l.stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("leftovers next to the credentials: %v", entries)
	}

	work := t.TempDir()
	stdout, stderr, code := command(t, work, cliEnv, "whoami")
	if code != 0 || !strings.Contains(stdout, "email:  alice@example.com") || !strings.Contains(stdout, "id:     "+c.User.ID) ||
		!strings.Contains(stdout, "admin:  false") || !strings.Contains(stdout, "credentials.json") {
		t.Fatalf("whoami: %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, c.APIKey) {
		t.Fatal("whoami printed the key")
	}

	stdout, stderr, code = command(t, work, append(cliEnv, "ZECTRE_API_KEY="+bobKey), "whoami", "--api", s.base)
	if code != 0 || !strings.Contains(stdout, "email:  bob@example.com") || !strings.Contains(stdout, "from ZECTRE_API_KEY") {
		t.Fatalf("whoami with ZECTRE_API_KEY: %d\n%s%s", code, stdout, stderr)
	}
	_, stderr, code = command(t, work, append(cliEnv, "ZECTRE_API_KEY=zec_notakey"), "whoami", "--api", s.base)
	if code != 1 || !strings.Contains(stderr, "rejects the key in ZECTRE_API_KEY") {
		t.Fatalf("whoami with a bad ZECTRE_API_KEY: %d %s", code, stderr)
	}

	stdout, stderr, code = command(t, work, cliEnv, "logout")
	if code != 0 || !strings.Contains(stdout, "was revoked") {
		t.Fatalf("logout: %d\n%s%s", code, stdout, stderr)
	}
	if st := s.whoami("X-API-Key", c.APIKey); st != 401 {
		t.Fatalf("key after logout: %d, want 401", st)
	}
	if st := s.whoami("X-API-Key", bobKey); st != 200 {
		t.Fatalf("another user's key after logout: %d", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "credentials.json")); !os.IsNotExist(err) {
		t.Fatalf("credentials after logout: %v", err)
	}
	_, stderr, code = command(t, work, cliEnv, "whoami")
	if code != 1 || !strings.Contains(stderr, "not logged in") {
		t.Fatalf("whoami after logout: %d %s", code, stderr)
	}
	if stdout, _, code = command(t, work, cliEnv, "logout"); code != 0 || !strings.Contains(stdout, "Not logged in") {
		t.Fatalf("second logout: %d %s", code, stdout)
	}
}

// TestCLIWhoamiRevokedKey: a stored key the server no longer accepts.
func TestCLIWhoamiRevokedKey(t *testing.T) {
	s := start(t, t.TempDir(), env())
	token, key := s.account("carol@example.com")
	config := t.TempDir()
	path := filepath.Join(config, "zectre", "credentials.json")
	writeCredentials(t, path, credentials{APIURL: s.base, APIKey: key})
	st, b := s.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+token)
	data, _ := b["data"].([]any)
	if st != 200 || len(data) != 1 {
		t.Fatalf("list keys: %d %v", st, b)
	}
	id := data[0].(map[string]any)["id"].(string)
	if st, _ := s.call("DELETE", "/api/v1/api-keys/"+id, "", "Authorization", "Bearer "+token); st != 204 {
		t.Fatalf("delete key: %d", st)
	}
	cliEnv := env("XDG_CONFIG_HOME=" + config)
	_, stderr, code := command(t, t.TempDir(), cliEnv, "whoami")
	if code != 1 || !strings.Contains(stderr, "the stored key is no longer valid; run zectre-auth login") {
		t.Fatalf("whoami: %d %s", code, stderr)
	}
	stdout, stderr, code := command(t, t.TempDir(), cliEnv, "logout")
	if code != 0 || !strings.Contains(stdout, "already stopped accepting") {
		t.Fatalf("logout: %d %s%s", code, stdout, stderr)
	}
}

// TestCLILoginInterrupt: Ctrl-C (or SIGTERM) while polling leaves nothing
// behind and exits 130.
func TestCLILoginInterrupt(t *testing.T) {
	s := start(t, t.TempDir(), env())
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			config := t.TempDir()
			l := startLogin(t, env("XDG_CONFIG_HOME="+config), "--no-browser", "--api", s.base)
			if l.authURL == "" {
				t.Fatalf("no URL\n%s", l.stderr.String())
			}
			time.Sleep(1500 * time.Millisecond)
			if err := l.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := l.wait(10 * time.Second); code != exitInterrupted {
				t.Fatalf("exit %d, want %d\n%s", code, exitInterrupted, l.stderr.String())
			}
			if !strings.Contains(l.stderr.String(), "interrupted; nothing was stored") {
				t.Fatalf("stderr: %s", l.stderr.String())
			}
			if entries, err := os.ReadDir(config); err != nil || len(entries) != 0 {
				t.Fatalf("left behind in the config dir: %v %v", entries, err)
			}
		})
	}
}

// TestCLILoginOpensBrowser: $BROWSER gets the URL when there is a display,
// and nothing starts without one.
func TestCLILoginOpensBrowser(t *testing.T) {
	s := start(t, t.TempDir(), env())
	dir := t.TempDir()
	opened := filepath.Join(dir, "opened")
	script := filepath.Join(dir, "fake-browser")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+opened+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     []string
		args    []string
		opens   bool
		message string
	}{
		{"display", []string{"DISPLAY=:99"}, nil, true, "Opened the URL in your browser"},
		{"no display", nil, nil, false, "Not opening a browser here (no display)"},
		{"no-browser flag", []string{"DISPLAY=:99"}, []string{"--no-browser"}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(opened)
			e := env(append(tc.env, "XDG_CONFIG_HOME="+t.TempDir(), "BROWSER="+script)...)
			l := startLogin(t, e, append(tc.args, "--api", s.base)...)
			if l.authURL == "" {
				t.Fatalf("no URL\n%s", l.stderr.String())
			}
			if tc.opens {
				until(t, 10*time.Second, "the browser to be started", func() bool {
					raw, _ := os.ReadFile(opened)
					return string(raw) == l.authURL
				})
			} else {
				time.Sleep(500 * time.Millisecond)
				if _, err := os.Stat(opened); err == nil {
					t.Fatal("a browser was started")
				}
			}
			until(t, 5*time.Second, "the browser message", func() bool {
				return strings.Contains(l.stdout.String(), tc.message)
			})
			l.cmd.Process.Signal(syscall.SIGINT)
			if code := l.wait(10 * time.Second); code != exitInterrupted {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// fakeAPI answers initiate, and status with the given handler: it injects
// the failures a real server cannot be brought to on demand (a code
// expiring after ten minutes, a key delivered to someone else).
func fakeAPI(t *testing.T, status http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/cli/initiate", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"code":"00112233445566778899aabbccddeeff","auth_url":"http://%s/auth/cli?code=00112233445566778899aabbccddeeff","expires_at":%q}`,
			r.Host, time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339))
	})
	mux.HandleFunc("GET /api/v1/auth/cli/status/{code}", status)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// TestCLILoginFailures: every way a login ends without a key is explained,
// exits 1 and stores nothing.
func TestCLILoginFailures(t *testing.T) {
	closed := closedAddr(t)
	cases := []struct {
		name   string
		status http.HandlerFunc
		api    string
		want   string
	}{
		{"expired status", answer(200, `{"status":"expired","api_key":null,"user":null}`), "", "the login code expired"},
		{"code expired", answer(410, `{"error":{"code":"CODE_EXPIRED","message":"expired"}}`), "", "the login code expired"},
		{"used", answer(409, `{"error":{"code":"SESSION_USED","message":"used"}}`), "", `already completed and its key was delivered to another poll`},
		{"unknown code", answer(404, `{"error":{"code":"INVALID_CODE","message":"unknown"}}`), "", "does not know this login code"},
		{"unreachable", nil, "http://" + closed, "cannot reach http://" + closed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := tc.api
			if api == "" {
				api = fakeAPI(t, tc.status).URL
			}
			config := t.TempDir()
			l := startLogin(t, env("XDG_CONFIG_HOME="+config), "--no-browser", "--api", api)
			if code := l.wait(20 * time.Second); code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, l.stderr.String())
			}
			if !strings.Contains(l.stderr.String(), tc.want) {
				t.Fatalf("stderr lacks %q:\n%s", tc.want, l.stderr.String())
			}
			if entries, _ := os.ReadDir(config); len(entries) != 0 {
				t.Fatalf("left behind: %v", entries)
			}
		})
	}
}

// TestCLILoginRetryAfter: a 429 on status delays the next poll by its
// Retry-After, then the login completes.
func TestCLILoginRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var polls []time.Time
	srv := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		polls = append(polls, time.Now())
		n := len(polls)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"error":{"code":"RATE_LIMITED","message":"slow down"}}`)
			return
		}
		fmt.Fprint(w, `{"status":"completed","api_key":"zec_fake","user":{"id":"u1","email":"dan@example.com","name":null,"is_admin":false,"created_at":"2025-01-01T00:00:00Z"}}`)
	})
	config := t.TempDir()
	l := startLogin(t, env("XDG_CONFIG_HOME="+config), "--no-browser", "--api", srv.URL)
	if code := l.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, l.stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(polls) != 2 || polls[1].Sub(polls[0]) < 3*time.Second {
		t.Fatalf("polls at %v: want the second at least 3s after the first", polls)
	}
	if !strings.Contains(l.stderr.String(), "rate limited; next check in 0:03") {
		t.Fatalf("no rate-limit note:\n%s", l.stderr.String())
	}
	if c := readCredentials(t, config); c.APIKey != "zec_fake" || c.APIURL != srv.URL || c.User.Email != "dan@example.com" {
		t.Fatalf("credentials %+v", c)
	}
}

// TestCLILogoutOffline: with the server gone the file still goes, and the
// user learns the key lives on.
func TestCLILogoutOffline(t *testing.T) {
	config := t.TempDir()
	path := filepath.Join(config, "zectre", "credentials.json")
	base := "http://" + closedAddr(t)
	writeCredentials(t, path, credentials{APIURL: base, APIKey: "zec_AbCdEfGh0123"})
	stdout, stderr, code := command(t, t.TempDir(), env("XDG_CONFIG_HOME="+config), "logout")
	if code != 1 || !strings.Contains(stderr, "could not be revoked") || !strings.Contains(stderr, "zec_AbCd…") {
		t.Fatalf("logout: %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "zec_AbCdEfGh0123") {
		t.Fatal("logout printed the key")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("credentials after logout: %v", err)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
