package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zectre/zectre-auth/cache"
)

// Validate reports every problem at once, joined with errors.Join: one
// *Problem per line, "<setting>: <problem>". It touches no file or network.
// Messages never quote URL values: they may hold passwords.
func (c Config) Validate() error {
	v := validator{c: c}
	v.hostPort("listen", c.Listen)
	v.hostPort("admin_listen", c.AdminListen)
	v.sameListener()
	v.tls()
	if c.ExtAuthzListen != "" {
		v.hostPort("ext_authz_listen", c.ExtAuthzListen)
		v.samePort("ext_authz_listen", c.ExtAuthzListen, "listen", c.Listen)
		v.samePort("ext_authz_listen", c.ExtAuthzListen, "admin_listen", c.AdminListen)
	}
	v.database()
	v.redis()
	if !validRedisPrefix(c.RedisPrefix) {
		v.add("redis_prefix", "must be 1 to 64 printable ASCII characters without spaces")
	}
	v.jwtSecret()
	v.identity()
	v.httpURL("upstream", c.Upstream, true)
	if c.ShutdownDelay < 0 || c.ShutdownDelay > Duration(10*time.Minute) {
		v.add("shutdown_delay", "must be between 0s and 10m")
	}
	if c.ShutdownTimeout <= 0 || c.ShutdownTimeout > Duration(time.Hour) {
		v.add("shutdown_timeout", "must be more than 0s and at most 1h")
	}
	if c.UpstreamTimeout <= 0 || c.UpstreamTimeout > MaxUpstreamTimeout {
		v.add("upstream_timeout", "must be more than 0s and at most %s", MaxUpstreamTimeout.Std())
	}
	v.requestLimits()
	v.httpURL("dashboard_url", c.DashboardURL, true)
	v.httpURL("public_url", c.PublicURL, true)
	if c.DataDir == "" {
		v.add("data_dir", "must not be empty")
	}
	v.authMode("default_auth", c.DefaultAuth)
	for i, s := range c.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			v.add(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
	v.httpURL("auth.catalog_jwks_url", c.Auth.CatalogJWKSURL, false)
	v.httpURL("secret_scanning_keys_url", c.SecretScanningKeysURL, false)
	v.limits()
	for i, r := range c.Routes {
		v.route(i, r)
	}
	return errors.Join(v.errs...)
}

type validator struct {
	c    Config
	errs []error
}

// add records a problem against a TOML key, named as the user set it.
func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &Problem{Setting: v.c.name(key), Message: fmt.Sprintf(format, args...)})
}

// name is the env var a setting came from, else its TOML key.
func (c Config) name(key string) string {
	if n, ok := c.origin[key]; ok {
		return n
	}
	return key
}

func (v *validator) hostPort(key, s string) {
	if s == "" {
		v.add(key, "must not be empty (want host:port, e.g. \":47080\")")
		return
	}
	if _, err := splitPort(s); err != nil {
		v.add(key, "%v", err)
	}
}

// splitPort checks host:port with a numeric port, since AuthURLBase derives
// a URL from it and service names would not survive that.
func splitPort(s string) (int, error) {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not host:port (e.g. \":47080\" or \"127.0.0.1:47080\")", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("port %q must be a number from 0 to 65535", port)
	}
	return n, nil
}

// tls: the pair comes whole, and client certificates need a TLS listener.
// The problem is named by the setting that was set, as the user wrote it.
// Whether the files load is checked when the service starts.
func (v *validator) tls() {
	c := v.c
	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		v.add("tls_cert_file", "set without tls_key_file (ZECTRE_AUTH_TLS_KEY_FILE): TLS needs both")
	case c.TLSCertFile == "" && c.TLSKeyFile != "":
		v.add("tls_key_file", "set without tls_cert_file (ZECTRE_AUTH_TLS_CERT_FILE): TLS needs both")
	}
	if c.TLSClientCAFile != "" && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		v.add("tls_client_ca_file", "needs %s and %s: client certificates are asked for only over TLS",
			c.name("tls_cert_file"), c.name("tls_key_file"))
	}
}

// sameListener catches the one collision visible without binding: both
// listeners on one port where the hosts overlap.
func (v *validator) sameListener() {
	v.samePort("admin_listen", v.c.AdminListen, "listen", v.c.Listen)
}

// samePort reports key's address a on the port of other's address b where
// the hosts overlap.
func (v *validator) samePort(key, a, other, b string) {
	h1, p1, err1 := net.SplitHostPort(b)
	h2, p2, err2 := net.SplitHostPort(a)
	if err1 != nil || err2 != nil || p1 != p2 || p1 == "0" {
		return
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	if h1 == h2 || wild(h1) || wild(h2) {
		v.add(key, "uses the same port as %s", v.c.name(other))
	}
}

func (v *validator) database() {
	const key = "database_url"
	s := v.c.DatabaseURL
	scheme, rest, ok := strings.Cut(s, "://")
	switch {
	case s == "":
		v.add(key, "must not be empty (want postgres://… or sqlite://PATH)")
	case !ok:
		v.add(key, "not a URL (want postgres://… or sqlite://PATH)")
	case strings.EqualFold(scheme, "sqlite"):
		path, _, hasQuery := strings.Cut(rest, "?")
		if path == "" {
			v.add(key, "missing the database file path (want sqlite://PATH)")
		}
		if hasQuery {
			v.add(key, "query parameters are not supported in sqlite:// URLs")
		}
	case isPostgresScheme(scheme):
		u, err := url.Parse(s)
		if err != nil {
			v.add(key, "not a valid URL")
		} else if strings.Trim(u.Path, "/") == "" {
			v.add(key, "missing the database name (want postgres://user:pass@host:5432/dbname)")
		}
	default:
		v.add(key, "unsupported scheme %q (want postgres:// or sqlite://)", scheme)
	}
}

// redis reports the problems of redis_url by the cache's rules, the ones
// Open applies: one statement of them, one wording.
func (v *validator) redis() {
	if v.c.RedisURL == "" {
		return
	}
	for _, p := range cache.RedisURLProblems(v.c.RedisURL) {
		v.add("redis_url", "%s", p)
	}
}

func (v *validator) jwtSecret() {
	const key = "jwt_secret"
	n := len(v.c.JWTSecret)
	switch {
	case n == 0 && v.c.IsPostgres():
		v.add(key, "required when %s is postgres, so that every replica signs alike (set ZECTRE_AUTH_JWT_SECRET, at least %d bytes)",
			v.c.name("database_url"), MinJWTSecretBytes)
	case n > 0 && n < MinJWTSecretBytes:
		v.add(key, "must be at least %d bytes", MinJWTSecretBytes)
	}
	for i, prev := range v.c.JWTPreviousSecrets {
		// Named as written: the TOML index, or the env var's item (from 0 too).
		item := fmt.Sprintf("%s[%d]", v.c.name("jwt_previous_secrets"), i)
		switch {
		case len(prev) < MinJWTSecretBytes:
			v.add(item, "must be at least %d bytes", MinJWTSecretBytes)
		case prev == v.c.JWTSecret:
			v.add(item, "is the current jwt_secret; list only secrets it replaced")
		}
	}
	if len(v.c.JWTPreviousSecrets) > 0 && n == 0 {
		v.add("jwt_previous_secrets", "needs jwt_secret: a secret generated in data_dir cannot be rotated this way")
	}
}

func (v *validator) identity() {
	c := v.c
	if c.IdentityTTL < MinIdentityTTL || c.IdentityTTL > MaxIdentityTTL {
		v.add("identity_ttl", "must be between %s and %s", MinIdentityTTL.Std(), MaxIdentityTTL.Std())
	}
	if strings.TrimSpace(c.IdentityAudience) == "" {
		v.add("identity_audience", "must not be empty")
	}
	if c.IdentityAssertion && c.IdentityKeyFile == "" && c.IsPostgres() {
		v.add("identity_key_file", "required when identity_assertion is on and %s is postgres, so that every replica signs alike",
			v.c.name("database_url"))
	}
	for i, f := range c.IdentityPreviousKeyFiles {
		if f == "" {
			v.add(fmt.Sprintf("identity_previous_key_files[%d]", i), "must not be empty")
		}
	}
}

// httpURL checks an absolute http(s) URL with a host. Base URLs (upstreams,
// dashboard_url, public_url) get paths appended, so a query or fragment
// would end up in the wrong place, and they are sent on or shown to
// clients, so they carry no credentials; these are the checks the proxy
// makes of an upstream, made here so that they are reported with the rest.
func (v *validator) httpURL(key, s string, base bool) {
	if s == "" {
		return
	}
	if msg := checkHTTPURL(s, base); msg != "" {
		v.add(key, "%s", msg)
	}
}

func checkHTTPURL(s string, base bool) string {
	u, err := url.Parse(s)
	switch {
	case !strings.Contains(s, "://"): // "host:port" would parse as scheme "host"
		return "must be an absolute URL (http:// or https://)"
	case err != nil:
		return "not a valid URL"
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		return fmt.Sprintf("unsupported scheme %q (want http:// or https://)", u.Scheme)
	case u.Host == "" || u.Hostname() == "": // "http://:8080" has a port only
		return "missing host"
	case base && u.User != nil:
		return "must not hold credentials (user:password@)"
	case base && (u.RawQuery != "" || u.Fragment != "" || u.ForceQuery):
		return "must not have a query or fragment"
	}
	return ""
}

func (v *validator) authMode(key string, m AuthMode) {
	switch m {
	case AuthRequired, AuthOptional, AuthPublic:
	case "":
		v.add(key, "missing (want required, optional or public)")
	default:
		v.add(key, "%q is not required, optional or public", string(m))
	}
}

// parsePrefix accepts a CIDR or a bare IP (a single host). Host bits are
// masked off, so 10.1.2.3/8 means 10.0.0.0/8.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR or IP address %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (v *validator) limits() {
	l := v.c.Limits
	for _, f := range []struct {
		key string
		n   int
	}{
		{"limits.login_failures_per_account", l.LoginFailuresPerAccount},
		{"limits.login_failures_per_address", l.LoginFailuresPerAddress},
		{"limits.signups_per_address", l.SignupsPerAddress},
		{"limits.cli_initiates_per_address", l.CLIInitiatesPerAddress},
		{"limits.cli_polls_per_address", l.CLIPollsPerAddress},
		{"limits.max_concurrent_hashes", l.MaxConcurrentHashes},
	} {
		if f.n <= 0 {
			v.add(f.key, "must be a positive integer, got %d", f.n)
		}
	}
}

func validRedisPrefix(p string) bool {
	if len(p) < 1 || len(p) > 64 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return false
		}
	}
	return true
}

// requestLimits checks the bounds on what one request may send and how long
// it may take: max_header_bytes, max_body_bytes, max_proxy_body_bytes,
// websocket_idle_timeout, max_websocket_conns, read_timeout and idle_timeout.
func (v *validator) requestLimits() {
	c := v.c
	if c.MaxHeaderBytes < MinHeaderBytesLimit || c.MaxHeaderBytes > MaxHeaderBytesLimit {
		v.add("max_header_bytes", "must be from %d to %d bytes, got %d", MinHeaderBytesLimit, MaxHeaderBytesLimit, c.MaxHeaderBytes)
	}
	if c.MaxBodyBytes < MinBodyBytesLimit || c.MaxBodyBytes > MaxBodyBytesLimit {
		v.add("max_body_bytes", "must be from %d to %d bytes, got %d", MinBodyBytesLimit, MaxBodyBytesLimit, c.MaxBodyBytes)
	}
	if c.MaxProxyBodyBytes < 0 {
		v.add("max_proxy_body_bytes", "must be 0 (no limit) or a positive number of bytes, got %d", c.MaxProxyBodyBytes)
	}
	if c.WebSocketIdleTimeout <= 0 || c.WebSocketIdleTimeout > MaxWebSocketIdleTimeout {
		v.add("websocket_idle_timeout", "must be more than 0s and at most %s", MaxWebSocketIdleTimeout.Std())
	}
	if c.MaxWebSocketConns < 1 {
		v.add("max_websocket_conns", "must be at least 1, got %d", c.MaxWebSocketConns)
	}
	if c.ReadTimeout <= 0 || c.ReadTimeout > MaxReadTimeout {
		v.add("read_timeout", "must be more than 0s and at most %s", MaxReadTimeout.Std())
	}
	if c.IdleTimeout <= 0 || c.IdleTimeout > MaxIdleTimeout {
		v.add("idle_timeout", "must be more than 0s and at most %s", MaxIdleTimeout.Std())
	}
}
