package proxy

import (
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
)

// HeaderAPIKey is the header an API key is presented in.
const HeaderAPIKey = "X-API-Key"

// maxCredentialLines bounds the credential lines of one request that are
// verified; a request with more is refused as ambiguous.
const maxCredentialLines = 4

var errAmbiguousLines = fmt.Errorf("%w: a credential header in a look-alike spelling, or more than %d credential lines",
	authn.ErrAmbiguousCredentials, maxCredentialLines)

// maxOverrides bounds the method-override values a request is decided for.
const maxOverrides = 4

// methodOverrides are the headers Symfony, Laravel, ASP.NET and Express
// (method-override) read as the method to act on instead of the request's.
var methodOverrides = [...]string{"x-http-method-override", "x-http-method", "x-method-override"}

// lines is what one pass over a request's header lines finds that the
// decision depends on: every credential line, and every method-override
// value. The strings alias the header's memory (or scratch) and live as long
// as the request, until the header is modified.
type lines struct {
	creds     [maxCredentialLines]authn.Credentials
	nCreds    int
	ambiguous bool // a credential header in a look-alike spelling, or too many lines
	overrides [maxOverrides]string
	nOverride int
	originals [len(originalHeaders)]uint8 // lines of each header naming the original request
}

// interesting are the lengths of the names add looks for: the credential
// headers, the method overrides and the original-request headers, all of
// which start with "a" or "x".
var interesting = func() (t [32]bool) {
	names := []string{fasthttp.HeaderAuthorization, HeaderAPIKey}
	names = append(names, methodOverrides[:]...)
	names = append(names, originalHeaders[:]...)
	for _, n := range names {
		t[len(n)] = true
	}
	return t
}()

// originalHeaders name the request an ingress asks forward-auth about.
var originalHeaders = [...]string{HeaderForwardedURI, HeaderOriginalURI, HeaderForwardedMethod, HeaderOriginalMethod}

// repeatedOriginal reports a header naming the original request in more
// than one line.
func (l *lines) repeatedOriginal() bool {
	for _, n := range l.originals {
		if n > 1 {
			return true
		}
	}
	return false
}

// credentials are the credentials the request presents, one per line.
func (l *lines) credentials() []authn.Credentials { return l.creds[:l.nCreds] }

// add records one header line. Empty credential lines present nothing.
func (l *lines) add(k, v []byte) {
	// Most lines are none of these: tell by the first letter and the
	// length before comparing names.
	if len(k) >= len(interesting) || !interesting[len(k)] || (k[0]|0x20 != 'a' && k[0]|0x20 != 'x') {
		return
	}
	switch credentialHeader(k) {
	case credNone:
	case credLookalike:
		l.ambiguous = true
		return
	case credAuthorization, credAPIKey:
		if len(v) == 0 {
			return
		}
		if l.nCreds == len(l.creds) {
			l.ambiguous = true
			return
		}
		c := &l.creds[l.nCreds]
		if credentialHeader(k) == credAuthorization {
			*c = authn.Credentials{Authorization: bytesString(v)}
		} else {
			*c = authn.Credentials{APIKey: bytesString(v)}
		}
		l.nCreds++
		return
	}
	if isMethodOverride(k) && l.nOverride < len(l.overrides) {
		l.overrides[l.nOverride] = bytesString(v)
		l.nOverride++
		return
	}
	for i, name := range originalHeaders {
		if len(k) == len(name) && foldEqual(k, name) && l.originals[i] < 2 {
			l.originals[i]++
		}
	}
}

// scanLines reads every header line of h into l. fasthttp keeps repeated
// lines apart, so each is seen.
func scanLines(h *fasthttp.RequestHeader, l *lines) {
	for k, v := range h.All() {
		l.add(k, v)
	}
}

type credKind uint8

const (
	credNone credKind = iota
	credAuthorization
	credAPIKey
	credLookalike // reads as one of the above with "_" or "." for "-"
)

// credentialHeader tells whether name is a credential header, in its own
// spelling (any case) or in a look-alike one.
func credentialHeader(name []byte) credKind {
	var kind credKind
	switch {
	case foldEqual(name, fasthttp.HeaderAuthorization):
		kind = credAuthorization
	case foldEqual(name, HeaderAPIKey):
		kind = credAPIKey
	default:
		return credNone
	}
	if hasSeparatorLookalike(name) {
		return credLookalike
	}
	return kind
}

// isMethodOverride reports a method-override header in any spelling.
func isMethodOverride(name []byte) bool {
	for _, o := range methodOverrides {
		if foldEqual(name, o) {
			return true
		}
	}
	return false
}

func hasSeparatorLookalike(name []byte) bool {
	for _, c := range name {
		if c == '_' || c == '.' {
			return true
		}
	}
	return false
}

// Presented returns the credentials a request presents, one per header
// line, for the service's own routes (the Authentication API), which read
// them as the edge does. A credential header in a look-alike spelling, or
// more than a few credential lines, is authn.ErrAmbiguousCredentials.
func Presented(h *fasthttp.RequestHeader) ([]authn.Credentials, error) {
	var l lines
	scanLines(h, &l)
	if l.ambiguous {
		return nil, errAmbiguousLines
	}
	out := make([]authn.Credentials, 0, l.nCreds)
	for _, c := range l.credentials() {
		// Copies: the API keeps them past the header's reuse in places.
		out = append(out, authn.Credentials{Authorization: strings.Clone(c.Authorization), APIKey: strings.Clone(c.APIKey)})
	}
	return out, nil
}
