// Package client is the command-line client of the Authentication API:
// the login, whoami and logout commands of zectre-auth, the credentials
// file they share, the browser launcher and the wait indicator of login.
// It talks to a zectre API over HTTP only and imports nothing of the
// service, so that what it relies on is the documented API alone.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// defaultAPIURL is where `make run` serves the API.
	defaultAPIURL = "http://localhost:47080"
	// clientTimeout bounds every request of the CLI commands, so that a
	// server that accepts and never answers cannot hang them.
	clientTimeout = 10 * time.Second
	// maxAnswer bounds what the CLI reads of an answer.
	maxAnswer    = 1 << 20
	maxRedirects = 5
)

// apiUser is the user object of the Authentication API.
type apiUser struct {
	ID        string  `json:"id"`
	Email     string  `json:"email"`
	Name      *string `json:"name"`
	IsAdmin   bool    `json:"is_admin"`
	CreatedAt string  `json:"created_at"`
}

// apiError is an answer outside 2xx, with the error envelope's code and
// message when the server sent one.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // from Retry-After; zero when absent
}

func (e *apiError) Error() string {
	switch {
	case e.Code != "" && e.Message != "":
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	case e.Code != "":
		return fmt.Sprintf("%d %s", e.Status, e.Code)
	default:
		return fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
}

// unreachableError is a request that got no HTTP answer at all.
type unreachableError struct {
	Base string
	Err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %v", e.Base, e.Err)
}

func (e *unreachableError) Unwrap() error { return e.Err }

// apiClient talks to one zectre API base URL.
type apiClient struct {
	base      string
	userAgent string
	http      *http.Client
}

// newAPIClient is a client of base that names itself as zectre-auth of the
// given version.
func newAPIClient(base, version string) *apiClient {
	return &apiClient{base: base, userAgent: "zectre-auth/" + version, http: &http.Client{
		Timeout:       clientTimeout,
		CheckRedirect: sameOrigin,
	}}
}

// sameOrigin follows redirects only within the API's own scheme and host.
// The key travels in X-API-Key, which net/http, unlike Authorization, would
// carry to any host a redirect names.
func sameOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errors.New("too many redirects")
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return fmt.Errorf("refusing a redirect to %s://%s", req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// do sends a request (body as JSON unless nil, key as X-API-Key unless
// empty) and decodes a 2xx answer into out unless out is nil. It returns
// the answer's headers, also with an error.
func (c *apiClient) do(ctx context.Context, method, path, key string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &unreachableError{Base: c.base, Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return resp.Header, &unreachableError{Base: c.base, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, errorFromAnswer(resp, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: the answer is not the expected JSON (is %s a zectre API?)", method, path, c.base)
		}
	}
	return resp.Header, nil
}

// unwrapURLError drops url.Error's "Post \"http://…\":" prefix, which
// repeats what the caller's message already says.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("no answer within %s", clientTimeout)
		}
		return ue.Err
	}
	return err
}

func errorFromAnswer(resp *http.Response, raw []byte) *apiError {
	e := &apiError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil {
		e.Code, e.Message = env.Error.Code, env.Error.Message
	}
	return e
}

// retryAfter reads Retry-After in either of its forms (seconds or an HTTP
// date); anything else is zero.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// apiBase picks the API base URL: the --api flag, else ZECTRE_API_URL, else
// fallback (the URL stored with the credentials), else defaultAPIURL.
func apiBase(flagValue string, getenv func(string) string, fallback string) (string, error) {
	source, raw := "--api", flagValue
	if raw == "" {
		source, raw = "ZECTRE_API_URL", getenv("ZECTRE_API_URL")
	}
	if raw == "" {
		source, raw = "the credentials file's api_url", fallback
	}
	if raw == "" {
		return defaultAPIURL, nil
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s: %q is not an http(s) URL", source, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s: %q must be a base URL, without user, query or fragment", source, raw)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// plaintextWarning names the risk of sending a key over plain HTTP to
// anything but this machine; empty when there is none.
func plaintextWarning(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return ""
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return ""
	}
	return fmt.Sprintf("warning: %s is not HTTPS; the API key crosses the network unencrypted", base)
}
