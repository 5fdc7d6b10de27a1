package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// IsPostgres reports whether DatabaseURL selects PostgreSQL
// (postgres:// or postgresql://).
func (c Config) IsPostgres() bool {
	scheme, _, ok := strings.Cut(c.DatabaseURL, "://")
	return ok && isPostgresScheme(scheme)
}

func isPostgresScheme(s string) bool {
	return strings.EqualFold(s, "postgres") || strings.EqualFold(s, "postgresql")
}

// SQLitePath is the file path of a sqlite:// DatabaseURL, taken verbatim
// ("sqlite://./data/x.db" is "./data/x.db", "sqlite:///var/x.db" is
// "/var/x.db"), or "" when the database is not SQLite. Not parsed as a URL:
// a relative path would otherwise be read as a host name.
func (c Config) SQLitePath() string {
	scheme, rest, ok := strings.Cut(c.DatabaseURL, "://")
	if !ok || !strings.EqualFold(scheme, "sqlite") {
		return ""
	}
	path, _, _ := strings.Cut(rest, "?")
	return path
}

// TrustedPrefixes is TrustedProxies parsed; bare IPs become single-host
// prefixes. Entries Validate would reject are skipped.
func (c Config) TrustedPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, s := range c.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// TLS reports whether the main listener speaks TLS: both tls_cert_file and
// tls_key_file are set.
func (c Config) TLS() bool { return c.TLSCertFile != "" && c.TLSKeyFile != "" }

// AuthURLBase is the base URL the CLI flow's auth_url is built on, without a
// trailing slash: DashboardURL if set, else PublicURL, else
// http://localhost:<port of Listen>, https when the listener speaks TLS.
func (c Config) AuthURLBase() string {
	for _, u := range []string{c.DashboardURL, c.PublicURL} {
		if u != "" {
			return strings.TrimRight(u, "/")
		}
	}
	port, err := splitPort(c.Listen)
	if err != nil {
		port, _ = splitPort(DefaultListen)
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	return scheme + "://localhost:" + strconv.Itoa(port)
}

// PublicBase is the service's own external base URL without a trailing
// slash: PublicURL if set, else http://localhost:<port of Listen> (https
// with TLS). It is the iss of identity assertions.
func (c Config) PublicBase() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return Config{Listen: c.Listen, TLSCertFile: c.TLSCertFile, TLSKeyFile: c.TLSKeyFile}.AuthURLBase()
}

// String prints the configuration with the JWT secret and URL passwords
// masked, so that logging a Config never leaks a credential.
func (c Config) String() string {
	type plain Config // drops the String method, avoiding recursion
	r := c
	r.origin = nil
	if r.JWTSecret != "" {
		r.JWTSecret = "[redacted]"
	}
	if len(r.JWTPreviousSecrets) > 0 {
		r.JWTPreviousSecrets = make([]string, len(c.JWTPreviousSecrets))
		for i := range r.JWTPreviousSecrets {
			r.JWTPreviousSecrets[i] = "[redacted]"
		}
	}
	r.DatabaseURL = redactURL(r.DatabaseURL)
	r.RedisURL = redactURL(r.RedisURL)
	r.Upstream = redactURL(r.Upstream)
	r.DashboardURL = redactURL(r.DashboardURL)
	r.PublicURL = redactURL(r.PublicURL)
	r.Auth.CatalogJWKSURL = redactURL(r.Auth.CatalogJWKSURL)
	r.SecretScanningKeysURL = redactURL(r.SecretScanningKeysURL)
	r.Routes = append([]Route(nil), r.Routes...)
	for i := range r.Routes {
		r.Routes[i].Upstream = redactURL(r.Routes[i].Upstream)
	}
	return fmt.Sprintf("%+v", plain(r))
}

// GoString keeps %#v as safe as %v.
func (c Config) GoString() string { return c.String() }

// redactURL masks the password in the userinfo and any query parameter
// that looks like a credential (pgx reads ?password=).
func redactURL(s string) string {
	if !strings.ContainsAny(s, "@?") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "[redacted]"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "pass") || strings.Contains(lk, "secret") ||
				strings.Contains(lk, "token") || strings.Contains(lk, "key") {
				q[k] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Setting is the name of the setting at TOML key the way the user wrote
// it: the environment variable it came from, else the key. Messages about
// a setting's value found while starting (a listener that cannot bind, a
// Redis that does not answer) name it by this, as Validate does.
func (c Config) Setting(key string) string { return c.name(key) }

// DatabaseName names the database for messages: for SQLite the absolute
// path of the file, for PostgreSQL the URL without its password and query
// (pgx reads a password from ?password=).
func (c Config) DatabaseName() string {
	if p := c.SQLitePath(); p != "" {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "the database of " + c.name("database_url")
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery, u.ForceQuery, u.Fragment = "", false, ""
	return u.String()
}

// Scrub takes every secret of the configuration out of s (the JWT secret,
// the passwords of the URLs, and those URLs themselves), so that an error
// of a library that quotes what it was given can be printed.
func (c Config) Scrub(s string) string {
	urls := []string{c.DatabaseURL, c.RedisURL, c.Upstream, c.DashboardURL, c.PublicURL, c.Auth.CatalogJWKSURL, c.SecretScanningKeysURL}
	for _, r := range c.Routes {
		urls = append(urls, r.Upstream)
	}
	var secrets []string
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		if red := redactURL(raw); red != raw {
			s = strings.ReplaceAll(s, raw, red)
		}
		if u, err := url.Parse(raw); err == nil {
			if pw, ok := u.User.Password(); ok {
				secrets = append(secrets, pw, url.QueryEscape(pw))
			}
			for k, vs := range u.Query() {
				if lk := strings.ToLower(k); strings.Contains(lk, "pass") || strings.Contains(lk, "secret") ||
					strings.Contains(lk, "token") || strings.Contains(lk, "key") {
					secrets = append(secrets, vs...)
				}
			}
		}
	}
	secrets = append(secrets, c.JWTSecret)
	secrets = append(secrets, c.JWTPreviousSecrets...)
	for _, sec := range secrets {
		if len(sec) >= 3 { // shorter ones would blank out ordinary text
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}
