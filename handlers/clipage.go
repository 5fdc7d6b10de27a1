package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"math"
	"net/url"
	"strings"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
)

// The built-in CLI login page plays the dashboard's part of the CLI flow
// when no dashboard is configured: it shows which login the code belongs to
// and posts the user's credentials to the complete endpoint.
const (
	// CLIPagePath is where auth_url points when the service serves the page.
	CLIPagePath     = "/auth/cli"
	cliAssetsPrefix = CLIPagePath + "/assets/"

	// cliPageCSP allows this origin's own script, style and fetches and
	// nothing else: no inline code (so an injection cannot run), no framing
	// (so the form cannot be overlaid by another site), no form posts to
	// other origins.
	cliPageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
		"img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

	// cliShortCodeLength is how much of the code the page (and the CLI)
	// show, for the user to compare with the terminal.
	cliShortCodeLength = 8
)

//go:embed clipage
var cliPageFiles embed.FS

// cliAsset is an embedded static file with what its URL and tag carry: a
// version (so that it can be cached for good) and a subresource integrity
// digest.
type cliAsset struct {
	body        []byte
	contentType string
	version     string
	integrity   string
}

var (
	cliTemplate = template.Must(template.ParseFS(cliPageFiles, "clipage/cli.html"))
	cliAssets   = map[string]cliAsset{
		"cli.js":  loadCLIAsset("cli.js", "text/javascript; charset=utf-8"),
		"cli.css": loadCLIAsset("cli.css", "text/css; charset=utf-8"),
		// Linked by the page, so that a browser asks for it instead of
		// /favicon.ico: that path is not the service's (behind the edge it
		// is the upstream's), and a 404 for it would be noise in every
		// browser console and log.
		"icon.svg": loadCLIAsset("icon.svg", "image/svg+xml"),
	}
)

func loadCLIAsset(name, contentType string) cliAsset {
	b, err := cliPageFiles.ReadFile("clipage/" + name)
	if err != nil {
		panic(err) // embedded at build time: missing only in a broken build
	}
	v := sha256.Sum256(b)
	i := sha512.Sum384(b)
	return cliAsset{
		body: b, contentType: contentType,
		version:   hex.EncodeToString(v[:6]),
		integrity: "sha384-" + base64.StdEncoding.EncodeToString(i[:]),
	}
}

// CLIShortCode is the short form of a CLI login code that the page shows
// ("a1b2-c3d4"), so that a terminal can print the same for the user to
// compare.
func CLIShortCode(code string) string {
	if len(code) > cliShortCodeLength {
		code = code[:cliShortCodeLength]
	}
	if len(code) <= cliShortCodeLength/2 {
		return code
	}
	return code[:cliShortCodeLength/2] + "-" + code[cliShortCodeLength/2:]
}

func (a *API) registerCLIPage(r *router.Router) {
	r.GET(CLIPagePath, a.handle(a.cliPage))
	r.HEAD(CLIPagePath, a.handle(a.cliPage))
	r.GET(cliAssetsPrefix+"{name}", a.cliAsset)
	r.HEAD(cliAssetsPrefix+"{name}", a.cliAsset)
}

// cliPageData fills clipage/cli.html. Form is set only while the code can
// still be completed; otherwise Title and Message say why not.
type cliPageData struct {
	Form      bool
	Title     string
	Message   string
	Hint      string
	Code      string
	ShortCode string
	Device    string
	ExpiresAt string
	ExpiresIn int // whole minutes left, at least 1
	// Service is the host the user is authorizing a key for, so that a
	// login link sent by someone else for another service stands out.
	Service string
	Script  cliAssetRef
	Style   cliAssetRef
	Icon    cliAssetRef
}

type cliAssetRef struct{ URL, Integrity string }

func assetRef(name string) cliAssetRef {
	a := cliAssets[name]
	// Relative to the page, so that the page also works under a path prefix
	// of a proxy in front.
	return cliAssetRef{URL: "cli/assets/" + name + "?v=" + a.version, Integrity: a.integrity}
}

func (a *API) cliPage(ctx context.Context, rc *fasthttp.RequestCtx) error {
	// A page view is a code lookup like a status poll, and shares its limit.
	if err := a.Limits.Take(ctx, authn.ActionPoll, a.clientAddr(rc)); err != nil {
		return a.cliPageError(rc, err)
	}
	code := string(rc.QueryArgs().Peek("code"))
	s, err := a.cliSession(ctx, code)
	switch {
	case err != nil:
		return a.cliPageError(rc, err)
	case s.Status != store.CLIPending:
		return a.cliPageError(rc, errSessionUsed)
	case !a.Now().Before(s.ExpiresAt):
		return a.cliPageError(rc, errCodeExpired)
	}
	d := cliPageData{
		Form: true, Title: "Authorize a CLI login",
		Code: code, ShortCode: CLIShortCode(code), Device: s.DeviceName, Service: a.serviceHost(rc),
		ExpiresAt: s.ExpiresAt.UTC().Format("15:04 UTC"),
		ExpiresIn: max(1, int(math.Ceil(s.ExpiresAt.Sub(a.Now()).Minutes()))),
	}
	return a.renderCLIPage(rc, fasthttp.StatusOK, d)
}

// serviceHost names the service on the page: the host of its configured
// public URL (the base of auth_url), else the Host the browser asked for
// when that names a plausible host. The template escapes it; a Host that
// is not one is never shown.
func (a *API) serviceHost(rc *fasthttp.RequestCtx) string {
	if u, err := url.Parse(a.AuthURLBase); err == nil && u.Host != "" {
		return u.Host
	}
	if h := string(rc.Host()); plausibleHost(h) {
		return h
	}
	return "this service"
}

// plausibleHost allows a host[:port] of letters, digits and . - : [ ]
// (IPv6 literals), at most 255 bytes.
func plausibleHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range []byte(h) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-:[]", c) >= 0) {
			return false
		}
	}
	return true
}

// cliPageHints tell the reader of an error page what to do next.
var cliPageHints = map[string]struct{ title, hint string }{
	"INVALID_CODE": {"This login link is not valid",
		"Check that the whole link was copied, or run zectre-auth login again for a new one."},
	"CODE_EXPIRED": {"This login link has expired",
		"Links work for ten minutes. Run zectre-auth login again in your terminal."},
	"SESSION_USED": {"This login is already complete",
		"An API key was already issued for this code. If you did not complete it yourself, delete the key named after the device in your API keys."},
	"RATE_LIMITED": {"Too many requests",
		"Wait a moment, then reload this page."},
}

// cliPageError answers a page that cannot show the form. A browser gets an
// HTML page with the error's status; a client that asks for JSON only gets
// the usual error envelope.
func (a *API) cliPageError(rc *fasthttp.RequestCtx, err error) error {
	if !acceptsHTML(rc) {
		return err
	}
	// The adapter's mapping, log line and headers; only the body is the
	// page's.
	e := reportError(rc, a.Log, err)
	answerHeaders(rc, e)
	d := cliPageData{Title: "Something went wrong", Message: e.Message}
	if h, ok := cliPageHints[e.Code]; ok {
		d.Title, d.Hint = h.title, h.hint
	}
	return a.renderCLIPage(rc, e.Status, d)
}

// acceptsHTML is false only for a client that names JSON and not HTML in
// Accept; browsers always name HTML when they navigate.
func acceptsHTML(rc *fasthttp.RequestCtx) bool {
	accept := strings.ToLower(string(rc.Request.Header.Peek(fasthttp.HeaderAccept)))
	return !strings.Contains(accept, "application/json") || strings.Contains(accept, "text/html")
}

func (a *API) renderCLIPage(rc *fasthttp.RequestCtx, status int, d cliPageData) error {
	d.Script, d.Style, d.Icon = assetRef("cli.js"), assetRef("cli.css"), assetRef("icon.svg")
	var b bytes.Buffer
	if err := cliTemplate.Execute(&b, d); err != nil {
		return err // only a broken template fails; the adapter answers 500
	}
	h := &rc.Response.Header
	h.Set("Content-Security-Policy", cliPageCSP)
	h.Set("X-Frame-Options", "DENY")
	// The page carries a live login code: never stored, never sent on as a
	// referrer, never sniffed as anything but HTML.
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	rc.SetContentType("text/html; charset=utf-8")
	rc.SetStatusCode(status)
	rc.SetBody(b.Bytes())
	return nil
}

// cliAsset serves the page's script and style. A request for the current
// version (the ?v= the page links) may be cached for good; any other only
// after revalidation, so that an upgrade is never masked by a stale copy.
func (a *API) cliAsset(rc *fasthttp.RequestCtx) {
	answerRequestID(rc)
	name, _ := rc.UserValue("name").(string)
	asset, ok := cliAssets[name]
	if !ok {
		writeError(rc, a.Log, errNotFound)
		return
	}
	h := &rc.Response.Header
	h.Set("X-Content-Type-Options", "nosniff")
	// An asset opened as a document (the SVG icon can be) runs nothing.
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("ETag", `"`+asset.version+`"`)
	if string(rc.QueryArgs().Peek("v")) == asset.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if string(rc.Request.Header.Peek(fasthttp.HeaderIfNoneMatch)) == `"`+asset.version+`"` {
		rc.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	rc.SetContentType(asset.contentType)
	rc.SetBody(asset.body)
}
