package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Pair is the certificate being served, read from two files. Its
// GetCertificate is the listener's tls.Config.GetCertificate: each new
// handshake takes whatever pair is current, while connections already open
// keep the one they were made with.
type Pair struct {
	certFile, keyFile string
	opt               Options
	current           atomic.Pointer[tls.Certificate]
	reload            sync.Mutex // one reload at a time, so that an older read never wins
}

// Options are what a Pair needs besides its files. The zero value logs
// nowhere and observes nothing.
type Options struct {
	// Log receives each reload's outcome; nil discards.
	Log *slog.Logger
	// OnReload observes every load (the one at start too): the served
	// leaf's expiry on success, the error on failure, in which case the
	// previous pair stays.
	OnReload func(notAfter time.Time, err error)
	// Now is the clock of the expiry check; nil is time.Now.
	Now func() time.Time
}

// Open loads the pair for the first time; unlike a reload, a failure here
// is returned (as a *PartError), since there is nothing to keep serving.
func Open(certFile, keyFile string, o Options) (*Pair, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.OnReload == nil {
		o.OnReload = func(time.Time, error) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Pair{certFile: certFile, keyFile: keyFile, opt: o}
	c, err := Load(certFile, keyFile, o.Now())
	if err != nil {
		return nil, err
	}
	p.current.Store(c)
	o.OnReload(c.Leaf.NotAfter, nil)
	return p, nil
}

// GetCertificate is the pair served now, whatever the client asks for.
func (p *Pair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return p.current.Load(), nil
}

// Leaf is the certificate served now.
func (p *Pair) Leaf() *x509.Certificate { return p.current.Load().Leaf }

// Reload reads the files again and serves the new pair if it loads; if it
// does not, the current pair stays and the error is logged, observed and
// returned. Reading the same pair again changes nothing and is not logged.
func (p *Pair) Reload() error {
	p.reload.Lock()
	defer p.reload.Unlock()
	c, err := Load(p.certFile, p.keyFile, p.opt.Now())
	if err != nil {
		p.opt.Log.Error("tls certificate reload refused; still serving the previous one",
			"tls_cert_file", p.certFile, "tls_key_file", p.keyFile, "err", err)
		p.opt.OnReload(time.Time{}, err)
		return err
	}
	old := p.current.Load()
	if same(old, c) {
		return nil
	}
	p.current.Store(c)
	p.opt.OnReload(c.Leaf.NotAfter, nil)
	p.opt.Log.Info("tls certificate reloaded", "subject", c.Leaf.Subject.String(),
		"serial", c.Leaf.SerialNumber.String(), "not_after", c.Leaf.NotAfter.UTC())
	return nil
}

// same: the same chain (the key follows, since it matched it).
func same(a, b *tls.Certificate) bool {
	if len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	return true
}

// ServerConfig is the main listener's TLS: TLS 1.2 and later, HTTP/1.1
// only (the server speaks nothing else), the pair's current certificate,
// and, when clientCAs is not nil, client certificates required and
// verified against it.
func (p *Pair) ServerConfig(clientCAs *x509.CertPool) *tls.Config {
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: p.GetCertificate,
	}
	if clientCAs != nil {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = clientCAs
	}
	return c
}
