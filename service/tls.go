package service

import (
	"crypto/tls"
	"errors"

	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/tlsfiles"
)

// openTLS loads the main listener's certificate pair and client CAs when
// cfg asks for TLS. A file that does not load is a SettingError of the
// setting naming it: a bad certificate or an expired one of tls_cert_file,
// a missing key or one that does not match of tls_key_file.
func (s *Service) openTLS(cfg config.Config) error {
	if !cfg.TLS() {
		return nil
	}
	pair, err := tlsfiles.Open(cfg.TLSCertFile, cfg.TLSKeyFile, tlsfiles.Options{
		Log: s.Log, OnReload: s.Metrics.TLSLoaded,
	})
	if err != nil {
		key := "tls_cert_file"
		if pe := (*tlsfiles.PartError)(nil); errors.As(err, &pe) && pe.Part == tlsfiles.PartKey {
			key = "tls_key_file"
		}
		return &SettingError{key, err}
	}
	var conf *tls.Config
	if cfg.TLSClientCAFile != "" {
		cas, err := tlsfiles.LoadCAs(cfg.TLSClientCAFile)
		if err != nil {
			return &SettingError{"tls_client_ca_file", err}
		}
		conf = pair.ServerConfig(cas)
	} else {
		conf = pair.ServerConfig(nil)
	}
	s.tls, s.tlsConfig = pair, conf
	return nil
}

// ReloadTLS reads the listener's certificate pair again (what SIGHUP
// does): the new pair is served to new connections if it loads, else the
// old one stays and the error is returned (it is logged and counted too).
// Without TLS there is nothing to reload and it returns nil.
func (s *Service) ReloadTLS() error {
	if s.tls == nil {
		return nil
	}
	return s.tls.Reload()
}

// TLS reports whether the main listener speaks TLS.
func (s *Service) TLS() bool { return s.tls != nil }
