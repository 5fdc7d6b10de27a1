package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// client sends the examples' requests to one running instance.
type client struct {
	base string
	http *http.Client
}

func newClient(base string, timeout time.Duration) *client {
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{
		Timeout: timeout,
		// The API never redirects (docs/auth-api.md); following one would
		// hide an answer that breaks that promise.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is one answer. err is set when there was no HTTP answer at all.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   any // the decoded JSON body; nil when empty or not JSON
	json   bool
	// now is the server's clock when it answered (its Date header, else
	// this machine's), so that expiry checks do not depend on two clocks.
	now time.Time
	err error
}

// do sends method path with body (JSON, sent with its Content-Type; none
// when empty) and the header name/value pairs.
func (c *client) do(method, path, body string, headers ...string) response {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return response{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return response{err: fmt.Errorf("reading the answer: %w", err)}
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw, now: time.Now().UTC()}
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		r.now = t.UTC()
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		r.json = json.Unmarshal(raw, &r.body) == nil
	}
	return r
}

// object is the answer's body as a JSON object (nil if it is not one).
func (r response) object() map[string]any {
	m, _ := r.body.(map[string]any)
	return m
}

// snippet is the start of the body, for a failure line.
func (r response) snippet() string {
	const n = 300
	s := string(r.raw)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
