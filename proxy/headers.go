package proxy

import (
	"bytes"
	"strings"
	"unsafe"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
)

// The identity headers the edge attaches (proxy mode: to the upstream
// request; forward-auth: to the 200 answer). No client-sent header that
// reads like one of these, in any spelling, ever passes.
const (
	HeaderUserID     = "X-Zectre-User-Id"
	HeaderUserEmail  = "X-Zectre-User-Email"
	HeaderUserAdmin  = "X-Zectre-User-Admin"
	HeaderAuthMethod = "X-Zectre-Auth-Method"
	HeaderAPIKeyID   = "X-Zectre-Api-Key-Id"
	HeaderScopes     = "X-Zectre-Scopes"
	HeaderRequestID  = "X-Request-Id"
)

// Forwarding headers: set towards the upstream, and read from trusted peers.
const (
	HeaderForwardedFor    = "X-Forwarded-For"
	HeaderForwardedProto  = "X-Forwarded-Proto"
	HeaderForwardedHost   = "X-Forwarded-Host"
	HeaderForwardedMethod = "X-Forwarded-Method"
	HeaderForwardedURI    = "X-Forwarded-Uri"
	HeaderOriginalMethod  = "X-Original-Method"
	HeaderOriginalURI     = "X-Original-Uri"
)

// hopByHop are the headers of one connection (RFC 9110 §7.6.1, plus the
// de-facto ones httputil.ReverseProxy also drops). Expect is answered by
// this server (100 Continue) and so is not passed on either.
var hopByHop = [...]string{
	fasthttp.HeaderConnection, "Keep-Alive", "Proxy-Connection", fasthttp.HeaderProxyAuthenticate,
	fasthttp.HeaderProxyAuthorization, fasthttp.HeaderTE, fasthttp.HeaderTrailer,
	fasthttp.HeaderTransferEncoding, fasthttp.HeaderUpgrade, fasthttp.HeaderExpect,
}

// scratch is per-request working memory for header rewriting, pooled with
// the upstream request so that the hot path does not allocate.
type scratch struct {
	names   []byte // header names to delete, each followed by a 0 byte
	cookies []byte // raw Cookie values, each followed by a 0 byte
	val     []byte
	path    []byte // a normalised path that forward-auth decides on
	id      []byte // the request id
	methods []byte // uppercased override methods, back to back
	cred    []byte // the verified credential line passed on (proxy mode)
}

// takeCookies keeps the client's Cookie lines raw in s, before anything
// iterates the header: All() parses them and yields them re-serialised,
// silently dropping values fasthttp considers invalid. buildRequest puts
// them back byte for byte.
func takeCookies(src *fasthttp.RequestHeader, s *scratch) {
	s.cookies = s.cookies[:0]
	for _, v := range src.PeekAll(fasthttp.HeaderCookie) {
		s.cookies = append(append(s.cookies, v...), 0)
	}
}

// buildRequest writes into dst, an empty header, what of the client's
// header src may pass to the upstream, line by line in the order the client
// sent them (deleting from a copy would reorder repeated lines, and an
// upstream that joins them, X-Forwarded-For first, would read another
// list). Left out, before anything trusted is set:
//   - every header the client names in Connection (such headers were meant
//     for this proxy: a credential named there was decided on and is not
//     passed on; and nothing set later can be dropped at the client's
//     request);
//   - the hop-by-hop headers, Host (set by the caller) and Content-Length
//     (the body's framing is the caller's);
//   - every header that reads as an identity, a credential, a method
//     override, a look-alike of a header this proxy manages or, from an
//     untrusted peer, a forwarding claim (dropRequestHeader).
//
// Then the one credential line that was verified (cred; none when empty)
// is added in its canonical spelling, and the Cookie lines as they came
// (takeCookies).
func buildRequest(dst, src *fasthttp.RequestHeader, trusted bool, cred authn.Credentials, s *scratch) {
	dst.SetMethodBytes(src.Method())
	s.names = s.names[:0]
	for _, v := range src.PeekAll(fasthttp.HeaderConnection) {
		s.names = appendConnectionTokens(s.names, v)
	}
	for k, v := range src.All() {
		if foldEqual(k, fasthttp.HeaderCookie) || foldEqual(k, fasthttp.HeaderHost) ||
			foldEqual(k, fasthttp.HeaderContentLength) || isHopByHop(k) ||
			namesHeader(s.names, bytesString(k)) || dropRequestHeader(k, trusted) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
	switch {
	case cred.Authorization != "" && !namesHeader(s.names, fasthttp.HeaderAuthorization):
		dst.SetCanonical(keyAuthorization, s2b(cred.Authorization))
	case cred.APIKey != "" && !namesHeader(s.names, HeaderAPIKey):
		dst.SetCanonical(keyAPIKey, s2b(cred.APIKey))
	}
	if len(s.cookies) > 0 && !namesHeader(s.names, fasthttp.HeaderCookie) {
		// With special headers off, Add stores the line as it is.
		dst.DisableSpecialHeader()
		for rest := s.cookies; len(rest) > 0; {
			k := bytes.IndexByte(rest, 0)
			dst.AddBytesV(fasthttp.HeaderCookie, rest[:k])
			rest = rest[k+1:]
		}
		dst.EnableSpecialHeader()
	}
}

func isHopByHop(name []byte) bool {
	for _, h := range hopByHop {
		if foldEqual(name, h) {
			return true
		}
	}
	return false
}

// namesHeader reports whether the 0-terminated names hold name (in any case).
func namesHeader(names []byte, name string) bool {
	for len(names) > 0 {
		k := bytes.IndexByte(names, 0)
		if strings.EqualFold(bytesString(names[:k]), name) {
			return true
		}
		names = names[k+1:]
	}
	return false
}

// appendConnectionTokens appends the header names listed in one Connection
// value, 0-terminated. "close" and "keep-alive" are options, not names.
func appendConnectionTokens(dst, v []byte) []byte {
	for len(v) > 0 {
		k := bytes.IndexByte(v, ',')
		if k < 0 {
			k = len(v)
		}
		tok := bytes.TrimSpace(v[:k])
		if len(tok) > 0 && !foldEqual(tok, "close") && !foldEqual(tok, "keep-alive") {
			dst = append(append(dst, tok...), 0)
		}
		if k == len(v) {
			break
		}
		v = v[k+1:]
	}
	return dst
}

func deleteNames(h *fasthttp.RequestHeader, names []byte) {
	for len(names) > 0 {
		k := bytes.IndexByte(names, 0)
		h.DelBytes(names[:k])
		names = names[k+1:]
	}
}

// dropRequestHeader decides for one client header name (after the
// Connection and hop-by-hop removal) whether it must not reach the upstream.
func dropRequestHeader(name []byte, trusted bool) bool {
	if !isToken(name) {
		return true // no valid header name; upstreams parse such lines differently
	}
	// Some upstream frameworks fold "_" and "." into "-" (CGI-style
	// environments, several Python and PHP stacks), so every spelling of
	// an identity header is an identity claim.
	if foldHasPrefix(name, "x-zectre-") {
		return true
	}
	// Credentials: only the verified line passes, put back by
	// buildRequest. Method overrides: the upstream acts on the method
	// that was decided.
	if credentialHeader(name) != credNone || isMethodOverride(name) {
		return true
	}
	forwarding := foldHasPrefix(name, "x-forwarded-") || foldEqual(name, "forwarded") ||
		foldEqual(name, "x-real-ip") || foldHasPrefix(name, "x-original-") ||
		foldEqual(name, "x-rewrite-url")
	if forwarding && !trusted {
		// Forged client addresses, schemes and hosts; X-Original-URL and
		// X-Rewrite-URL also override the path in some frameworks.
		return true
	}
	// A look-alike spelling of a header this proxy manages would sit next
	// to the real one and win in a folding upstream: Transfer_Encoding
	// beside the real framing frames the body differently there.
	if hasSeparatorLookalike(name) && (forwarding || isManaged(name)) {
		return true
	}
	return false
}

// managed are the headers whose meaning this proxy decides or sets: the
// framing and connection headers, the Host, the body's type, cookies and
// the request id. Their look-alike spellings never pass.
var managed = [...]string{
	"content-length", "transfer-encoding", "host", "connection", "keep-alive",
	"proxy-connection", "te", "trailer", "upgrade", "expect", "content-type",
	"cookie", "x-request-id", "proxy-authorization", "proxy-authenticate",
}

func isManaged(name []byte) bool {
	for _, m := range managed {
		if foldEqual(name, m) {
			return true
		}
	}
	return false
}

// stripResponse removes hop-by-hop headers, and those the upstream names in
// its Connection header, from an upstream response header.
func stripResponse(h *fasthttp.ResponseHeader, s *scratch) {
	s.names = s.names[:0]
	for _, v := range h.PeekAll(fasthttp.HeaderConnection) {
		s.names = appendConnectionTokens(s.names, v)
	}
	for names := s.names; len(names) > 0; {
		k := bytes.IndexByte(names, 0)
		h.DelBytes(names[:k])
		names = names[k+1:]
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// headerSetter is what identity headers are written to: the upstream
// request's header or the forward-auth response's. SetCanonical skips the
// name normalisation Set does on every call: the names are constants.
type headerSetter interface {
	SetCanonical(key, value []byte)
}

// The identity header names as bytes, in canonical form.
var (
	keyUserID     = []byte(HeaderUserID)
	keyUserEmail  = []byte(HeaderUserEmail)
	keyUserAdmin  = []byte(HeaderUserAdmin)
	keyAuthMethod = []byte(HeaderAuthMethod)
	keyAPIKeyID   = []byte(HeaderAPIKeyID)
	keyScopes     = []byte(HeaderScopes)

	keyAuthorization = []byte(fasthttp.HeaderAuthorization)
	keyAPIKey        = []byte("X-Api-Key") // HeaderAPIKey in canonical form

	valueTrue  = []byte("true")
	valueFalse = []byte("false")
)

// setIdentity attaches the trusted identity of u (nil: anonymous). With
// every set, each identity header is present, empty where it does not
// apply (the forward-auth answer); otherwise absent ones are left out.
func setIdentity(h headerSetter, u *authn.AuthUser, s *scratch, every bool) {
	if u == nil {
		if every {
			for _, k := range [...][]byte{keyUserID, keyUserEmail, keyUserAdmin, keyAuthMethod, keyAPIKeyID, keyScopes} {
				h.SetCanonical(k, nil)
			}
		}
		return
	}
	h.SetCanonical(keyUserID, s2b(u.ID))
	h.SetCanonical(keyUserEmail, s2b(u.Email))
	if u.IsAdmin {
		h.SetCanonical(keyUserAdmin, valueTrue)
	} else {
		h.SetCanonical(keyUserAdmin, valueFalse)
	}
	h.SetCanonical(keyAuthMethod, s2b(string(u.Method)))
	if u.APIKeyID != "" || every {
		h.SetCanonical(keyAPIKeyID, s2b(u.APIKeyID))
	}
	s.val = s.val[:0]
	for i, sc := range u.Scopes {
		if i > 0 {
			s.val = append(s.val, ',')
		}
		s.val = append(s.val, sc...)
	}
	h.SetCanonical(keyScopes, s.val)
}

// s2b views a string as bytes without copying. SetCanonical copies the
// value into the header, so the view never outlives the call and is never
// written to.
func s2b(v string) []byte { return unsafe.Slice(unsafe.StringData(v), len(v)) }

// requestID is the client's X-Request-Id when well-formed, else a new one,
// kept in s.id.
func requestID(h *fasthttp.RequestHeader, s *scratch) []byte {
	s.id = s.id[:0]
	if v := h.Peek(HeaderRequestID); validRequestID(v) {
		s.id = append(s.id, v...)
	} else {
		s.id = appendRequestID(s.id)
	}
	return s.id
}

// isToken reports whether name is an RFC 9110 token.
func isToken(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// foldByte lowercases c and reads "_" and "." as "-".
func foldByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_' || c == '.':
		return '-'
	}
	return c
}

// foldHasPrefix compares name's start with prefix (lowercase, "-" for
// separators) case-insensitively, "_" and "." counting as "-".
func foldHasPrefix(name []byte, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if foldByte(name[i]) != foldByte(prefix[i]) {
			return false
		}
	}
	return true
}

func foldEqual(name []byte, s string) bool {
	return len(name) == len(s) && foldHasPrefix(name, s)
}
