package handlers_test

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/proxy"
)

// pageHeaders are the headers every answer of the login page carries.
var pageHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Frame-Options":         "DENY",
	"Cache-Control":           "no-store",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"Content-Type":            "text/html; charset=utf-8",
}

// startPage runs the whole front (handlers.Front) with the login page on and an
// edge whose default upstream is a recorder, so that a test sees what would
// have been forwarded.
// edit, if given, adjusts the API before it serves.
func startPage(t *testing.T, policy authn.LimitPolicy, servePage bool, edit ...func(*handlers.API)) (*service, *upstreamRecorder) {
	t.Helper()
	up := newUpstream(t)
	clk := &clock{t: time.Now().UTC()}
	api := newTestAPI(t, storeURLForOneStore(t), policy, testParams, clk.Now)
	api.ServeCLIPage = servePage
	for _, e := range edit {
		e(api)
	}
	px, err := proxy.New(proxy.Options{
		Upstream: up.srv.URL, DefaultAuth: config.AuthOptional,
		Resolver: api.Resolver,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	srv := handlers.NewServer(handlers.NewFront(api, px, nil).Serve, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { srv.Shutdown() })
	s := &service{
		t: t, base: "http://" + ln.Addr().String(), store: api.Store, clock: clk, api: api,
		http: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	return s, up
}

// page is an answer of the login page.
type page struct {
	status int
	header http.Header
	body   string
}

// get fetches target the way a browser navigating does (or with the given
// Accept header).
func (s *service) get(target string, accept ...string) page {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.base+target, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	if len(accept) > 0 {
		req.Header.Set("Accept", accept[0])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(b)}
}

func (s *service) initiate(device string) (code, authURL string) {
	s.t.Helper()
	r := s.do("POST", "/api/v1/auth/cli/initiate", map[string]string{"device_name": device})
	expect(s.t, r, 200, "")
	return r.str("code"), r.str("auth_url")
}

func pathOf(t *testing.T, authURL string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func checkPageHeaders(t *testing.T, p page) {
	t.Helper()
	for name, want := range pageHeaders {
		if got := p.header.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

var (
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	styleTag    = regexp.MustCompile(`(?i)<style\b`)
	styleAttr   = regexp.MustCompile(`(?i)\sstyle\s*=`)
	handlerAttr = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	jsURL       = regexp.MustCompile(`(?i)javascript:`)
)

// checkNoInlineCode fails on anything the CSP would have to allow inline:
// script bodies, style elements or attributes, event handler attributes.
func checkNoInlineCode(t *testing.T, html string) {
	t.Helper()
	scripts := scriptTag.FindAllStringSubmatch(html, -1)
	if strings.Count(strings.ToLower(html), "<script") != len(scripts) {
		t.Errorf("unterminated script element in %s", html)
	}
	for _, m := range scripts {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script: %s", m[0])
		}
	}
	for _, re := range []*regexp.Regexp{styleTag, styleAttr, handlerAttr, jsURL} {
		if m := re.FindString(html); m != "" {
			t.Errorf("inline code %q in page", m)
		}
	}
}

func TestCLIPageForm(t *testing.T) {
	s, up := startPage(t, testPolicy(), true)
	code, authURL := s.initiate(`Ada's <b>laptop</b>`)
	if want := "http://dashboard.test/auth/cli?code=" + code; authURL != want {
		t.Fatalf("auth_url %q, want %q", authURL, want)
	}
	p := s.get(pathOf(t, authURL))
	if p.status != 200 {
		t.Fatalf("status %d: %s", p.status, p.body)
	}
	checkPageHeaders(t, p)
	checkNoInlineCode(t, p.body)
	for _, want := range []string{
		`Ada&#39;s &lt;b&gt;laptop&lt;/b&gt;`, // escaped, never markup
		">" + code[:4] + "-" + code[4:8] + "<",
		"Continue only if you started this login yourself",
		`<form id="cli-form" method="post" action="../api/v1/auth/cli/complete"`,
		`<input type="hidden" name="code" value="` + code + `">`,
		`type="email"`, `type="password"`,
		"This link expires in 10 minutes",
		`<p class="meta" id="expiry">`,
		`on <strong id="service">dashboard.test</strong>`,
		`<link rel="icon" href="cli/assets/icon.svg?v=`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page lacks %q:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, "<b>laptop") {
		t.Error("device name rendered as markup")
	}
	if seen := up.take(); len(seen) != 0 {
		t.Fatalf("the page was forwarded upstream: %+v", seen)
	}

	// Without a device name the page says so instead of showing nothing.
	code, _ = s.initiate("")
	if p := s.get("/auth/cli?code=" + code); p.status != 200 || !strings.Contains(p.body, "unnamed device") {
		t.Fatalf("unnamed device: %d %s", p.status, p.body)
	}
}

func TestCLIPageStates(t *testing.T) {
	s, _ := startPage(t, testPolicy(), true)
	s.signupLogin("grace@example.com")
	creds := func(code string) map[string]string {
		return map[string]string{"code": code, "email": "grace@example.com", "password": testPassword}
	}
	expired, _ := s.initiate("old laptop")
	completed, _ := s.initiate("laptop")
	expect(t, s.do("POST", "/api/v1/auth/cli/complete", creds(completed)), 200, "")
	delivered, _ := s.initiate("desktop")
	expect(t, s.do("POST", "/api/v1/auth/cli/complete", creds(delivered)), 200, "")
	expect(t, s.do("GET", "/api/v1/auth/cli/status/"+delivered, nil), 200, "")
	unknown, _ := authn.NewCLICode()
	s.clock.Advance(handlers.CLICodeTTL + time.Second)

	cases := []struct {
		name, target string
		status       int
		code, title  string
	}{
		{"unknown", "/auth/cli?code=" + unknown, 404, "INVALID_CODE", "This login link is not valid"},
		{"no code", "/auth/cli", 404, "INVALID_CODE", "This login link is not valid"},
		{"overlong", "/auth/cli?code=" + strings.Repeat("a", 65), 404, "INVALID_CODE", "This login link is not valid"},
		{"markup", "/auth/cli?code=%3Cscript%3E", 404, "INVALID_CODE", "This login link is not valid"},
		{"expired", "/auth/cli?code=" + expired, 410, "CODE_EXPIRED", "This login link has expired"},
		{"completed", "/auth/cli?code=" + completed, 409, "SESSION_USED", "This login is already complete"},
		{"delivered", "/auth/cli?code=" + delivered, 409, "SESSION_USED", "This login is already complete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := s.get(c.target)
			if p.status != c.status {
				t.Fatalf("status %d, want %d: %s", p.status, c.status, p.body)
			}
			checkPageHeaders(t, p)
			checkNoInlineCode(t, p.body)
			if strings.Contains(p.body, "<form") || strings.Contains(p.body, "password") {
				t.Fatalf("an error page shows the form:\n%s", p.body)
			}
			if !strings.Contains(p.body, "<h1>"+c.title+"</h1>") {
				t.Fatalf("page lacks title %q:\n%s", c.title, p.body)
			}

			// A client that asks for JSON gets the usual envelope.
			j := s.get(c.target, "application/json")
			var env struct {
				Error struct{ Code, Message string }
			}
			if j.status != c.status || json.Unmarshal([]byte(j.body), &env) != nil || env.Error.Code != c.code {
				t.Fatalf("JSON answer %d %s, want %d %s", j.status, j.body, c.status, c.code)
			}
			if !strings.Contains(p.body, env.Error.Message) {
				t.Fatalf("page does not show the API's message %q:\n%s", env.Error.Message, p.body)
			}
		})
	}
}

func TestCLIPageRateLimited(t *testing.T) {
	policy := testPolicy()
	policy.PerAddress[authn.ActionPoll] = authn.Limit{N: 1, Window: time.Minute}
	s, _ := startPage(t, policy, true)
	code, _ := s.initiate("laptop")
	if p := s.get("/auth/cli?code=" + code); p.status != 200 {
		t.Fatalf("first view: %d", p.status)
	}
	p := s.get("/auth/cli?code=" + code)
	if p.status != 429 || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many requests") {
		t.Fatalf("second view: %d Retry-After %q\n%s", p.status, p.header.Get("Retry-After"), p.body)
	}
	checkPageHeaders(t, p)
	if strings.Contains(p.body, "<form") {
		t.Fatal("a rate-limited view shows the form")
	}
}

var assetLink = regexp.MustCompile(`(?:src|href)="(cli/assets/[^"]+)" integrity="([^"]+)"`)

func TestCLIPageAssets(t *testing.T) {
	s, up := startPage(t, testPolicy(), true)
	code, _ := s.initiate("laptop")
	base, _ := url.Parse(s.base + "/auth/cli?code=" + code)
	p := s.get(base.RequestURI())
	links := assetLink.FindAllStringSubmatch(p.body, -1)
	if len(links) != 2 {
		t.Fatalf("want a script and a stylesheet with integrity, got %q", links)
	}
	types := map[string]string{"cli.js": "text/javascript; charset=utf-8", "cli.css": "text/css; charset=utf-8"}
	for _, l := range links {
		// Attribute values as a browser reads them (html/template writes
		// "+" as "&#43;").
		src, integrity := html.UnescapeString(l[1]), html.UnescapeString(l[2])
		ref, err := url.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		u := base.ResolveReference(ref)
		name := strings.TrimPrefix(u.Path, "/auth/cli/assets/")
		want, err := os.ReadFile("clipage/" + name)
		if err != nil {
			t.Fatalf("%s: %v", u.Path, err)
		}
		a := s.get(u.RequestURI())
		if a.status != 200 || a.body != string(want) {
			t.Fatalf("%s: %d, body differs from clipage/%s", u, a.status, name)
		}
		sum := sha512.Sum384(want)
		if integrity != "sha384-"+base64.StdEncoding.EncodeToString(sum[:]) {
			t.Errorf("%s: integrity %q does not match the file", name, integrity)
		}
		for h, v := range map[string]string{
			"Content-Type":           types[name],
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "public, max-age=31536000, immutable",
		} {
			if got := a.header.Get(h); got != v {
				t.Errorf("%s: %s = %q, want %q", name, h, got, v)
			}
		}
		// Without the current version the file must be revalidated.
		plain := s.get("/auth/cli/assets/" + name)
		if plain.status != 200 || plain.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s unversioned: %d Cache-Control %q", name, plain.status, plain.header.Get("Cache-Control"))
		}
		req, _ := http.NewRequest("GET", u.String(), nil)
		req.Header.Set("If-None-Match", a.header.Get("ETag"))
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 304 {
			t.Errorf("%s revalidation: %d, want 304", name, resp.StatusCode)
		}
	}
	r := s.do("GET", "/auth/cli/assets/other.js", nil)
	expect(t, r, 404, "NOT_FOUND")
	if seen := up.take(); len(seen) != 0 {
		t.Fatalf("asset requests were forwarded upstream: %+v", seen)
	}

	// The page never shows the key the complete endpoint answers with.
	js, err := os.ReadFile("clipage/cli.js")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "api_key") || strings.Contains(string(js), "innerHTML") {
		t.Fatal("cli.js touches the API key or writes markup")
	}
}

// TestCLIPageDispatch: with the page on, /auth/cli and its assets are
// answered by the service under any spelling the edge normalises, and
// nothing else under /auth is taken from the upstream; with it off,
// /auth/cli is an ordinary edge path (a dashboard behind the edge).
func TestCLIPageDispatch(t *testing.T) {
	s, up := startPage(t, testPolicy(), true)
	for _, target := range []string{"/auth/cli?code=x", "/auth/%63li?code=x", "/auth//cli", "/auth/cli/assets/cli.js", "/auth/cli/assets/../assets/cli.css"} {
		p := s.get(target)
		if p.status == 200 && p.body == "upstream ok" {
			t.Errorf("%s was forwarded", target)
		}
	}
	if seen := up.take(); len(seen) != 0 {
		t.Fatalf("forwarded: %+v", seen)
	}
	for _, target := range []string{"/auth/clip", "/auth/cli/other", "/auth/login"} {
		if p := s.get(target); p.status != 200 || p.body != "upstream ok" {
			t.Errorf("%s: %d %q, want it forwarded", target, p.status, p.body)
		}
	}

	off, up := startPage(t, testPolicy(), false)
	for _, target := range []string{"/auth/cli?code=x", "/auth/cli/assets/cli.js"} {
		if p := off.get(target); p.status != 200 || p.body != "upstream ok" {
			t.Errorf("page off: %s: %d %q, want it forwarded", target, p.status, p.body)
		}
	}
	if seen := up.take(); len(seen) != 2 {
		t.Fatalf("page off: %d requests forwarded, want 2", len(seen))
	}
}

func TestCLIShortCode(t *testing.T) {
	for in, want := range map[string]string{
		"a1b2c3d4e5f6": "a1b2-c3d4",
		"a1b2c3d4":     "a1b2-c3d4",
		"a1b2c3":       "a1b2-c3",
		"a1b2":         "a1b2",
		"":             "",
	} {
		if got := handlers.CLIShortCode(in); got != want {
			t.Errorf("CLIShortCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCLIPageService: the page names the service the key is for: the host
// of the configured base URL, else the Host asked for when it is one, never
// as markup.
func TestCLIPageService(t *testing.T) {
	for _, tc := range []struct {
		name, base, host, want string
	}{
		{"configured", "https://auth.example.com", "", "auth.example.com"},
		{"configured with port and path", "https://auth.example.com:8443/edge/", "", "auth.example.com:8443"},
		{"configured wins over Host", "https://auth.example.com", "evil.example", "auth.example.com"},
		{"from Host", "", "login.example.test:47080", "login.example.test:47080"},
		{"IPv6 Host", "", "[::1]:47080", "[::1]:47080"},
		{"Host with markup", "", `x"><b>y`, "this service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := startPage(t, testPolicy(), true, func(a *handlers.API) { a.AuthURLBase = tc.base })
			code, _ := s.initiate("laptop")
			host := tc.host
			if host == "" {
				host = strings.TrimPrefix(s.base, "http://")
			}
			raw := "GET /auth/cli?code=" + code + " HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
			status, body := rawExchange(t, s.base, raw)
			if status == 400 && tc.want == "this service" {
				return // refused before the page: nothing shown at all
			}
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			if want := `<strong id="service">` + html.EscapeString(tc.want) + `</strong>`; !strings.Contains(body, want) {
				t.Fatalf("page lacks %q:\n%s", want, body)
			}
			if strings.Contains(body, "<b>y") {
				t.Fatal("the Host was rendered as markup")
			}
		})
	}
}

// TestCLIPageIcon: the page links its own icon, so that a browser does not
// ask for /favicon.ico (which is not the service's); the icon is served
// like the other assets, under a policy that lets it run nothing.
func TestCLIPageIcon(t *testing.T) {
	s, up := startPage(t, testPolicy(), true)
	for _, target := range []string{"/auth/cli?code=nope", "/auth/cli/assets/icon.svg"} {
		p := s.get(target)
		if target == "/auth/cli?code=nope" {
			// Error pages link it too.
			if !strings.Contains(p.body, `<link rel="icon" href="cli/assets/icon.svg?v=`) {
				t.Fatalf("error page links no icon:\n%s", p.body)
			}
			continue
		}
		want, err := os.ReadFile("clipage/icon.svg")
		if err != nil {
			t.Fatal(err)
		}
		if p.status != 200 || p.body != string(want) || p.header.Get("Content-Type") != "image/svg+xml" ||
			p.header.Get("Content-Security-Policy") != "default-src 'none'" || p.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("icon: %d %v", p.status, p.header)
		}
	}
	if seen := up.take(); len(seen) != 0 {
		t.Fatalf("forwarded: %+v", seen)
	}
}

// TestCLIPageScript: the script posts JSON (the complete endpoint refuses
// form types) and hides the expiry line once the code is spent.
func TestCLIPageScript(t *testing.T) {
	js, err := os.ReadFile("clipage/cli.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"Content-Type": "application/json"`,
		`body: body,`,
		`JSON.stringify(`,
		`expiry.hidden = true;`,
	} {
		if !strings.Contains(string(js), want) {
			t.Errorf("cli.js lacks %q", want)
		}
	}
}
