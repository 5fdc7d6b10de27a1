package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
)

// jwk is one public key of the JWKS document (RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// jwksDocument renders the public keys, the signing key first.
func jwksDocument(pubs []ed25519.PublicKey) []byte {
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, p := range pubs {
		doc.Keys = append(doc.Keys, jwk{
			Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(p),
			Kid: KeyID(p), Alg: "EdDSA", Use: "sig",
		})
	}
	b, _ := json.Marshal(doc) // strings only: cannot fail
	return b
}
