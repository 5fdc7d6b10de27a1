package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/zectre/zectre-auth/handlers"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// needChromium fails in CI and skips, loudly, elsewhere when the browser is
// missing.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	msg := fmt.Sprintf("%s not found: install Debian's chromium package to run the browser test", chromiumPath)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	fmt.Fprintf(os.Stderr, "SKIP %s: %s\n", t.Name(), msg)
	t.Skip(msg)
}

// browser is a headless Chromium tab that records what the page's security
// policy refused, every uncaught exception, and every request the browser
// made with its answer's status.
type browser struct {
	t         *testing.T
	ctx       context.Context
	mu        sync.Mutex
	problems  []string
	requested []string         // URLs, in order
	answered  map[string]int64 // URL → the status of its last answer
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	// Registered after TempDir, so the browser is gone before its profile
	// directory is removed.
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, answered: map[string]int64{}}
	// The first call starts the browser, under a context without deadline:
	// the browser lives as long as that context.
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

func (b *browser) record(ev any) {
	var p string
	switch ev := ev.(type) {
	case *log.EventEntryAdded:
		if ev.Entry.Source == log.EntrySourceSecurity || strings.Contains(ev.Entry.Text, "Content Security Policy") {
			p = "security: " + ev.Entry.Text
		}
	case *network.EventRequestWillBeSent:
		b.mu.Lock()
		b.requested = append(b.requested, ev.Request.URL)
		b.mu.Unlock()
	case *network.EventResponseReceived:
		b.mu.Lock()
		b.answered[ev.Response.URL] = ev.Response.Status
		b.mu.Unlock()
	case *runtime.EventExceptionThrown:
		p = "exception: " + ev.ExceptionDetails.Text
		if e := ev.ExceptionDetails.Exception; e != nil {
			p += " " + e.Description
		}
	}
	if p != "" {
		b.mu.Lock()
		b.problems = append(b.problems, p)
		b.mu.Unlock()
	}
}

// do runs steps with a deadline of their own.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func browserRun[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) text(id string) string {
	b.t.Helper()
	return strings.TrimSpace(browserRun(b, "text of #"+id, chromedp.Text(chromedp.ID(id))))
}

// checkRequests fails if the browser asked for /favicon.ico or got a 404
// for anything, and returns the paths it requested.
func (b *browser) checkRequests() []string {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var paths []string
	for _, raw := range b.requested {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		paths = append(paths, u.Path)
		if u.Path == "/favicon.ico" {
			b.t.Errorf("the browser asked for %s", raw)
		}
	}
	for u, st := range b.answered {
		if st == http.StatusNotFound {
			b.t.Errorf("the browser got a 404 for %s", u)
		}
	}
	return paths
}

func (b *browser) checkPolicy() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Fatalf("the page broke its own policy or threw:\n%s", strings.Join(b.problems, "\n"))
	}
}

// loginFlow is one CLI login in progress: through the binary's login
// command, or, in a build without it, through the API the way a CLI does.
type loginFlow struct {
	t       *testing.T
	s       *server
	authURL string
	device  string // the device name the page must show ("" if the CLI chooses)
	// The login command's process and its credentials directory.
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan error
	config string
}

var authURLPattern = regexp.MustCompile(`https?://\S+/auth/cli\?code=[0-9a-f]+`)

// hasLoginCommand tells whether this build has the login command. The
// probe is bounded: a login that took --help for a real login would wait.
func hasLoginCommand(t *testing.T) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "login", "--help")
	cmd.Dir, cmd.Env = t.TempDir(), env("XDG_CONFIG_HOME="+t.TempDir())
	out, _ := cmd.CombinedOutput()
	return !strings.Contains(string(out), `unknown command "login"`)
}

// startCLILogin runs `zectre-auth login --no-browser` and waits for the
// auth_url it prints.
func startCLILogin(t *testing.T, s *server) *loginFlow {
	t.Helper()
	f := &loginFlow{t: t, s: s, out: &lockedBuffer{}, done: make(chan error, 1), config: t.TempDir()}
	f.cmd = exec.Command(binary, "login", "--no-browser", "--api", s.base)
	f.cmd.Dir = t.TempDir()
	f.cmd.Env = env("XDG_CONFIG_HOME="+f.config, "ZECTRE_API_KEY=")
	f.cmd.Stderr = f.out
	pipe, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			f.cmd.Process.Kill()
			<-f.done
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			fmt.Fprintln(f.out, sc.Text())
			if u := authURLPattern.FindString(sc.Text()); u != "" {
				select {
				case found <- u:
				default:
				}
			}
		}
		f.done <- f.cmd.Wait()
	}()
	select {
	case f.authURL = <-found:
	case err := <-f.done:
		f.done <- err
		t.Fatalf("login exited before printing the URL: %v\n%s", err, f.out)
	case <-time.After(30 * time.Second):
		t.Fatalf("login printed no auth URL within 30s:\n%s", f.out)
	}
	return f
}

// startAPILogin does what a CLI does, over HTTP.
func startAPILogin(t *testing.T, s *server) *loginFlow {
	t.Helper()
	f := &loginFlow{t: t, s: s, device: "browser-test laptop"}
	st, b := s.call("POST", "/api/v1/auth/cli/initiate", `{"device_name":"browser-test laptop"}`)
	if st != 200 {
		t.Fatalf("initiate: %d %v", st, b)
	}
	f.authURL, _ = b["auth_url"].(string)
	return f
}

// pageURL is auth_url on the test server's address: the server listens on a
// port chosen at start, which its configured base cannot know.
func (f *loginFlow) pageURL() (string, string) {
	f.t.Helper()
	u, err := url.Parse(f.authURL)
	if err != nil || u.Path != handlers.CLIPagePath {
		f.t.Fatalf("auth_url %q: not the built-in page (%v)", f.authURL, err)
	}
	code := u.Query().Get("code")
	if len(code) != 64 {
		f.t.Fatalf("auth_url %q: code of %d characters", f.authURL, len(code))
	}
	noteSecret("CLI code", code)
	base, _ := url.Parse(f.s.base)
	u.Scheme, u.Host = base.Scheme, base.Host
	return u.String(), code
}

// received asserts that the CLI side got a working key, and returns it.
func (f *loginFlow) received(code string) string {
	f.t.Helper()
	if f.cmd == nil {
		st, b := f.s.call("GET", "/api/v1/auth/cli/status/"+code, "")
		key, _ := b["api_key"].(string)
		if st != 200 || b["status"] != "completed" || !strings.HasPrefix(key, "zec_") {
			f.t.Fatalf("status after the page: %d %v", st, b)
		}
		return key
	}
	select {
	case err := <-f.done:
		if err != nil {
			f.t.Fatalf("login: %v\n%s", err, f.out)
		}
	case <-time.After(30 * time.Second):
		f.t.Fatalf("login did not finish within 30s of the page's success:\n%s", f.out)
	}
	path := filepath.Join(f.config, "zectre", "credentials.json")
	fi, err := os.Stat(path)
	if err != nil {
		f.t.Fatalf("credentials: %v\n%s", err, f.out)
	}
	if fi.Mode().Perm() != 0o600 {
		f.t.Fatalf("credentials mode %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	key := findKey(raw)
	if key == "" {
		f.t.Fatalf("no API key in %s", path)
	}
	noteSecret("API key of a CLI login", key)
	return key
}

// findKey returns the first string value starting with "zec_" in a JSON
// document.
func findKey(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	var walk func(any) string
	walk = func(v any) string {
		switch v := v.(type) {
		case string:
			if strings.HasPrefix(v, "zec_") {
				return v
			}
		case map[string]any:
			for _, x := range v {
				if k := walk(x); k != "" {
					return k
				}
			}
		case []any:
			for _, x := range v {
				if k := walk(x); k != "" {
					return k
				}
			}
		}
		return ""
	}
	return walk(v)
}

// TestBrowserCLILogin is the CLI login as a user meets it: the CLI starts,
// the built-in page opens in a real browser, a wrong password is refused
// with the API's message, the right one completes, and the CLI receives a
// working key.
func TestBrowserCLILogin(t *testing.T) {
	needChromium(t)
	dir := t.TempDir()
	s := start(t, dir, env())
	const email, password = "carol@example.com", "hunter2abc"
	if st, b := s.call("POST", "/api/v1/auth/signup", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)); st != 201 {
		t.Fatalf("signup: %d %v", st, b)
	}

	var f *loginFlow
	if hasLoginCommand(t) {
		f = startCLILogin(t, s)
	} else {
		t.Log("this build has no login command: the test initiates over HTTP")
		f = startAPILogin(t, s)
	}
	pageURL, code := f.pageURL()

	b := newBrowser(t)
	resp := browserRun(b, "open the page", chromedp.NavigateResponse(pageURL))
	if resp.Status != 200 || resp.Headers["Content-Security-Policy"] == nil {
		t.Fatalf("the service does not serve the login page (ServeCLIPage off?): %d, headers %v", resp.Status, resp.Headers)
	}
	b.do("form", chromedp.WaitVisible(chromedp.ID("cli-form")))
	device := b.text("device")
	switch {
	case f.device != "" && device != f.device:
		t.Fatalf("device %q, want %q", device, f.device)
	case f.cmd != nil && !strings.Contains(f.out.String(), device):
		t.Fatalf("the page shows device %q, which the CLI did not print:\n%s", device, f.out)
	}
	if short := b.text("short-code"); short != handlers.CLIShortCode(code) {
		t.Fatalf("short code %q, want %q", short, handlers.CLIShortCode(code))
	}
	if w := b.text("warning"); !strings.Contains(w, "Continue only if you started this login yourself") {
		t.Fatalf("warning: %q", w)
	}
	// The page names the service the key is for: the host of auth_url.
	if authURL, _ := url.Parse(f.authURL); b.text("service") != authURL.Host {
		t.Fatalf("service %q, want %q", b.text("service"), authURL.Host)
	}
	if e := b.text("expiry"); !strings.Contains(e, "This link expires in") {
		t.Fatalf("expiry line: %q", e)
	}
	// A browser asks for an icon once the page has loaded; give it the
	// time, then see that it asked for the linked one and no 404 came back.
	time.Sleep(2 * time.Second)
	paths := b.checkRequests()
	if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasSuffix(p, "/auth/cli/assets/icon.svg") }) {
		t.Errorf("the browser did not fetch the linked icon; requests: %q", paths)
	}

	// A wrong password: the API's message, the form stays for another try.
	b.do("wrong password",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), "not-the-password"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("error")),
	)
	if msg := b.text("error"); msg != "The email or password is wrong." {
		t.Fatalf("wrong password shows %q", msg)
	}
	if c := browserRun(b, "error code", chromedp.AttributeValue(chromedp.ID("error"), "data-code")); c.Value != "INVALID_CREDENTIALS" {
		t.Fatalf("error code %q", c.Value)
	}

	b.do("right password",
		chromedp.WaitVisible(chromedp.ID("cli-form")),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("success")),
		chromedp.WaitNotVisible(chromedp.ID("cli-form")),
		chromedp.WaitNotVisible(chromedp.ID("error")),
		// The code is spent: its expiry no longer means anything.
		chromedp.WaitNotVisible(chromedp.ID("expiry")),
	)
	if msg := b.text("success"); !strings.Contains(msg, "You can close this tab and return to your terminal") {
		t.Fatalf("success shows %q", msg)
	}
	html := browserRun(b, "page source", chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, "zec_") {
		t.Fatal("the page shows the API key")
	}

	key := f.received(code)
	st, u := s.call("GET", "/api/v1/user", "", "X-API-Key", key)
	if st != 200 || u["email"] != email {
		t.Fatalf("the CLI's key: %d %v", st, u)
	}

	// The link is spent: opening it again shows no form.
	resp = browserRun(b, "reopen the page", chromedp.NavigateResponse(pageURL))
	if resp.Status != http.StatusConflict {
		t.Fatalf("reopened page: %d, want 409", resp.Status)
	}
	b.do("spent page", chromedp.WaitNotPresent(chromedp.ID("cli-form")))
	b.checkPolicy()
	b.checkRequests()
	if logs := s.logs(); strings.Contains(logs, key) || strings.Contains(logs, code) || strings.Contains(logs, password) {
		t.Fatal("a credential appears in the service's log")
	}
}
