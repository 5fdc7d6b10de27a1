package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// envOf turns a map into the env lookup Load takes.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeFile puts a TOML document in a temp file and returns its path.
func writeFile(t testing.TB, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zectre-auth.toml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// problems splits a Validate or Load error into its *Problem lines.
func problems(t *testing.T, err error) []*Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []*Problem
	for _, e := range errs {
		var p *Problem
		if !errors.As(e, &p) {
			t.Fatalf("error %q is not a *Problem", e)
		}
		out = append(out, p)
	}
	return out
}

func settings(ps []*Problem) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Setting)
	}
	return s
}

const secret32 = "0123456789abcdef0123456789abcdef"

func TestDefaults(t *testing.T) {
	c, err := Load("", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, ":47080"},
		{"admin_listen", c.AdminListen, "127.0.0.1:47090"},
		{"database_url", c.DatabaseURL, "sqlite://./data/zectre-auth.db"},
		{"redis_url", c.RedisURL, ""},
		{"jwt_secret", c.JWTSecret, ""},
		{"upstream", c.Upstream, ""},
		{"dashboard_url", c.DashboardURL, ""},
		{"public_url", c.PublicURL, ""},
		{"identity_audience", c.IdentityAudience, "zectre-upstream"},
		{"identity_ttl", c.IdentityTTL.Std().String(), "1m0s"},
		{"identity_key_file", c.IdentityKeyFile, ""},
		{"data_dir", c.DataDir, "./data"},
		{"default_auth", c.DefaultAuth, AuthOptional},
		{"trusted_proxies", c.TrustedProxies, []string{"127.0.0.0/8", "::1/128"}},
		{"auth", c.Auth, Auth{}},
		{"limits.login_failures_per_account", c.Limits.LoginFailuresPerAccount, 100},
		{"limits.login_failures_per_address", c.Limits.LoginFailuresPerAddress, 1000},
		{"limits.signups_per_address", c.Limits.SignupsPerAddress, 120},
		{"limits.cli_initiates_per_address", c.Limits.CLIInitiatesPerAddress, 120},
		{"limits.cli_polls_per_address", c.Limits.CLIPollsPerAddress, 1200},
		{"limits.max_concurrent_hashes", c.Limits.MaxConcurrentHashes, DefaultMaxConcurrentHashes()},
		{"routes", len(c.Routes), 0},
		{"IsPostgres", c.IsPostgres(), false},
		{"SQLitePath", c.SQLitePath(), "./data/zectre-auth.db"},
		{"AuthURLBase", c.AuthURLBase(), "http://localhost:47080"},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
	if DefaultMaxConcurrentHashes() < 2 {
		t.Errorf("DefaultMaxConcurrentHashes() = %d, want at least 2", DefaultMaxConcurrentHashes())
	}
}

func TestLoadPrecedence(t *testing.T) {
	const file = `
listen = ":8000"
redis_url = "redis://cache:6379/0"
upstream = "http://file-upstream:9000"
default_auth = "required"
trusted_proxies = ["10.0.0.0/8"]

[auth]
catalog_jwks_url = "https://catalog.example/jwks.json"
jwt_expected_iss = "file-iss"

[limits]
signups_per_address = 7

[[routes]]
path = "/api/v1/apps/**"
methods = ["POST", "PUT"]
auth = "required"
scopes = ["apps:write"]
upstream = "http://127.0.0.1:47091"

[[routes]]
path = "/public/*"
auth = "public"
`
	path := writeFile(t, file)
	for _, tc := range []struct {
		name  string
		env   map[string]string
		check func(c Config) (got, want any)
	}{
		{"file value kept", nil, func(c Config) (any, any) { return c.Listen, ":8000" }},
		{"env wins over file", map[string]string{"ZECTRE_AUTH_LISTEN": ":9000"},
			func(c Config) (any, any) { return c.Listen, ":9000" }},
		{"empty env wins over file", map[string]string{"ZECTRE_AUTH_REDIS_URL": ""},
			func(c Config) (any, any) { return c.RedisURL, "" }},
		{"env wins in [auth]", map[string]string{"ZECTRE_AUTH_JWT_EXPECTED_ISS": "env-iss"},
			func(c Config) (any, any) { return c.Auth.JWTExpectedIss, "env-iss" }},
		{"file section value", nil, func(c Config) (any, any) { return c.Auth.CatalogJWKSURL, "https://catalog.example/jwks.json" }},
		{"unset keys keep defaults", nil, func(c Config) (any, any) { return c.AdminListen, DefaultAdminListen }},
		{"file limit", nil, func(c Config) (any, any) { return c.Limits.SignupsPerAddress, 7 }},
		{"other limits default", nil, func(c Config) (any, any) { return c.Limits.CLIPollsPerAddress, DefaultCLIPollsPerAddress }},
		{"file list replaces default", nil, func(c Config) (any, any) { return c.TrustedProxies, []string{"10.0.0.0/8"} }},
		{"default_auth", nil, func(c Config) (any, any) { return c.DefaultAuth, AuthRequired }},
		{"routes in order", nil, func(c Config) (any, any) {
			return c.Routes, []Route{
				{Path: "/api/v1/apps/**", Methods: []string{"POST", "PUT"}, Auth: AuthRequired,
					Scopes: []string{"apps:write"}, Upstream: "http://127.0.0.1:47091"},
				{Path: "/public/*", Auth: AuthPublic},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(path, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got, want := tc.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestDatabaseURLFollowsDataDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		want string
	}{
		{"default", "", nil, "sqlite://./data/zectre-auth.db"},
		{"data_dir in file", `data_dir = "/var/lib/zectre"`, nil, "sqlite:///var/lib/zectre/zectre-auth.db"},
		{"data_dir in env", "", map[string]string{"ZECTRE_AUTH_DATA_DIR": "/srv/z/"}, "sqlite:///srv/z/zectre-auth.db"},
		{"database_url in file wins", "data_dir = \"/x\"\ndatabase_url = \"sqlite://./other.db\"", nil, "sqlite://./other.db"},
		{"database_url in env wins", "data_dir = \"/x\"",
			map[string]string{"ZECTRE_AUTH_DATABASE_URL": "postgres://u@db/z"}, "postgres://u@db/z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			c, err := Load(path, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.DatabaseURL != tc.want {
				t.Errorf("DatabaseURL = %q, want %q", c.DatabaseURL, tc.want)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		doc      string
		settings []string // Problem settings, in order; nil: not a Problem
		contains string   // substring of the error text
	}{
		{"unknown top-level key", `listn = ":1"`, []string{"listn"}, "unknown setting"},
		{"unknown [auth] key", "[auth]\njwks_url = \"x\"", []string{"auth.jwks_url"}, "line 2"},
		{"unknown [limits] key", "[limits]\nlogins = 3", []string{"limits.logins"}, "unknown setting"},
		{"unknown route key", "[[routes]]\npath = \"/\"\nauht = \"public\"", []string{"routes[].auht"}, "unknown setting"},
		{"every unknown key at once", "a = 1\nb = 2\n[auth]\nc = 3", []string{"a", "b", "auth.c"}, ""},
		{"non-integer limit", "[limits]\nsignups_per_address = \"ten\"", []string{"limits.signups_per_address"}, "want an integer, got a TOML string"},
		{"integer where string", "listen = 47080", []string{"listen"}, "want a string"},
		{"integer where auth mode", "default_auth = 1", []string{"default_auth"}, "want a string, got a TOML integer"},
		{"string where list", `trusted_proxies = "10.0.0.0/8"`, []string{"trusted_proxies"}, "want an array of strings"},
		{"section as value", `limits = 3`, []string{"limits"}, "want a table"},
		{"route field type", "[[routes]]\npath = 1", []string{"routes[].path"}, "want a string"},
		{"syntax error", `listen = ":1`, nil, ".toml:1:"},
		{"duplicate key", "listen = \":1\"\nlisten = \":2\"", []string{"listen"}, "already defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(writeFile(t, tc.doc), envOf(nil))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Error("Load returned a non-zero Config with its error")
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
			if tc.settings == nil {
				var p *Problem
				if errors.As(err, &p) {
					t.Errorf("got Problem %q, want a plain error", p)
				}
				return
			}
			if got := settings(problems(t, err)); !slices.Equal(got, tc.settings) {
				t.Errorf("settings = %q, want %q (error: %v)", got, tc.settings, err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"), envOf(nil))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want os.ErrNotExist", err)
	}
}

// TestEnvNames pins the names of part D of the contract: they are fixed, so
// they are listed here by hand rather than read from the struct tags.
func TestEnvNames(t *testing.T) {
	for _, tc := range []struct {
		env   string
		value string
		field func(Config) string
	}{
		{"ZECTRE_AUTH_LISTEN", ":1111", func(c Config) string { return c.Listen }},
		{"ZECTRE_AUTH_ADMIN_LISTEN", "127.0.0.1:2222", func(c Config) string { return c.AdminListen }},
		{"ZECTRE_AUTH_DATABASE_URL", "postgres://u:p@db:5432/auth", func(c Config) string { return c.DatabaseURL }},
		{"ZECTRE_AUTH_REDIS_URL", "redis://cache:6379", func(c Config) string { return c.RedisURL }},
		{"ZECTRE_AUTH_JWT_SECRET", secret32, func(c Config) string { return c.JWTSecret }},
		{"ZECTRE_AUTH_CATALOG_JWKS_URL", "https://catalog/jwks", func(c Config) string { return c.Auth.CatalogJWKSURL }},
		{"ZECTRE_AUTH_JWT_EXPECTED_ISS", "iss-x", func(c Config) string { return c.Auth.JWTExpectedIss }},
		{"ZECTRE_AUTH_JWT_EXPECTED_AUD", "aud-x", func(c Config) string { return c.Auth.JWTExpectedAud }},
		{"ZECTRE_AUTH_UPSTREAM", "http://up:1", func(c Config) string { return c.Upstream }},
		{"ZECTRE_AUTH_DASHBOARD_URL", "https://dash.example", func(c Config) string { return c.DashboardURL }},
		{"ZECTRE_AUTH_PUBLIC_URL", "https://auth.example", func(c Config) string { return c.PublicURL }},
		{"ZECTRE_AUTH_DATA_DIR", "/tmp/zz", func(c Config) string { return c.DataDir }},
		{"ZECTRE_AUTH_IDENTITY_AUDIENCE", "orders", func(c Config) string { return c.IdentityAudience }},
		{"ZECTRE_AUTH_IDENTITY_TTL", "2m0s", func(c Config) string { return c.IdentityTTL.Std().String() }},
		{"ZECTRE_AUTH_IDENTITY_KEY_FILE", "/k.pem", func(c Config) string { return c.IdentityKeyFile }},
	} {
		t.Run(tc.env, func(t *testing.T) {
			c, err := Load(writeFile(t, "listen = \":5\"\n[auth]\njwt_expected_iss = \"f\""), envOf(map[string]string{tc.env: tc.value}))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.field(c); got != tc.value {
				t.Errorf("field = %q, want %q", got, tc.value)
			}
			if got := c.name(keyOfEnv(t, tc.env)); got != tc.env {
				t.Errorf("setting named %q in messages, want %q", got, tc.env)
			}
		})
	}
}

// TestPreviousSecretsFromEnv: the list's environment form is comma-separated,
// replaces the file's list, and problems name the variable.
func TestPreviousSecretsFromEnv(t *testing.T) {
	old1, old2 := "old1-"+secret32, "old2-"+secret32
	for _, tc := range []struct {
		name, env string
		want      []string
	}{
		{"two", old1 + "," + old2, []string{old1, old2}},
		{"spaces and empty items", " " + old1 + " ,, " + old2 + ",", []string{old1, old2}},
		{"empty clears the file's list", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, "jwt_secret = \""+secret32+"\"\njwt_previous_secrets = [\"file-"+secret32+"\"]")
			c, err := Load(file, envOf(map[string]string{"ZECTRE_AUTH_JWT_PREVIOUS_SECRETS": tc.env}))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.JWTPreviousSecrets, tc.want) {
				t.Errorf("JWTPreviousSecrets = %q, want %q", c.JWTPreviousSecrets, tc.want)
			}
		})
	}
	c, err := Load(writeFile(t, "jwt_secret = \""+secret32+"\""), envOf(map[string]string{"ZECTRE_AUTH_JWT_PREVIOUS_SECRETS": old1 + ",short"}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "ZECTRE_AUTH_JWT_PREVIOUS_SECRETS[1]: must be at least 32 bytes") {
		t.Errorf("Validate() = %v, want the env item named", err)
	}
	if s := c.String(); strings.Contains(s, old1) {
		t.Errorf("String() shows a previous secret: %s", s)
	}
}

// keyOfEnv finds the TOML key whose field carries env tag name.
func keyOfEnv(t *testing.T, name string) string {
	key := ""
	walkSettings(reflect.TypeOf(Config{}), "", func(k string, f reflect.StructField, _ []int) {
		if f.Tag.Get("env") == name {
			key = k
		}
	})
	if key == "" {
		t.Fatalf("no field has env tag %s", name)
	}
	return key
}

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		name, flag string
		env        map[string]string
		want       string
	}{
		{"nothing", "", nil, ""},
		{"env", "", map[string]string{"ZECTRE_AUTH_CONFIG": "/etc/z.toml"}, "/etc/z.toml"},
		{"flag wins", "./z.toml", map[string]string{"ZECTRE_AUTH_CONFIG": "/etc/z.toml"}, "./z.toml"},
	} {
		if got := Path(tc.flag, envOf(tc.env)); got != tc.want {
			t.Errorf("%s: Path = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := Path("", nil); got != "" {
		t.Errorf("Path with nil env = %q", got)
	}
}

func TestHelpers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		c          Config
		postgres   bool
		sqlitePath string
		authURL    string
	}{
		{"sqlite relative", Config{DatabaseURL: "sqlite://./data/a.db", Listen: ":8080"}, false, "./data/a.db", "http://localhost:8080"},
		{"sqlite absolute", Config{DatabaseURL: "SQLite:///var/a.db", Listen: "0.0.0.0:9"}, false, "/var/a.db", "http://localhost:9"},
		{"postgres", Config{DatabaseURL: "postgres://u@h/db", PublicURL: "https://auth.example/"}, true, "", "https://auth.example"},
		{"postgresql", Config{DatabaseURL: "postgresql://u@h/db", DashboardURL: "https://dash", PublicURL: "https://auth"}, true, "", "https://dash"},
		{"unparseable listen", Config{Listen: "nope"}, false, "", "http://localhost:47080"},
		{"tls listener", Config{Listen: ":8443", TLSCertFile: "c", TLSKeyFile: "k"}, false, "", "https://localhost:8443"},
		{"tls cert only", Config{Listen: ":8443", TLSCertFile: "c"}, false, "", "http://localhost:8443"},
		{"tls with public url", Config{TLSCertFile: "c", TLSKeyFile: "k", PublicURL: "https://auth"}, false, "", "https://auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.IsPostgres(); got != tc.postgres {
				t.Errorf("IsPostgres = %v", got)
			}
			if got := tc.c.SQLitePath(); got != tc.sqlitePath {
				t.Errorf("SQLitePath = %q, want %q", got, tc.sqlitePath)
			}
			if got := tc.c.AuthURLBase(); got != tc.authURL {
				t.Errorf("AuthURLBase = %q, want %q", got, tc.authURL)
			}
		})
	}
}

func TestTrustedPrefixes(t *testing.T) {
	c := Config{TrustedProxies: []string{"10.1.2.3/8", "192.168.1.7", "::1", "fd00::/8", "bogus"}}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fd00::/8"),
	}
	if got := c.TrustedPrefixes(); !slices.Equal(got, want) {
		t.Errorf("TrustedPrefixes = %v, want %v", got, want)
	}
}

func TestStringRedacts(t *testing.T) {
	c := Default()
	c.JWTSecret = "jwt-" + secret32
	c.DatabaseURL = "postgres://app:dbpass@db:5432/auth?sslpassword=tlskeyvalue&sslmode=require"
	c.RedisURL = "rediss://:redispass@cache:6380"
	c.Routes = []Route{{Path: "/", Auth: AuthPublic, Upstream: "http://u:routepass@up"}}
	for _, s := range []string{c.String(), c.GoString()} {
		for _, leak := range []string{secret32, "dbpass", "tlskeyvalue", "redispass", "routepass"} {
			if strings.Contains(s, leak) {
				t.Errorf("String() leaks %q: %s", leak, s)
			}
		}
		if !strings.Contains(s, "sslmode=require") {
			t.Errorf("String() lost harmless detail: %s", s)
		}
	}
	if c.Routes[0].Upstream != "http://u:routepass@up" {
		t.Error("String() modified the Config it printed")
	}
}

// FuzzLoad: whatever the file holds, Load and everything after it never
// panic, and an error always comes with the zero Config.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"",
		`listen = ":1"`,
		"[auth]\ncatalog_jwks_url = \"https://c/jwks\"",
		"[limits]\nsignups_per_address = -1",
		"[[routes]]\npath = \"/a/**\"\nmethods = [\"GET\"]\nauth = \"required\"\nscopes = [\"x\"]",
		`trusted_proxies = ["::1", "10.0.0.0/8", "x"]`,
		"routes = [{path = 1}]",
		`"a.b" = 1`,
		"\x00\xff[",
	} {
		f.Add([]byte(seed))
	}
	// One file per process, rewritten each run: fuzz inputs run one at a
	// time within a process, and a fresh TempDir per input halves throughput.
	path := filepath.Join(f.TempDir(), "fuzz.toml")
	f.Fuzz(func(t *testing.T, doc []byte) {
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, envOf(nil))
		if err != nil {
			if !reflect.DeepEqual(c, Config{}) {
				t.Fatalf("error %v came with a non-zero Config", err)
			}
			_ = err.Error()
			return
		}
		_ = c.Validate()
		_ = c.TrustedPrefixes()
		_ = c.AuthURLBase()
		_ = c.SQLitePath()
		_ = c.String()
	})
}

func TestLoadUpstreamTimeout(t *testing.T) {
	c, err := Load(writeFile(t, "upstream_timeout = \"90s\"\n"), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.UpstreamTimeout.Std() != 90*time.Second {
		t.Fatalf("upstream_timeout = %s, want 1m30s", c.UpstreamTimeout.Std())
	}
	if _, err := Load(writeFile(t, "upstream_timeout = \"soon\"\n"), envOf(nil)); err == nil ||
		!strings.Contains(err.Error(), "is not a duration") {
		t.Fatalf("bad duration: err = %v", err)
	}
}
