package proxy

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
)

func TestNewUpstream(t *testing.T) {
	tests := []struct {
		raw, host, prefix string
		tls               bool
		bad               bool
	}{
		{raw: "http://127.0.0.1:8080", host: "127.0.0.1:8080"},
		{raw: "http://app.internal", host: "app.internal:80"},
		{raw: "https://app.internal", host: "app.internal:443", tls: true},
		{raw: "http://[::1]:9000/", host: "[::1]:9000"},
		{raw: "http://h:1/base/", host: "h:1", prefix: "/base"},
		{raw: "http://h:1/a/%62/../c", host: "h:1", prefix: "/a/c"},
		{raw: "ftp://h", bad: true},
		{raw: "http://", bad: true},
		{raw: "http://u:p@h", bad: true},
		{raw: "http://h/?q=1", bad: true},
		{raw: "http://h/#f", bad: true},
		{raw: "http://h/a/%2F", bad: true},
		{raw: "127.0.0.1:8080", bad: true},
	}
	for _, tc := range tests {
		up, err := newUpstream(tc.raw, Options{Timeout: DefaultTimeout})
		if tc.bad {
			if err == nil {
				t.Errorf("%s: accepted", tc.raw)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if up.host != tc.host || up.prefix != tc.prefix || (up.scheme == "https") != tc.tls || up.client.Addr != tc.host {
			t.Errorf("%s: host %q prefix %q scheme %v", tc.raw, up.host, up.prefix, up.scheme)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("no resolver accepted")
	}
	if _, err := New(Options{Resolver: authn.NewResolver(), Upstream: "gopher://x"}); err == nil {
		t.Error("bad upstream accepted")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestUpstreamErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{fasthttp.ErrTimeout, ErrUpstreamTimeout},
		{fasthttp.ErrDialTimeout, ErrUpstreamTimeout},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), ErrUpstreamTimeout},
		{timeoutErr{}, ErrUpstreamTimeout},
		{errors.New("connection refused"), ErrUpstreamUnavailable},
		{fasthttp.ErrConnectionClosed, ErrUpstreamUnavailable},
	} {
		if got := upstreamError(tc.err); !errors.Is(got, tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("%v: %v, want %v", tc.err, got, tc.want)
		}
	}
}
