package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults of the JWKS key source (see CatalogOptions).
const (
	// DefaultJWKSRefreshInterval is how often the JWKS is fetched again in
	// the background, so that removed keys stop being honoured.
	DefaultJWKSRefreshInterval = 5 * time.Minute
	// DefaultUnknownKIDInterval and DefaultUnknownKIDBurst limit the extra
	// fetches that a token naming an unknown kid triggers: at most a burst
	// of 2, then one per 10 s. A flood of tokens with random kids thus costs
	// the catalog at most 6 fetches a minute per replica, while a real key
	// rotation is picked up by the first token that names the new kid, or
	// within 10 s when a flood holds the limit (any fetch, whoever caused
	// it, brings the new key along).
	DefaultUnknownKIDInterval = 10 * time.Second
	DefaultUnknownKIDBurst    = 2
	// DefaultJWKSTimeout bounds one fetch of the JWKS, including the first
	// one at start, and the time a request waits for an unknown-kid fetch.
	DefaultJWKSTimeout = 5 * time.Second
)

// maxJWKSBytes caps a JWKS response: a few dozen keys fit in a few KiB, and
// the cap keeps a broken or hostile endpoint from filling memory.
const maxJWKSBytes = 1 << 20

// minRSABits refuses JWKS keys weaker than NIST's floor for signatures.
const minRSABits = 2048

// catalogAlgs are the only algorithms a catalog token may name: asymmetric
// ones. An HMAC algorithm here would let anyone who knows a public key sign
// with it; none needs no key at all.
var catalogAlgs = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
}

var errJWKSRedirect = errors.New("jwks: redirects are not followed")

// jwksKeys are the catalog's public keys, fetched from its JWKS URL by
// jwkset's HTTP storage (through keyfunc): in the background every refresh
// interval, and on demand, rate-limited, when a token names an unknown kid.
// A failed fetch leaves the last good keys in place.
type jwksKeys struct {
	storage jwkset.Storage
	client  *http.Client
	cancel  context.CancelFunc
}

// newJWKSKeys fetches the JWKS once, waiting at most o.HTTPTimeout. When
// that fetch fails the keys start empty, the failure is logged, and every
// catalog token is refused until a later fetch (the background one, or one
// caused by a token's unknown kid) succeeds: a catalog outage at start must
// not keep the service from starting.
func newJWKSKeys(ctx context.Context, o CatalogOptions, log *slog.Logger) (*jwksKeys, error) {
	u, err := url.Parse(o.JWKSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("authn: catalog jwks url must be an http or https url")
	}
	where := u.Redacted()
	ctx, cancel := context.WithCancel(ctx)
	client := jwksClient(o.HTTPTimeout)
	kf, err := newKeyfunc(ctx, o, client, func(ctx context.Context, err error) {
		log.WarnContext(ctx, "catalog jwks fetch failed; keeping the last good keys", "url", where, "error", err)
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("authn: catalog jwks: %w", err)
	}
	k := &jwksKeys{storage: kf.Storage(), client: client, cancel: cancel}
	if keys, err := k.storage.KeyReadAll(ctx); err != nil || len(keys) == 0 {
		log.WarnContext(ctx, "catalog jwks has no keys yet; catalog tokens are refused until a fetch succeeds",
			"url", where, "retry_every", o.RefreshInterval, "unknown_kid_retry_every", o.UnknownKIDInterval)
	} else {
		log.InfoContext(ctx, "catalog jwks loaded", "url", where, "keys", len(keys))
	}
	return k, nil
}

// newKeyfunc builds what keyfunc.NewDefaultOverrideCtx would, with the
// fetched keys kept in a storage that reports each successful fetch to
// o.OnRefresh: jwkset offers a hook for failed fetches only.
//
// The fetch at start waits at most o.HTTPTimeout and its failure is no
// error (see newJWKSKeys). Background fetches run every o.RefreshInterval;
// a token naming an unknown kid causes one more, within the
// o.UnknownKIDInterval/o.UnknownKIDBurst limit, and waits for the next slot
// only if that fits within o.HTTPTimeout, else it is refused at once. Each
// slot can be reserved once, so under a flood at most one request per slot
// waits; the rest fail fast.
func newKeyfunc(ctx context.Context, o CatalogOptions, client *http.Client, failed func(context.Context, error)) (keyfunc.Keyfunc, error) {
	var keys jwkset.Storage = jwkset.NewMemoryStorage()
	onError := failed
	if o.OnRefresh != nil {
		keys = refreshedStorage{Storage: keys, refreshed: func(n int) { o.OnRefresh(n, nil) }}
		onError = func(ctx context.Context, err error) {
			failed(ctx, err)
			o.OnRefresh(0, err)
		}
	}
	remote, err := jwkset.NewStorageFromHTTP(o.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               o.HTTPTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       onError,
		RefreshInterval:           o.RefreshInterval,
		Storage:                   keys,
	})
	if err != nil {
		return nil, err
	}
	storage, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{o.JWKSURL: remote},
		RateLimitWaitMax:  o.HTTPTimeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(o.UnknownKIDInterval), o.UnknownKIDBurst),
	})
	if err != nil {
		return nil, err
	}
	return keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: storage})
}

// refreshedStorage reports each successful fetch: jwkset replaces all keys
// exactly once per fetch that succeeded, and never otherwise.
type refreshedStorage struct {
	jwkset.Storage
	refreshed func(keys int)
}

func (s refreshedStorage) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	if err := s.Storage.KeyReplaceAll(ctx, given); err != nil {
		return err
	}
	s.refreshed(len(given))
	return nil
}

// close ends the background refresh and the idle connection to the catalog.
func (k *jwksKeys) close() {
	k.cancel()
	k.client.CloseIdleConnections()
}

// keyfunc returns the key a catalog token must verify with, pinned to the
// algorithm its JWK allows. The parser has already refused algorithms
// outside catalogAlgs; the per-key check narrows that to the one algorithm
// of the key the token names, so a token cannot pick, say, PS256 for a key
// published for RS256. A token without kid is checked against every key
// whose algorithm is the token's.
func (k *jwksKeys) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		raw, ok := t.Header["kid"]
		if !ok {
			return k.keysFor(ctx, alg)
		}
		kid, ok := raw.(string)
		if !ok || kid == "" {
			return nil, errors.New("kid is not a non-empty string")
		}
		// Reading an unknown kid fetches the JWKS again, within the limit.
		j, err := k.storage.KeyRead(ctx, kid)
		if err != nil {
			return nil, fmt.Errorf("no key %q in the catalog jwks", kid)
		}
		key, keyAlg, err := verificationKey(j)
		if err != nil {
			return nil, err
		}
		if alg != keyAlg {
			return nil, fmt.Errorf("key %q is for %s, the token names %s", kid, keyAlg, alg)
		}
		return key, nil
	}
}

func (k *jwksKeys) keysFor(ctx context.Context, alg string) (jwt.VerificationKeySet, error) {
	all, err := k.storage.KeyReadAll(ctx)
	if err != nil {
		return jwt.VerificationKeySet{}, err
	}
	var set jwt.VerificationKeySet
	for _, j := range all {
		if key, keyAlg, err := verificationKey(j); err == nil && keyAlg == alg {
			set.Keys = append(set.Keys, key)
		}
	}
	if len(set.Keys) == 0 {
		return set, fmt.Errorf("no %s key in the catalog jwks", alg)
	}
	return set, nil
}

// verificationKey returns a JWK's public key and the one algorithm it may
// verify: the JWK's own alg when it names one (which must fit the key), else
// RS256 for RSA keys and the curve's algorithm for EC and Ed25519 keys.
// Symmetric keys, encryption keys and weak RSA keys are refused.
func verificationKey(j jwkset.JWK) (key any, alg string, err error) {
	m := j.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, "", fmt.Errorf("key %q is not a signing key", m.KID)
	}
	key = j.Key()
	if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = pk.Public()
	}
	var fits func(alg string) bool
	switch pub := key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, "", fmt.Errorf("key %q has fewer than %d bits", m.KID, minRSABits)
		}
		alg = "RS256"
		fits = func(a string) bool {
			switch a {
			case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
				return true
			}
			return false
		}
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			alg = "ES256"
		case elliptic.P384():
			alg = "ES384"
		case elliptic.P521():
			alg = "ES512"
		default:
			return nil, "", fmt.Errorf("key %q has an unsupported curve", m.KID)
		}
		fits = func(a string) bool { return a == alg }
	case ed25519.PublicKey:
		alg = "EdDSA"
		fits = func(a string) bool { return a == alg }
	default:
		return nil, "", fmt.Errorf("key %q is not an asymmetric signing key", m.KID)
	}
	if declared := m.ALG.String(); declared != "" {
		if !fits(declared) {
			return nil, "", fmt.Errorf("key %q declares %s, which does not fit its key type", m.KID, declared)
		}
		alg = declared
	}
	return key, alg, nil
}

// jwksClient fetches the JWKS with a deadline and never follows a redirect:
// the keys must come from the configured URL, not from wherever it points.
func jwksClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: cappedTransport{next: http.DefaultTransport.(*http.Transport).Clone(), limit: maxJWKSBytes},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errJWKSRedirect
		},
	}
}

// cappedTransport fails reading a response body longer than limit bytes.
type cappedTransport struct {
	next  http.RoundTripper
	limit int64
}

func (t cappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: t.limit}
	return resp, nil
}

type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly max bytes from a longer one.
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("jwks: response larger than %d bytes", maxJWKSBytes)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
