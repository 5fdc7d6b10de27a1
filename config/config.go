// Package config holds zectre-auth's settings as plain data: built-in
// defaults, overridden by a TOML file, overridden by ZECTRE_AUTH_*
// environment variables. Load only parses; Validate reports every semantic
// problem at once, each line naming the setting the way the user wrote it;
// LoadValid does both and reports their problems together.
package config

import (
	"runtime"
	"time"
)

// Defaults for the scalar settings. Slice and machine-dependent defaults are
// functions (DefaultTrustedProxies, DefaultMaxConcurrentHashes) because Go
// has no constant slices and the CPU count is only known at run time.
const (
	DefaultListen      = ":47080"
	DefaultAdminListen = "127.0.0.1:47090"
	DefaultDataDir     = "./data"
	// DefaultDatabaseFile is the SQLite file name inside the data dir.
	DefaultDatabaseFile = "zectre-auth.db"
	// DefaultDatabaseURL is sqlite://<DefaultDataDir>/<DefaultDatabaseFile>.
	DefaultDatabaseURL = "sqlite://" + DefaultDataDir + "/" + DefaultDatabaseFile
	DefaultDefaultAuth = AuthOptional

	DefaultLoginFailuresPerAccount = 100 // NIST SP 800-63B ceiling, per hour
	DefaultLoginFailuresPerAddress = 1000
	DefaultSignupsPerAddress       = 120
	DefaultCLIInitiatesPerAddress  = 120
	DefaultCLIPollsPerAddress      = 1200 // a CLI polls every second or so

	// MinJWTSecretBytes is the shortest HS256 secret accepted (RFC 7518
	// §3.2: a key of at least the hash output size).
	MinJWTSecretBytes = 32

	// DefaultIdentityAudience is the default aud of identity assertions.
	DefaultIdentityAudience = "zectre-upstream"
	// DefaultIdentityTTL, MinIdentityTTL and MaxIdentityTTL bound
	// identity_ttl.
	DefaultIdentityTTL = Duration(60 * time.Second)
	MinIdentityTTL     = Duration(10 * time.Second)
	MaxIdentityTTL     = Duration(10 * time.Minute)

	// DefaultUpstreamTimeout bounds each step of an upstream exchange:
	// connecting, each write of the request and each read of the response
	// (an idle bound, so a long download that keeps moving is not cut).
	DefaultUpstreamTimeout = Duration(60 * time.Second)
	// DefaultRedisPrefix starts every Redis key of the service.
	DefaultRedisPrefix = "zectre-auth:"

	// DefaultShutdownDelay is how long a stopping replica keeps serving with
	// /readyz failing, so that load balancers stop sending it traffic
	// before its listener closes.
	DefaultShutdownDelay = Duration(5 * time.Second)
	// DefaultShutdownTimeout bounds the wait for in-flight requests.
	DefaultShutdownTimeout = Duration(30 * time.Second)

	// MaxUpstreamTimeout is the largest upstream_timeout accepted.
	MaxUpstreamTimeout = Duration(time.Hour)

	// DefaultMaxHeaderBytes caps the request line and headers of a request
	// (max_header_bytes): large enough for a bearer token at the verifiers'
	// 8 KiB limit, so that an oversized token is refused by the verifier.
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultMaxBodyBytes caps a request body of the Authentication API
	// (max_body_bytes).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxProxyBodyBytes caps a request body the edge forwards
	// (max_proxy_body_bytes); 0 means no limit.
	DefaultMaxProxyBodyBytes = 0
	// DefaultWebSocketIdleTimeout closes a WebSocket tunnel through which
	// no byte has moved either way for this long (websocket_idle_timeout).
	DefaultWebSocketIdleTimeout = Duration(time.Hour)
	// MaxWebSocketIdleTimeout is the largest websocket_idle_timeout accepted.
	MaxWebSocketIdleTimeout = Duration(24 * time.Hour)
	// DefaultMaxWebSocketConns caps the open WebSocket tunnels of a process
	// (max_websocket_conns); one more is 503.
	DefaultMaxWebSocketConns = 10000
	// DefaultReadTimeout bounds reading a request's headers, and the body
	// of an Authentication API request (read_timeout).
	DefaultReadTimeout = Duration(30 * time.Second)
	// DefaultIdleTimeout closes a keep-alive connection that sends no next
	// request for this long (idle_timeout).
	DefaultIdleTimeout = Duration(2 * time.Minute)

	// Bounds of the request limits.
	MinHeaderBytesLimit = 4 << 10
	MaxHeaderBytesLimit = 256 << 10
	MinBodyBytesLimit   = 4 << 10
	MaxBodyBytesLimit   = 64 << 20
	MaxReadTimeout      = Duration(10 * time.Minute)
	MaxIdleTimeout      = Duration(time.Hour)
)

// Windows over which the Limits counts apply.
const (
	FailureWindow = time.Hour   // login_failures_per_*
	RequestWindow = time.Minute // signups, CLI initiates, CLI polls
)

// AuthMode says whether a route needs a caller identity.
type AuthMode string

// The three auth modes of a route (and of default_auth).
const (
	AuthRequired AuthMode = "required" // no valid credential: 401
	AuthOptional AuthMode = "optional" // identity forwarded when present
	AuthPublic   AuthMode = "public"   // forwarded without identity headers
)

// Config is every setting of the service. Each string or Duration field
// with an env tag can also be set from that environment variable, which wins
// over the file.
type Config struct {
	// Listen is the main listener, host:port. Default DefaultListen (":47080").
	Listen string `toml:"listen" env:"ZECTRE_AUTH_LISTEN"`
	// TLSCertFile is the PEM certificate chain of the main listener. With
	// TLSKeyFile set too, Listen speaks TLS only (1.2 and later, ALPN
	// http/1.1), and the pair is reloaded when either file changes and on
	// SIGHUP. Default empty: cleartext HTTP.
	TLSCertFile string `toml:"tls_cert_file" env:"ZECTRE_AUTH_TLS_CERT_FILE"`
	// TLSKeyFile is the PEM private key of TLSCertFile. Default empty.
	TLSKeyFile string `toml:"tls_key_file" env:"ZECTRE_AUTH_TLS_KEY_FILE"`
	// TLSClientCAFile is a PEM bundle of CA certificates; when set (with
	// TLS on), every client of Listen must present a certificate one of
	// them signed (mTLS). Read at start. Default empty: no client
	// certificates asked for.
	TLSClientCAFile string `toml:"tls_client_ca_file" env:"ZECTRE_AUTH_TLS_CLIENT_CA_FILE"`
	// AdminListen is the /metrics listener, host:port. Default
	// DefaultAdminListen ("127.0.0.1:47090"): loopback, so metrics are not public.
	AdminListen string `toml:"admin_listen" env:"ZECTRE_AUTH_ADMIN_LISTEN"`
	// ExtAuthzListen is the listener of Envoy's ext_authz over gRPC
	// (envoy.service.auth.v3.Authorization/Check and the gRPC health
	// service), host:port. Empty (the default): not served.
	ExtAuthzListen string `toml:"ext_authz_listen" env:"ZECTRE_AUTH_EXT_AUTHZ_LISTEN"`
	// AdminPprof serves the Go profiler under /debug/pprof/ on AdminListen.
	// Default false: profiles reveal internals and cost CPU while taken, so
	// they are served only when someone asked for them.
	AdminPprof bool `toml:"admin_pprof"`
	// DatabaseURL is postgres://user:pass@host:port/db (pgx) or sqlite://PATH.
	// Default sqlite://<DataDir>/zectre-auth.db, i.e. DefaultDatabaseURL.
	DatabaseURL string `toml:"database_url" env:"ZECTRE_AUTH_DATABASE_URL"`
	// RedisURL is redis://, rediss:// or unix:// for the shared cache, rate
	// limits and revocation. Default empty: in-process cache, single replica.
	RedisURL string `toml:"redis_url" env:"ZECTRE_AUTH_REDIS_URL"`
	// RedisPrefix starts every Redis key the service writes, so that several
	// deployments can share one Redis. Default DefaultRedisPrefix.
	RedisPrefix string `toml:"redis_prefix" env:"ZECTRE_AUTH_REDIS_PREFIX"`
	// JWTSecret is the HS256 signing secret, at least MinJWTSecretBytes bytes.
	// Default empty: generated once and kept in DataDir (SQLite only; with
	// Postgres every replica must share it, so it is required).
	JWTSecret string `toml:"jwt_secret" env:"ZECTRE_AUTH_JWT_SECRET"`
	// JWTPreviousSecrets are secrets that signed tokens before jwt_secret
	// replaced them: tokens signed with them still verify, nothing new is
	// signed with them, so a secret can be rotated without logging anybody
	// out. Each at least MinJWTSecretBytes bytes. The environment variable
	// is comma-separated. Default empty.
	JWTPreviousSecrets []string `toml:"jwt_previous_secrets" env:"ZECTRE_AUTH_JWT_PREVIOUS_SECRETS"`
	// Upstream is the default upstream base URL (http or https). Default
	// empty: requests outside the auth API get 404.
	Upstream string `toml:"upstream" env:"ZECTRE_AUTH_UPSTREAM"`
	// UpstreamTimeout bounds connecting to an upstream, writing the request
	// and waiting for each read of the response. Default
	// DefaultUpstreamTimeout (60 s); at most MaxUpstreamTimeout.
	UpstreamTimeout Duration `toml:"upstream_timeout" env:"ZECTRE_AUTH_UPSTREAM_TIMEOUT"`
	// ShutdownDelay is how long the service keeps serving after SIGTERM with
	// /readyz answering 503, before it stops accepting. Default
	// DefaultShutdownDelay (5 s); 0 stops at once. SIGINT skips it.
	ShutdownDelay Duration `toml:"shutdown_delay" env:"ZECTRE_AUTH_SHUTDOWN_DELAY"`
	// ShutdownTimeout bounds the wait for in-flight requests once the
	// listener is closed. Default DefaultShutdownTimeout (30 s).
	ShutdownTimeout Duration `toml:"shutdown_timeout" env:"ZECTRE_AUTH_SHUTDOWN_TIMEOUT"`
	// MaxHeaderBytes caps the request line plus headers of a request, in
	// bytes; more is 431. Default DefaultMaxHeaderBytes (16 KiB).
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// MaxBodyBytes caps a request body of the Authentication API, in bytes;
	// more is 413. Default DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int `toml:"max_body_bytes"`
	// MaxProxyBodyBytes caps a request body the edge forwards, in bytes: a
	// larger Content-Length is 413, a chunked body is cut once it runs over.
	// Default DefaultMaxProxyBodyBytes (0: no limit).
	MaxProxyBodyBytes int `toml:"max_proxy_body_bytes"`
	// WebSocketIdleTimeout closes a WebSocket tunnel idle (no byte either
	// way) this long. Default DefaultWebSocketIdleTimeout (1 h).
	WebSocketIdleTimeout Duration `toml:"websocket_idle_timeout" env:"ZECTRE_AUTH_WEBSOCKET_IDLE_TIMEOUT"`
	// MaxWebSocketConns caps the open WebSocket tunnels; beyond it an
	// upgrade is 503. Default DefaultMaxWebSocketConns (10 000).
	MaxWebSocketConns int `toml:"max_websocket_conns"`
	// ReadTimeout bounds the time from a connection's open (or a kept-alive
	// connection's first byte of the next request) to the end of the
	// request's headers, and of its body for the Authentication API.
	// Default DefaultReadTimeout (30 s).
	ReadTimeout Duration `toml:"read_timeout" env:"ZECTRE_AUTH_READ_TIMEOUT"`
	// IdleTimeout closes a kept-alive connection that sends no next request
	// for this long. Default DefaultIdleTimeout (2 min).
	IdleTimeout Duration `toml:"idle_timeout" env:"ZECTRE_AUTH_IDLE_TIMEOUT"`
	// DashboardURL is the base of auth_url in the CLI flow. Default empty:
	// the service serves /auth/cli itself under PublicURL.
	DashboardURL string `toml:"dashboard_url" env:"ZECTRE_AUTH_DASHBOARD_URL"`
	// SecretScanningKeysURL is the public-keys document that signs leak
	// reports (GitHub's secret scanning partner program). Default empty:
	// POST /api/v1/secret-scanning/github answers 404.
	SecretScanningKeysURL string `toml:"secret_scanning_keys_url" env:"ZECTRE_AUTH_SECRET_SCANNING_KEYS_URL"`
	// PublicURL is the service's own external base URL. Default empty,
	// meaning http://localhost:<port of Listen> (see AuthURLBase).
	PublicURL string `toml:"public_url" env:"ZECTRE_AUTH_PUBLIC_URL"`
	// DataDir is where the embedded default keeps its files (SQLite database,
	// generated JWT secret). Default DefaultDataDir ("./data").
	DataDir string `toml:"data_dir" env:"ZECTRE_AUTH_DATA_DIR"`
	// IdentityAssertion adds X-Zectre-Identity, an EdDSA JWT of the caller,
	// to every forwarded request with an identified caller, to forward-auth
	// 200 answers and to ext_authz OK answers. Default false.
	IdentityAssertion bool `toml:"identity_assertion"`
	// IdentityAudience is the assertion's aud. Default
	// DefaultIdentityAudience ("zectre-upstream").
	IdentityAudience string `toml:"identity_audience" env:"ZECTRE_AUTH_IDENTITY_AUDIENCE"`
	// IdentityTTL is the assertion's lifetime, MinIdentityTTL to
	// MaxIdentityTTL. Default DefaultIdentityTTL (60 s).
	IdentityTTL Duration `toml:"identity_ttl" env:"ZECTRE_AUTH_IDENTITY_TTL"`
	// IdentityKeyFile is the Ed25519 signing key (PKCS#8 PEM). Default
	// empty: generated once in DataDir (SQLite only; with Postgres every
	// replica must sign alike, so it is required).
	IdentityKeyFile string `toml:"identity_key_file" env:"ZECTRE_AUTH_IDENTITY_KEY_FILE"`
	// IdentityPreviousKeyFiles are keys (PKCS#8 PEM) whose public halves are
	// published but never used to sign, so that a key can be rotated
	// without a failed check. Default none.
	IdentityPreviousKeyFiles []string `toml:"identity_previous_key_files"`
	// DefaultAuth applies to requests no route matches. Default AuthOptional.
	DefaultAuth AuthMode `toml:"default_auth"`
	// TrustedProxies are CIDRs (or bare IPs) whose X-Forwarded-* and
	// X-Original-* headers are believed. Default DefaultTrustedProxies():
	// loopback only.
	TrustedProxies []string `toml:"trusted_proxies"`
	// Auth configures catalog (RS256) tokens.
	Auth Auth `toml:"auth"`
	// Limits are rate limits and concurrency caps.
	Limits Limits `toml:"limits"`
	// Routes are the edge rules, first match wins, in file order. Default none.
	Routes []Route `toml:"routes"`

	// origin maps a setting's TOML key to the name the user set it by (the
	// env var name), so that Validate's messages point at the right place.
	origin map[string]string
}

// Auth is the [auth] section; it mirrors zectre's own config.toml.
type Auth struct {
	// CatalogJWKSURL is zectre-catalog's JWKS URL (http or https). Default
	// empty: RS256 catalog tokens are not accepted.
	CatalogJWKSURL string `toml:"catalog_jwks_url" env:"ZECTRE_AUTH_CATALOG_JWKS_URL"`
	// JWTExpectedIss is the iss catalog tokens must carry. Default empty: not checked.
	JWTExpectedIss string `toml:"jwt_expected_iss" env:"ZECTRE_AUTH_JWT_EXPECTED_ISS"`
	// JWTExpectedAud is the aud catalog tokens must carry. Default empty: not checked.
	JWTExpectedAud string `toml:"jwt_expected_aud" env:"ZECTRE_AUTH_JWT_EXPECTED_AUD"`
}

// Limits is the [limits] section. Counts are per window: FailureWindow
// (one hour) for login failures, RequestWindow (one minute) for the rest.
type Limits struct {
	// LoginFailuresPerAccount: failed logins (and CLI completes) per account
	// per hour. Default DefaultLoginFailuresPerAccount (100).
	LoginFailuresPerAccount int `toml:"login_failures_per_account"`
	// LoginFailuresPerAddress: failed logins per client address per hour.
	// Default DefaultLoginFailuresPerAddress (1000).
	LoginFailuresPerAddress int `toml:"login_failures_per_address"`
	// SignupsPerAddress: signups per client address per minute. Default
	// DefaultSignupsPerAddress (120).
	SignupsPerAddress int `toml:"signups_per_address"`
	// CLIInitiatesPerAddress: CLI initiates per client address per minute.
	// Default DefaultCLIInitiatesPerAddress (120).
	CLIInitiatesPerAddress int `toml:"cli_initiates_per_address"`
	// CLIPollsPerAddress: CLI status polls per client address per minute.
	// Default DefaultCLIPollsPerAddress (1200).
	CLIPollsPerAddress int `toml:"cli_polls_per_address"`
	// MaxConcurrentHashes caps simultaneous argon2id hashes (each costs tens
	// of MiB), a count. Default DefaultMaxConcurrentHashes().
	MaxConcurrentHashes int `toml:"max_concurrent_hashes"`
}

// Route is one [[routes]] rule. Only parsed and validated here; matching
// lives in package proxy.
type Route struct {
	// Path is a glob over the normalised request path: "/"-separated
	// segments, "*" matches one segment, "**" any number (also none). Required.
	Path string `toml:"path"`
	// Methods are uppercase HTTP methods. Default empty: every method.
	Methods []string `toml:"methods"`
	// Auth is required, optional or public. Required.
	Auth AuthMode `toml:"auth"`
	// Scopes must all be held by an API key (or "*"). Default empty: none.
	Scopes []string `toml:"scopes"`
	// Upstream is this route's upstream base URL. Default empty: Config.Upstream.
	Upstream string `toml:"upstream"`
}

// DefaultTrustedProxies is the default for trusted_proxies: loopback only,
// so a proxy on another host must be listed explicitly.
func DefaultTrustedProxies() []string {
	return []string{"127.0.0.0/8", "::1/128"}
}

// DefaultMaxConcurrentHashes is 2 per usable CPU, at least 2. GOMAXPROCS
// rather than NumCPU: since Go 1.25 it follows the container's CPU limit, and
// a sidecar on a big node must not size its hash memory by the node.
func DefaultMaxConcurrentHashes() int {
	return max(2, 2*runtime.GOMAXPROCS(0))
}

// Default returns the built-in configuration, as Load does with no file and
// an empty environment.
func Default() Config {
	return Config{
		Listen:          DefaultListen,
		AdminListen:     DefaultAdminListen,
		DatabaseURL:     DefaultDatabaseURL,
		DataDir:         DefaultDataDir,
		DefaultAuth:     DefaultDefaultAuth,
		TrustedProxies:  DefaultTrustedProxies(),
		UpstreamTimeout: DefaultUpstreamTimeout,
		ShutdownDelay:   DefaultShutdownDelay,
		ShutdownTimeout: DefaultShutdownTimeout,
		RedisPrefix:     DefaultRedisPrefix,

		IdentityAudience: DefaultIdentityAudience,
		IdentityTTL:      DefaultIdentityTTL,

		MaxHeaderBytes:       DefaultMaxHeaderBytes,
		MaxBodyBytes:         DefaultMaxBodyBytes,
		MaxProxyBodyBytes:    DefaultMaxProxyBodyBytes,
		WebSocketIdleTimeout: DefaultWebSocketIdleTimeout,
		MaxWebSocketConns:    DefaultMaxWebSocketConns,
		ReadTimeout:          DefaultReadTimeout,
		IdleTimeout:          DefaultIdleTimeout,
		Limits: Limits{
			LoginFailuresPerAccount: DefaultLoginFailuresPerAccount,
			LoginFailuresPerAddress: DefaultLoginFailuresPerAddress,
			SignupsPerAddress:       DefaultSignupsPerAddress,
			CLIInitiatesPerAddress:  DefaultCLIInitiatesPerAddress,
			CLIPollsPerAddress:      DefaultCLIPollsPerAddress,
			MaxConcurrentHashes:     DefaultMaxConcurrentHashes(),
		},
	}
}

// Problem is one thing wrong with the configuration. Setting is the name the
// user wrote: the env var when the value came from the environment, else the
// TOML key (routes[2].path, auth.catalog_jwks_url).
type Problem struct {
	Setting string
	Message string
}

func (p *Problem) Error() string { return p.Setting + ": " + p.Message }
