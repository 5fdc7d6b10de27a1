package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// smoke is one run of the documented examples against one instance, with
// what earlier steps learned (the account, its token and keys) for the
// later ones. A step whose prerequisite failed still runs and fails on its
// own answer: every line says what that request got.
type smoke struct {
	c *client
	r *report

	// A fresh account per run, so that the run can be repeated against the
	// same instance. The password is random too: an account left behind on a
	// shared instance has no password anyone knows.
	email, password string

	user       map[string]any // the user object signup answered
	token      string
	key, keyID string // the quick start's "GitHub Actions" key
	// scoped is a key without "*", for INSUFFICIENT_SCOPE and list order.
	scoped, scopedID string
	code             string // the CLI login code
	cliKey, cliKeyID string
}

func newSmoke(c *client, r *report) (*smoke, error) {
	id, err := randomHex(8)
	if err != nil {
		return nil, err
	}
	pw, err := randomHex(12)
	if err != nil {
		return nil, err
	}
	s := &smoke{c: c, r: r, email: "smoke+" + id + "@example.com", password: "smoke-" + pw}
	r.keep(s.password, 0)
	return s, nil
}

// all runs every check in the order of the README's quick start, then the
// documented errors, then removes the keys the run created.
func (s *smoke) all() {
	s.health()
	s.signup()
	s.login()
	s.currentUser()
	s.apiKeys()
	s.cliFlow()
	s.accountErrors()
	s.credentialErrors()
	s.requestErrors()
	s.cleanup()
}

func (s *smoke) check(name string, problems []string) { s.r.check(name, problems) }

// take returns the string member name of r's body and registers it as a
// secret shown by its first n characters. It is called on every answer
// that may carry a credential before anything is checked, so that even a
// malformed answer cannot make the run print one.
func (s *smoke) take(r response, name string, n int) string {
	v := str(r.object(), name)
	s.r.keep(v, n)
	return v
}

// credentials is the JSON body of the account's email and password.
func (s *smoke) credentials() string {
	return fmt.Sprintf(`{"email":%q,"password":%q}`, s.email, s.password)
}

func (s *smoke) bearer() []string { return []string{"Authorization", "Bearer " + s.token} }

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
