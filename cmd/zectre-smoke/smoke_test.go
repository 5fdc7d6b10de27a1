package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store/storetest"
)

const testSecret = "0123456789abcdef0123456789abcdef-smoke"

// TestSmoke runs every documented example against the built binary, twice
// against the same instance (each run makes its own account), on the
// embedded default and on PostgreSQL with and without Redis. No check may
// fail, and no password, token, key or code of a run may appear in its
// output or in the service's log.
func TestSmoke(t *testing.T) {
	postgres := func(t *testing.T) []string {
		return []string{"ZECTRE_AUTH_DATABASE_URL=" + storetest.PostgresURL(t), "ZECTRE_AUTH_JWT_SECRET=" + testSecret}
	}
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) []string
	}{
		{"embedded default", func(*testing.T) []string { return nil }},
		{"postgres", postgres},
		{"postgres+redis", func(t *testing.T) []string {
			return append(postgres(t), "ZECTRE_AUTH_REDIS_URL="+cachetest.RedisURL(t), "ZECTRE_AUTH_REDIS_PREFIX="+cachetest.Prefix(t))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := startInstance(t, tc.env(t)...)
			var secrets []secret
			for round := 1; round <= 2; round++ {
				var out bytes.Buffer
				rep := &report{w: &out}
				code := run(in.base, 30*time.Second, rep)
				t.Logf("run %d:\n%s", round, out.String())
				if code != 0 || rep.failed > 0 || rep.passed == 0 {
					t.Fatalf("run %d: exit %d, %d passed, %d failed", round, code, rep.passed, rep.failed)
				}
				checkLines(t, out.String(), rep)
				// The password, the token, three keys and the CLI code.
				if n := len(rep.secrets); n < 6 {
					t.Errorf("run %d registered %d secrets, want every credential it handled", round, n)
				}
				secrets = append(secrets, rep.secrets...)
				leaks(t, "the smoke output", out.String(), rep.secrets)
			}
			in.stop(t)
			leaks(t, "the service's log", in.logs(), secrets)
		})
	}
}

// checkLines: one line per check, ok or FAIL, then the summary.
func checkLines(t *testing.T, out string, rep *report) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if want := rep.passed + rep.failed + 1; len(lines) != want {
		t.Errorf("%d lines, want %d (one per check and the summary)", len(lines), want)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "ok   ") && !strings.HasPrefix(l, "FAIL ") {
			t.Errorf("a line that is neither ok nor FAIL: %q", l)
		}
	}
	if got, want := lines[len(lines)-1], strconv.Itoa(rep.passed)+" passed, "+strconv.Itoa(rep.failed)+" failed"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

// leaks fails when text holds a secret's value. The secrets a run
// registers are the password, the token, every key and the CLI code.
func leaks(t *testing.T, where, text string, secrets []secret) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s.value) {
			t.Errorf("%s holds a secret (shown as %s)", where, s.shown)
		}
	}
}

// TestSmokeFindsFaults puts a proxy in front of a real instance that
// breaks one documented promise, and expects the smoke test to say so in
// a FAIL line that names what differed, without printing a secret even
// when the broken answer holds one.
func TestSmokeFindsFaults(t *testing.T) {
	in := startInstance(t)
	target, _ := url.Parse(in.base)
	for _, tc := range []struct {
		name   string
		tamper func(*http.Response)
		want   string // in a FAIL line
	}{
		{"no WWW-Authenticate on 401", func(r *http.Response) { r.Header.Del("WWW-Authenticate") }, `WWW-Authenticate "", want "Bearer realm=\"zectre\""`},
		{"cacheable answers", func(r *http.Response) { r.Header.Set("Cache-Control", "max-age=60") }, `Cache-Control "max-age=60", want no-store`},
		{"an extra member in every object", func(r *http.Response) { editJSON(r, func(m map[string]any) { m["debug"] = true }) }, `an unexpected member "debug"`},
		{"the user without created_at", func(r *http.Response) {
			editJSON(r, func(m map[string]any) { delete(m, "created_at") })
		}, `no member "created_at"`},
		{"a redirect for a trailing slash", func(r *http.Response) {
			if strings.HasSuffix(r.Request.URL.Path, "/user/") {
				r.StatusCode = 301
			}
		}, "status 301, want 404"},
		{"a credential echoed in an error", func(r *http.Response) {
			if r.StatusCode < 400 {
				return
			}
			// An error that quotes what the client sent: the line shows
			// the body, so a key or token in it must come out as a prefix.
			r.StatusCode = 418
			setBody(r, `{"error":{"code":"X","message":"`+r.Request.Header.Get("X-API-Key")+` `+r.Request.Header.Get("Authorization")+`"}}`)
		}, "status 418, want 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := httputil.NewSingleHostReverseProxy(target)
			proxy.ModifyResponse = func(r *http.Response) error { tc.tamper(r); return nil }
			front := httptest.NewServer(proxy)
			defer front.Close()

			var out bytes.Buffer
			rep := &report{w: &out}
			if code := run(front.URL, 30*time.Second, rep); code != 1 || rep.failed == 0 {
				t.Fatalf("exit %d with %d failed, want 1 and failures:\n%s", code, rep.failed, out.String())
			}
			t.Logf("run:\n%s", out.String())
			found := false
			for _, l := range strings.Split(out.String(), "\n") {
				found = found || strings.HasPrefix(l, "FAIL ") && strings.Contains(l, tc.want)
			}
			if !found {
				t.Errorf("no FAIL line says %s:\n%s", tc.want, out.String())
			}
			checkLines(t, out.String(), rep)
			leaks(t, "the smoke output", out.String(), rep.secrets)
		})
	}
}

// editJSON changes every JSON object answer (and the objects nested one
// level in it, such as "user").
func editJSON(r *http.Response, edit func(map[string]any)) {
	raw, _ := io.ReadAll(r.Body)
	r.Body.Close()
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		edit(m)
		for _, v := range m {
			if inner, ok := v.(map[string]any); ok {
				edit(inner)
			}
		}
		raw, _ = json.Marshal(m)
	}
	setBody(r, string(raw))
}

func setBody(r *http.Response, body string) {
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// TestSmokeWithoutInstance: nothing listening is one FAIL line and exit 1;
// an instance that answers 200 {} to everything fails nearly every check,
// and the run still completes.
func TestSmokeWithoutInstance(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	var out bytes.Buffer
	rep := &report{w: &out}
	if code := run(closed.URL, 5*time.Second, rep); code != 1 || rep.failed != 1 || rep.passed != 0 {
		t.Fatalf("nothing listening: exit %d, %d passed, %d failed:\n%s", code, rep.passed, rep.failed, out.String())
	}
	if !strings.HasPrefix(out.String(), "FAIL reach "+closed.URL) {
		t.Errorf("want a FAIL line naming the URL:\n%s", out.String())
	}

	anything := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("{}"))
	}))
	defer anything.Close()
	out.Reset()
	rep = &report{w: &out}
	if code := run(anything.URL, 5*time.Second, rep); code != 1 || rep.failed < 40 {
		t.Fatalf("a server that answers {}: exit %d, %d passed, %d failed:\n%s", code, rep.passed, rep.failed, out.String())
	}
	checkLines(t, out.String(), rep)
}

func TestRedact(t *testing.T) {
	rep := &report{}
	rep.keep("smoke-5f3a9c1e", 0)
	rep.keep("zec_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R9s0T1u", keyShown)
	for _, tc := range []struct{ in, want string }{
		{"password smoke-5f3a9c1e and smoke-5f3a9c1e-wrong", "password [redacted] and [redacted]-wrong"},
		{`"key":"zec_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R9s0T1u"`, `"key":"zec_1a2B…"`},
		{"an unregistered zec_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ in a body", "an unregistered zec_ZZZZ… in a body"},
		{"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "Bearer eyJhbGci…"},
		{"zec_ alone and zec_1234 stay", "zec_ alone and zec_1234 stay"},
		{"nothing secret", "nothing secret"},
	} {
		if got := rep.redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckBaseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string // in the error; "" for none
	}{
		{"http://localhost:47080", ""},
		{"https://127.0.0.1:8443/", ""},
		{"localhost:47080", "not an http"},
		{"ftp://localhost", "not an http"},
		{"http://", "not an http"},
		{"http://localhost:47080/?x=1", "query"},
	} {
		err := checkBaseURL(tc.url)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkBaseURL(%q) = %v, want %q", tc.url, err, tc.want)
		}
	}
}
