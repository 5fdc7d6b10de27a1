package handlers

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/proxy"
	"github.com/zectre/zectre-auth/secretscan"
	"github.com/zectre/zectre-auth/store"
)

// Error is an error the client sees: an HTTP status, a stable code and a
// sentence. Err, if set, is logged and never sent.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // sent as Retry-After when positive
	Err        error
	quiet      bool // an expected answer, not a fault: never logged
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func newError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// wrap is e's answer for a cause of err, which is logged and never sent.
func (e *Error) wrap(err error) *Error {
	return &Error{Status: e.Status, Code: e.Code, Message: e.Message, RetryAfter: e.RetryAfter, Err: err}
}

// Errors the handlers answer with directly.
var (
	errInvalidJSON     = newError(400, "INVALID_JSON", "The request body must be a JSON object with fields of the documented types.")
	errInvalidEmail    = newError(400, "INVALID_EMAIL", "The email address is not valid.")
	errWeakPassword    = newError(400, "WEAK_PASSWORD", "The password must be at least 8 characters long.")
	errInvalidCreds    = newError(401, "INVALID_CREDENTIALS", "The email or password is wrong.")
	errAccountDisabled = newError(403, "ACCOUNT_DISABLED", "This account is disabled.")
	errInvalidCode     = newError(404, "INVALID_CODE", "This CLI login code does not exist.")
	errCodeExpired     = newError(410, "CODE_EXPIRED", "This CLI login code has expired; start the login again.")
	errSessionUsed     = newError(409, "SESSION_USED", "This CLI login was already completed.")
	errNotFound        = newError(404, "NOT_FOUND", "Nothing is here.")
	errMethod          = newError(405, "METHOD_NOT_ALLOWED", "This method is not allowed on this path.")
	errTooLarge        = newError(413, "PAYLOAD_TOO_LARGE", "The request body is larger than 1 MiB.")
	errBadRequest      = newError(400, "BAD_REQUEST", "The request could not be read.")
	errHeaderTooLarge  = newError(431, "HEADERS_TOO_LARGE", "The request headers are too large.")
	errTimeout         = newError(408, "REQUEST_TIMEOUT", "The request was not received in time.")
	// Whatever went wrong on this side: the client learns nothing more.
	errInternal = newError(500, "INTERNAL", "Something went wrong on our side.")
	// The answers of /readyz while the service is not ready: expected
	// answers to a prober, not faults of a request, so they are not logged
	// (one line per probe would drown the log).
	errDraining = &Error{Status: 503, Code: "SERVICE_UNAVAILABLE", Message: "The service is shutting down.", quiet: true}
	errNotReady = &Error{Status: 503, Code: "SERVICE_UNAVAILABLE", Message: "The database is unreachable.", quiet: true}
	// A body of another type than JSON (see checkJSONType).
	errUnsupportedMediaType = newError(415, "UNSUPPORTED_MEDIA_TYPE",
		"Send the body as JSON with Content-Type: application/json (curl -d sends a form type; add -H 'Content-Type: application/json').")
)

// tooLarge is the 413 of a body over limit bytes.
func tooLarge(limit int) *Error {
	if limit == MaxBodySize {
		return errTooLarge
	}
	return newError(413, errTooLarge.Code, "The request body is larger than "+byteSize(limit)+".")
}

// byteSize writes n bytes the way the documents do: "1 MiB", "64 KiB",
// "1000 bytes".
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " bytes"
}

func validationError(msg string) *Error {
	return newError(400, "VALIDATION_ERROR", msg)
}

// ErrorCode is the error code a client is answered for err, for the audit
// writer (audit.New), which names it in the lines of refused attempts.
func ErrorCode(err error) string { return toError(err).Code }

// toError maps any error to what the client sees. It is the one place where
// errors of authn and store become HTTP statuses.
func toError(err error) *Error {
	var e *Error
	var rl *authn.RateLimitedError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &rl):
		return &Error{Status: 429, Code: "RATE_LIMITED", Message: "Too many attempts; try again later.", RetryAfter: rl.RetryAfter, Err: err}
	case errors.Is(err, authn.ErrBusy):
		return &Error{Status: 429, Code: "RATE_LIMITED", Message: "The service is busy; try again shortly.", RetryAfter: time.Second, Err: err}
	case errors.Is(err, authn.ErrNoCredential):
		return &Error{Status: 401, Code: "UNAUTHORIZED", Message: "This route needs a bearer token or an API key.", Err: err}
	case errors.Is(err, authn.ErrInvalidToken):
		return &Error{Status: 401, Code: "INVALID_TOKEN", Message: "The bearer token is invalid or expired.", Err: err}
	case errors.Is(err, authn.ErrInvalidKey):
		return &Error{Status: 401, Code: "INVALID_API_KEY", Message: "The API key is invalid, revoked or expired.", Err: err}
	case errors.Is(err, authn.ErrAmbiguousCredentials):
		return &Error{Status: 400, Code: "AMBIGUOUS_CREDENTIALS", Message: "The request presents more than one credential, or one in an unusual header spelling; send exactly one Authorization: Bearer or X-API-Key line.", Err: err}
	case errors.Is(err, authn.ErrInsufficientScope):
		return &Error{Status: 403, Code: "INSUFFICIENT_SCOPE", Message: "The API key lacks a scope this route needs.", Err: err}
	case errors.Is(err, authn.ErrSubjectConflict):
		return &Error{Status: 409, Code: "EMAIL_EXISTS", Message: "A local account already uses this token's email; a catalog account is never joined to it by email.", Err: err}
	case errors.Is(err, store.ErrSessionUsed):
		return errSessionUsed.wrap(err)
	case errors.Is(err, store.ErrSessionExpired):
		return errCodeExpired.wrap(err)
	case errors.Is(err, store.ErrEmailExists):
		return &Error{Status: 409, Code: "EMAIL_EXISTS", Message: "This email is already registered.", Err: err}
	case errors.Is(err, secretscan.ErrSignature):
		return &Error{Status: 401, Code: "INVALID_SIGNATURE", Message: "The report's signature does not verify with a known key.", Err: err}
	case errors.Is(err, secretscan.ErrFetch):
		return &Error{Status: 503, Code: "SERVICE_UNAVAILABLE", Message: "The keys that sign reports cannot be fetched; try again shortly.", Err: err}
	case errors.Is(err, store.ErrUnavailable):
		return &Error{Status: 503, Code: "SERVICE_UNAVAILABLE", Message: "A backing store is unavailable; try again shortly.", Err: err}
	case errors.Is(err, proxy.ErrBadPath):
		return &Error{Status: 400, Code: "INVALID_PATH", Message: "The request path cannot be normalised safely.", Err: err}
	case errors.Is(err, proxy.ErrAmbiguousOriginal):
		return &Error{Status: 400, Code: "AMBIGUOUS_ORIGINAL", Message: "The original request is named twice (X-Forwarded-Uri and X-Original-URI disagree, or one comes in several lines); the ingress must set one and remove any the client sent.", Err: err}
	case errors.Is(err, proxy.ErrBadMethod):
		return &Error{Status: 400, Code: "INVALID_METHOD", Message: "The method must be an uppercase token such as GET or POST.", Err: err}
	case errors.Is(err, proxy.ErrHTTPVersion):
		return &Error{Status: 505, Code: "HTTP_VERSION_NOT_SUPPORTED", Message: "Only HTTP/1.1 and HTTP/1.0 are served.", Err: err}
	case errors.Is(err, proxy.ErrBodyTooLarge):
		return &Error{Status: 413, Code: errTooLarge.Code, Message: "The request body is larger than this service forwards.", Err: err}
	case errors.Is(err, proxy.ErrClientBody):
		return &Error{Status: 400, Code: errBadRequest.Code, Message: "The request body could not be read.", Err: err}
	case errors.Is(err, proxy.ErrNoUpstream):
		return &Error{Status: 404, Code: errNotFound.Code, Message: errNotFound.Message, Err: err}
	case errors.Is(err, proxy.ErrTooManyTunnels):
		return &Error{Status: 503, Code: "SERVICE_UNAVAILABLE", Message: "Too many WebSocket connections are open; try again shortly.", Err: err}
	case errors.Is(err, proxy.ErrUpstreamTimeout):
		return &Error{Status: 504, Code: "UPSTREAM_TIMEOUT", Message: "The upstream did not answer in time.", Err: err}
	case errors.Is(err, proxy.ErrUpstreamUnavailable):
		return &Error{Status: 502, Code: "UPSTREAM_UNAVAILABLE", Message: "The upstream is unavailable.", Err: err}
	default:
		return errInternal.wrap(err)
	}
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// envelope is the JSON body of the answer e.
func envelope(e *Error) errorBody {
	var body errorBody
	body.Error.Code, body.Error.Message = e.Code, e.Message
	return body
}

// writeError answers with the error envelope. Server faults are logged in
// full; the client sees only the code and sentence.
func writeError(rc *fasthttp.RequestCtx, log *slog.Logger, err error) {
	e := reportError(rc, log, err)
	answerHeaders(rc, e)
	writeJSON(rc, e.Status, envelope(e))
}

// reportError is where every error answer starts, the envelope and the CLI
// page's alike: it maps err to what the client sees and logs a server
// fault in full.
func reportError(rc *fasthttp.RequestCtx, log *slog.Logger, err error) *Error {
	answerRequestID(rc) // before the log line, which names it
	e := toError(err)
	if e.Status >= 500 && e.Status != fasthttp.StatusHTTPVersionNotSupported && !e.quiet { // a 505 is the client's
		log.Error("request failed", "status", e.Status, "method", string(rc.Method()), "path", string(rc.Path()),
			"request_id", requestID(rc), "err", err)
	}
	return e
}

// answerHeaders sets the headers an error answer of e carries, whatever
// its body.
func answerHeaders(rc *fasthttp.RequestCtx, e *Error) {
	if e.Status == fasthttp.StatusRequestEntityTooLarge {
		// The body was not read to its end: the client learns that the
		// connection ends here, instead of sending the rest into it.
		rc.SetConnectionClose()
	}
	if e.Status == fasthttp.StatusUnauthorized {
		rc.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, wwwAuthenticate)
	}
	if e.RetryAfter > 0 {
		rc.Response.Header.Set(fasthttp.HeaderRetryAfter, retryAfter(e))
	}
}

// wwwAuthenticate is the challenge of every 401.
const wwwAuthenticate = `Bearer realm="zectre"`

// retryAfter is e's Retry-After value in whole seconds, at least 1.
func retryAfter(e *Error) string {
	secs := int64(math.Ceil(e.RetryAfter.Seconds()))
	return strconv.FormatInt(max(secs, 1), 10)
}

// Answer is an error as a client sees it when the answer is not written
// by this server's HTTP handlers (Envoy's ext_authz writes it for the
// service): the status, the JSON error envelope and the headers an error
// answer carries, as writeError would send them.
type Answer struct {
	Status int
	Body   []byte
	Header [][2]string // canonical names
	// Fault: a server fault, which the caller logs in full (Err).
	Fault bool
	Err   error
}

// ErrorAnswer maps err to its Answer, by the same mapping as every HTTP
// answer (toError).
func ErrorAnswer(err error) Answer {
	e := toError(err)
	body, jerr := json.Marshal(envelope(e))
	if jerr != nil { // a struct of two strings always marshals
		body = []byte(`{"error":{"code":"INTERNAL","message":"Something went wrong on our side."}}`)
	}
	a := Answer{Status: e.Status, Body: body, Fault: e.Status >= 500 && !e.quiet, Err: err,
		Header: [][2]string{{fasthttp.HeaderContentType, "application/json"}}}
	if e.Status == fasthttp.StatusUnauthorized {
		a.Header = append(a.Header, [2]string{fasthttp.HeaderWWWAuthenticate, wwwAuthenticate})
	}
	if e.RetryAfter > 0 {
		a.Header = append(a.Header, [2]string{fasthttp.HeaderRetryAfter, retryAfter(e)})
	}
	return a
}

// requestID is the request id of rc for log lines: the one answered with
// (answerRequestID), else the client's (at most 128 bytes; the JSON log
// escapes it).
func requestID(rc *fasthttp.RequestCtx) string {
	id := rc.Response.Header.Peek("X-Request-Id")
	if len(id) == 0 {
		id = rc.Request.Header.Peek("X-Request-Id")
	}
	return string(id[:min(len(id), 128)])
}
