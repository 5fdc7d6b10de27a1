package service

import (
	"crypto/ed25519"
	"fmt"

	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/identity"
)

// openIdentity builds the signer of the identity assertions when
// identity_assertion is on (nil otherwise): the key of identity_key_file,
// or else the one generated in data_dir, and the public keys of
// identity_previous_key_files. Keys are read at start only; a reload keeps
// the signer.
func openIdentity(cfg config.Config) (*identity.Signer, error) {
	if !cfg.IdentityAssertion {
		return nil, nil
	}
	var key ed25519.PrivateKey
	var err error
	if cfg.IdentityKeyFile != "" {
		if key, err = identity.ReadKeyFile(cfg.IdentityKeyFile); err != nil {
			return nil, &SettingError{"identity_key_file", err}
		}
	} else if key, err = identity.LoadOrCreateKey(cfg.DataDir); err != nil {
		return nil, &SettingError{"data_dir", err}
	}
	var prev []ed25519.PublicKey
	for i, f := range cfg.IdentityPreviousKeyFiles {
		k, err := identity.ReadKeyFile(f)
		if err != nil {
			return nil, &SettingError{fmt.Sprintf("identity_previous_key_files[%d]", i), err}
		}
		prev = append(prev, k.Public().(ed25519.PublicKey))
	}
	signer, err := identity.NewSigner(identity.Options{
		Key: key, Previous: prev, Issuer: cfg.PublicBase(),
		Audience: cfg.IdentityAudience, TTL: cfg.IdentityTTL.Std(),
	})
	if err != nil {
		return nil, &SettingError{"identity_ttl", err}
	}
	return signer, nil
}
