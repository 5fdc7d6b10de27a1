package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestValidateReportsEverything: one Validate call lists each problem on its
// own line, named as the user wrote it (env name or TOML key).
func TestValidateReportsEverything(t *testing.T) {
	path := writeFile(t, `
database_url = "mysql://db/auth"
default_auth = "sometimes"
trusted_proxies = ["10.0.0.0/8", "10.0.0.0/33"]
[limits]
cli_polls_per_address = 0
[[routes]]
path = "/ok/**"
auth = "public"
[[routes]]
path = "api/*"
auth = "required"
`)
	c, err := Load(path, envOf(map[string]string{
		"ZECTRE_AUTH_JWT_SECRET": "short",
		"ZECTRE_AUTH_LISTEN":     "47080",
		"ZECTRE_AUTH_UPSTREAM":   "ftp://files",
	}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	want := []string{
		"ZECTRE_AUTH_LISTEN: ",
		"database_url: unsupported scheme \"mysql\" (want postgres:// or sqlite://)",
		"ZECTRE_AUTH_JWT_SECRET: must be at least 32 bytes",
		"ZECTRE_AUTH_UPSTREAM: unsupported scheme \"ftp\"",
		"default_auth: ",
		"trusted_proxies[1]: invalid CIDR",
		"limits.cli_polls_per_address: must be a positive integer",
		"routes[1].path: ",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(c *Config)
		settings []string // every Problem expected, in order; nil: valid
		contains string   // substring of the whole error
	}{
		{"defaults", func(c *Config) {}, nil, ""},
		{"tls pair", func(c *Config) { c.TLSCertFile, c.TLSKeyFile = "tls.crt", "tls.key" }, nil, ""},
		{"tls pair with client CA", func(c *Config) {
			c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = "tls.crt", "tls.key", "ca.pem"
		}, nil, ""},
		{"tls cert without key", func(c *Config) { c.TLSCertFile = "tls.crt" },
			[]string{"tls_cert_file"}, "tls_cert_file: set without tls_key_file"},
		{"tls key without cert", func(c *Config) { c.TLSKeyFile = "tls.key" },
			[]string{"tls_key_file"}, "tls_key_file: set without tls_cert_file"},
		{"client CA without tls", func(c *Config) { c.TLSClientCAFile = "ca.pem" },
			[]string{"tls_client_ca_file"}, "needs tls_cert_file and tls_key_file"},
		{"postgres with secret", func(c *Config) {
			c.DatabaseURL, c.JWTSecret = "postgres://app:pw@db:5432/auth?sslmode=require", secret32
		}, nil, ""},
		{"postgres without secret", func(c *Config) { c.DatabaseURL = "postgres://app@db/auth" },
			[]string{"jwt_secret"}, "required when database_url is postgres"},
		{"postgresql without secret", func(c *Config) { c.DatabaseURL = "postgresql://app@db/auth" },
			[]string{"jwt_secret"}, "required"},
		{"short secret", func(c *Config) { c.JWTSecret = secret32[:31] },
			[]string{"jwt_secret"}, "jwt_secret: must be at least 32 bytes"},
		{"32-byte secret", func(c *Config) { c.JWTSecret = secret32 }, nil, ""},
		{"identity on, generated key", func(c *Config) { c.IdentityAssertion = true }, nil, ""},
		{"identity on, postgres without key file", func(c *Config) {
			c.IdentityAssertion, c.DatabaseURL, c.JWTSecret = true, "postgres://app@db/auth", secret32
		}, []string{"identity_key_file"}, "identity_key_file: required when identity_assertion is on and database_url is postgres"},
		{"identity on, postgres with key file", func(c *Config) {
			c.IdentityAssertion, c.DatabaseURL, c.JWTSecret, c.IdentityKeyFile = true, "postgres://app@db/auth", secret32, "/k.pem"
		}, nil, ""},
		{"identity off, postgres without key file", func(c *Config) {
			c.DatabaseURL, c.JWTSecret = "postgres://app@db/auth", secret32
		}, nil, ""},
		{"identity ttl bounds", func(c *Config) { c.IdentityTTL = Duration(10 * time.Second) }, nil, ""},
		{"identity ttl too short", func(c *Config) { c.IdentityTTL = Duration(9 * time.Second) },
			[]string{"identity_ttl"}, "identity_ttl: must be between 10s and 10m0s"},
		{"identity ttl too long", func(c *Config) { c.IdentityTTL = Duration(11 * time.Minute) },
			[]string{"identity_ttl"}, "between"},
		{"identity audience empty", func(c *Config) { c.IdentityAudience = " " }, []string{"identity_audience"}, "must not be empty"},
		{"identity previous key empty", func(c *Config) { c.IdentityPreviousKeyFiles = []string{"/a.pem", ""} },
			[]string{"identity_previous_key_files[1]"}, "must not be empty"},
		{"previous secrets", func(c *Config) {
			c.JWTSecret, c.JWTPreviousSecrets = secret32, []string{"old-" + secret32, "older-" + secret32}
		}, nil, ""},
		{"short previous secret, every one named", func(c *Config) {
			c.JWTSecret, c.JWTPreviousSecrets = secret32, []string{secret32[:31], "old-" + secret32, "x"}
		}, []string{"jwt_previous_secrets[0]", "jwt_previous_secrets[2]"}, "jwt_previous_secrets[0]: must be at least 32 bytes"},
		{"previous secret equal to the current one", func(c *Config) {
			c.JWTSecret, c.JWTPreviousSecrets = secret32, []string{secret32}
		}, []string{"jwt_previous_secrets[0]"}, "is the current jwt_secret"},
		{"previous secrets without jwt_secret", func(c *Config) { c.JWTPreviousSecrets = []string{"old-" + secret32} },
			[]string{"jwt_previous_secrets"}, "needs jwt_secret"},
		{"postgres without database name", func(c *Config) {
			c.DatabaseURL, c.JWTSecret = "postgres://app:hunter2@db:5432/", secret32
		}, []string{"database_url"}, "missing the database name"},
		{"sqlite without path", func(c *Config) { c.DatabaseURL = "sqlite://" }, []string{"database_url"}, "path"},
		{"sqlite with query", func(c *Config) { c.DatabaseURL = "sqlite://./a.db?_pragma=x" }, []string{"database_url"}, "query"},
		{"database not a URL", func(c *Config) { c.DatabaseURL = "./data/x.db" }, []string{"database_url"}, "not a URL"},
		{"database empty", func(c *Config) { c.DatabaseURL = "" }, []string{"database_url"}, "empty"},
		{"redis ok", func(c *Config) { c.RedisURL = "rediss://:pw@cache:6380/1" }, nil, ""},
		{"redis unix ok", func(c *Config) { c.RedisURL = "unix:///run/redis.sock" }, nil, ""},
		{"redis bad scheme", func(c *Config) { c.RedisURL = "http://cache" }, []string{"redis_url"}, "unsupported scheme"},
		{"redis host:port", func(c *Config) { c.RedisURL = "cache:6379" }, []string{"redis_url"}, "not a URL"},
		{"redis no host", func(c *Config) { c.RedisURL = "redis://" }, []string{"redis_url"}, "missing host"},
		{"redis cluster ok", func(c *Config) {
			c.RedisURL = "rediss://:hunter2@node1:6379?addr=node2:6379&addr=[fd00::3]:6379&dial_timeout=2s"
		}, nil, ""},
		{"redis sentinel ok", func(c *Config) {
			c.RedisURL = "redis://:hunter2@sentinel1:26379/2?addr=sentinel2:26379&master_set=mymaster"
		}, nil, ""},
		{"redis unknown parameter", func(c *Config) { c.RedisURL = "redis://:hunter2@s1:26379?master-set=m" },
			[]string{"redis_url"}, `unknown query parameter "master-set"`},
		{"redis unknown odd parameter", func(c *Config) { c.RedisURL = "redis://s1:6379?hunter2%21" },
			[]string{"redis_url"}, "unknown query parameter (known:"},
		{"redis addr without port", func(c *Config) { c.RedisURL = "redis://:hunter2@n1:6379?addr=n2&addr=n3:6379" },
			[]string{"redis_url"}, "each addr must be host:port"},
		{"redis empty master_set", func(c *Config) { c.RedisURL = "redis://s1:26379?master_set=" },
			[]string{"redis_url"}, "master_set must name one"},
		{"redis unix with addr", func(c *Config) { c.RedisURL = "unix:///run/redis.sock?addr=n2:6379" },
			[]string{"redis_url"}, "unix:// takes no addr"},
		{"redis cluster db", func(c *Config) { c.RedisURL = "redis://:hunter2@n1:6379/1?addr=n2:6379" },
			[]string{"redis_url"}, "only database 0"},
		{"redis cluster db query", func(c *Config) { c.RedisURL = "redis://n1:6379?addr=n2:6379&db=3" },
			[]string{"redis_url"}, "only database 0"},
		{"redis bad path", func(c *Config) { c.RedisURL = "redis://:hunter2@cache:6379/zero" },
			[]string{"redis_url"}, "database number"},
		{"redis cache off", func(c *Config) { c.RedisURL = "redis://:hunter2@cache:6379?client_cache=0" },
			[]string{"redis_url"}, "client-side caching"},
		{"redis resp2", func(c *Config) { c.RedisURL = "redis://cache:6379?addr=c2:6379&protocol=2" },
			[]string{"redis_url"}, "client-side caching"},
		{"redis bad timeout", func(c *Config) { c.RedisURL = "redis://cache:6379?dial_timeout=5" },
			[]string{"redis_url"}, "dial_timeout must be a positive duration"},
		{"bad listeners", func(c *Config) { c.Listen, c.AdminListen = "", "localhost:99999" },
			[]string{"listen", "admin_listen"}, ""},
		{"same port", func(c *Config) { c.Listen, c.AdminListen = ":8080", "127.0.0.1:8080" },
			[]string{"admin_listen"}, "same port as listen"},
		{"ext_authz_listen bad", func(c *Config) { c.ExtAuthzListen = "localhost:grpc" },
			[]string{"ext_authz_listen"}, "must be a number"},
		{"ext_authz_listen on listen's port", func(c *Config) { c.Listen, c.ExtAuthzListen = ":8080", "127.0.0.1:8080" },
			[]string{"ext_authz_listen"}, "same port as listen"},
		{"ext_authz_listen on admin_listen's port", func(c *Config) { c.ExtAuthzListen = "0.0.0.0:47090" },
			[]string{"ext_authz_listen"}, "same port as admin_listen"},
		{"ext_authz_listen loopback", func(c *Config) { c.ExtAuthzListen = "127.0.0.1:47081" }, nil, ""},
		{"URLs", func(c *Config) {
			c.Upstream = "/relative"
			c.DashboardURL = "https://dash.example/?x=1"
			c.PublicURL = "https://"
			c.Auth.CatalogJWKSURL = "https://catalog.example/jwks?tenant=1"
		}, []string{"upstream", "dashboard_url", "public_url"}, ""},
		{"data_dir empty", func(c *Config) { c.DataDir = "" }, []string{"data_dir"}, ""},
		{"default_auth public", func(c *Config) { c.DefaultAuth = AuthPublic }, nil, ""},
		{"trusted proxies", func(c *Config) {
			c.TrustedProxies = []string{"10.0.0.0/8", "192.168.0.1", "::1", "300.0.0.0/8", "fe80::1%eth0", ""}
		}, []string{"trusted_proxies[3]", "trusted_proxies[4]", "trusted_proxies[5]"}, "invalid CIDR \"300.0.0.0/8\""},
		{"no trusted proxies", func(c *Config) { c.TrustedProxies = nil }, nil, ""},
		{"redis_prefix empty", func(c *Config) { c.RedisPrefix = "" }, []string{"redis_prefix"}, "1 to 64"},
		{"redis_prefix space", func(c *Config) { c.RedisPrefix = "a b" }, []string{"redis_prefix"}, "without spaces"},
		{"upstream_timeout zero", func(c *Config) { c.UpstreamTimeout = 0 }, []string{"upstream_timeout"}, "more than 0s"},
		{"upstream_timeout too long", func(c *Config) { c.UpstreamTimeout = 2 * MaxUpstreamTimeout }, []string{"upstream_timeout"}, "at most 1h0m0s"},
		{"limits", func(c *Config) { c.Limits.LoginFailuresPerAccount, c.Limits.MaxConcurrentHashes = 0, -3 },
			[]string{"limits.login_failures_per_account", "limits.max_concurrent_hashes"}, "got -3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if got := settings(problems(t, err)); !slices.Equal(got, tc.settings) {
				t.Fatalf("settings = %q, want %q (error: %v)", got, tc.settings, err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a password: %v", err)
			}
		})
	}
}

func TestValidateRoutes(t *testing.T) {
	ok := Route{Path: "/api/v1/apps/**", Methods: []string{"POST", "PUT"}, Auth: AuthRequired,
		Scopes: []string{"apps:write"}, Upstream: "http://127.0.0.1:47091"}
	for _, tc := range []struct {
		name     string
		edit     func(r *Route)
		settings []string
		contains string
	}{
		{"valid", func(r *Route) {}, nil, ""},
		{"root", func(r *Route) { r.Path = "/" }, nil, ""},
		{"trailing slash", func(r *Route) { r.Path = "/docs/" }, nil, ""},
		{"star segments", func(r *Route) { r.Path = "/a/*/b/**/c/*" }, nil, ""},
		{"percent escape", func(r *Route) { r.Path = "/files/a%20b" }, nil, ""},
		{"odd method token", func(r *Route) { r.Methods = []string{"VERSION-CONTROL"} }, nil, ""},
		{"missing path", func(r *Route) { r.Path = "" }, []string{"routes[1].path"}, "missing"},
		{"relative path", func(r *Route) { r.Path = "api/**" }, []string{"routes[1].path"}, "must start with"},
		{"partial star", func(r *Route) { r.Path = "/api/v*/apps" }, []string{"routes[1].path"}, "whole segments"},
		{"triple star", func(r *Route) { r.Path = "/api/***" }, []string{"routes[1].path"}, "whole segments"},
		{"empty segment", func(r *Route) { r.Path = "/api//apps" }, []string{"routes[1].path"}, "empty segment"},
		{"dot-dot", func(r *Route) { r.Path = "/api/../admin" }, []string{"routes[1].path"}, "normalised"},
		{"query", func(r *Route) { r.Path = "/api?x=1" }, []string{"routes[1].path"}, "query"},
		{"space", func(r *Route) { r.Path = "/a b" }, []string{"routes[1].path"}, "spaces"},
		{"bad escape", func(r *Route) { r.Path = "/a%2" }, []string{"routes[1].path"}, "percent"},
		{"lowercase method", func(r *Route) { r.Methods = []string{"POST", "get", ""} },
			[]string{"routes[1].methods[1]", "routes[1].methods[2]"}, "uppercase"},
		{"missing auth", func(r *Route) { r.Auth = "" }, []string{"routes[1].auth"}, "missing"},
		{"bad auth", func(r *Route) { r.Auth = "admin" }, []string{"routes[1].auth"}, "\"admin\""},
		{"bad scope", func(r *Route) { r.Scopes = []string{"ok:scope", "Apps:Write"} }, []string{"routes[1].scopes[1]"}, "Apps:Write"},
		{"wildcard scope", func(r *Route) { r.Scopes = []string{"*", "apps:*"} }, []string{"routes[1].scopes[1]"}, "only valid alone"},
		{"method with a dot", func(r *Route) { r.Methods = []string{"M.SEARCH"} }, []string{"routes[1].methods[0]"}, "uppercase"},
		{"path parameter", func(r *Route) { r.Path = "/api;v=1/**" }, []string{"routes[1].path"}, "\";\""},
		{"escaped path parameter", func(r *Route) { r.Path = "/api%3bv/**" }, []string{"routes[1].path"}, "\";\""},
		{"bad upstream", func(r *Route) { r.Upstream = "127.0.0.1:47091" }, []string{"routes[1].upstream"}, "absolute URL"},
		{"host:port upstream", func(r *Route) { r.Upstream = "localhost:47091" }, []string{"routes[1].upstream"}, "absolute URL"},
		{"no upstream", func(r *Route) { r.Upstream = "" }, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			r.Methods = slices.Clone(ok.Methods)
			tc.edit(&r)
			c := Default()
			c.Routes = []Route{ok, r}
			err := c.Validate()
			if got := settings(problems(t, err)); !slices.Equal(got, tc.settings) {
				t.Fatalf("settings = %q, want %q (error: %v)", got, tc.settings, err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

// TestValidateBaseURLs: the URLs that paths are appended to (the upstreams,
// dashboard_url, public_url) need a host and carry no credentials; Validate
// reports these with every other problem, so the start fails before any
// listener or upstream is set up, and never quotes the URL.
func TestValidateBaseURLs(t *testing.T) {
	set := map[string]func(c *Config, u string){
		"upstream":           func(c *Config, u string) { c.Upstream = u },
		"routes[0].upstream": func(c *Config, u string) { c.Routes = []Route{{Path: "/a/**", Auth: AuthPublic, Upstream: u}} },
		"dashboard_url":      func(c *Config, u string) { c.DashboardURL = u },
		"public_url":         func(c *Config, u string) { c.PublicURL = u },
	}
	for _, tc := range []struct {
		name, url, contains string // contains "": valid
	}{
		{"host and port", "http://127.0.0.1:8080", ""},
		{"base path", "https://up.internal/svc", ""},
		{"IPv6 host", "http://[::1]:8080", ""},
		{"port only", "http://:8080", "missing host"},
		{"no host", "http://", "missing host"},
		{"empty IPv6 host", "http://[]:8080", "not a valid URL"},
		{"user and password", "http://app:hunter2@up:8080", "must not hold credentials"},
		{"password only", "http://:hunter2@up:8080", "must not hold credentials"},
		{"user only", "https://hunter2@up", "must not hold credentials"},
		{"query", "http://up:8080/?hunter2", "must not have a query or fragment"},
		{"fragment", "http://up:8080/#hunter2", "must not have a query or fragment"},
	} {
		for setting, edit := range set {
			t.Run(setting+"/"+tc.name, func(t *testing.T) {
				c := Default()
				edit(&c, tc.url)
				err := c.Validate()
				ps := problems(t, err)
				if tc.contains == "" {
					if err != nil {
						t.Fatalf("valid URL refused: %v", err)
					}
					return
				}
				if len(ps) != 1 || ps[0].Setting != setting || !strings.Contains(ps[0].Message, tc.contains) {
					t.Fatalf("problems %v, want one for %s containing %q", err, setting, tc.contains)
				}
				if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "up:8080") {
					t.Errorf("the message quotes the URL: %v", err)
				}
			})
		}
	}
	// With the other problems, in one Validate, named as written.
	c, err := Load(writeFile(t, "default_auth = \"sometimes\"\n[[routes]]\npath = \"/a\"\nauth = \"public\"\nupstream = \"http://:9000\"\n"),
		envOf(map[string]string{"ZECTRE_AUTH_UPSTREAM": "http://u:hunter2@up:8080", "ZECTRE_AUTH_LISTEN": "nope"}))
	if err != nil {
		t.Fatal(err)
	}
	got := settings(problems(t, c.Validate()))
	if want := []string{"ZECTRE_AUTH_LISTEN", "ZECTRE_AUTH_UPSTREAM", "default_auth", "routes[0].upstream"}; !slices.Equal(got, want) {
		t.Errorf("problems name %q, want %q", got, want)
	}
}

// TestLoadValidReportsEverything: what Load refuses (durations without a
// unit, unknown keys) and what Validate refuses come in one error; a file
// the decoder cannot read through is reported alone.
func TestLoadValidReportsEverything(t *testing.T) {
	path := writeFile(t, `
read_timeout = 30
default_auth = "sometimes"
listn = ":1"
upstream = "http://:8080"
`)
	_, err := LoadValid(path, envOf(map[string]string{"ZECTRE_AUTH_IDLE_TIMEOUT": "5", "ZECTRE_AUTH_PUBLIC_URL": "https://u:hunter2@auth.example"}))
	got := settings(problems(t, err))
	want := []string{"listn", "read_timeout", "ZECTRE_AUTH_IDLE_TIMEOUT", "upstream", "ZECTRE_AUTH_PUBLIC_URL", "default_auth"}
	if !slices.Equal(got, want) {
		t.Fatalf("problems name %q, want %q\n%v", got, want, err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a password in the message: %v", err)
	}
	for _, doc := range []string{"listen = 47080\ndefault_auth = \"x\"\n", "read_timeout = \n"} {
		_, err := LoadValid(writeFile(t, doc), envOf(nil))
		if err == nil || strings.Contains(err.Error(), "default_auth") || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%q: %v; want the decoder's one error alone", doc, err)
		}
	}
	c, err := LoadValid(writeFile(t, "read_timeout = \"5s\"\n"), envOf(nil))
	if err != nil || c.ReadTimeout.Std() != 5*time.Second {
		t.Errorf("a valid file: %v, %v", c.ReadTimeout, err)
	}
}
