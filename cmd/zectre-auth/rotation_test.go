package main

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zectre/zectre-auth/cache/cachetest"
)

// rotatedSecret replaces testSecret in the rolling-deploy test.
const rotatedSecret = "fedcba9876543210fedcba9876543210-rotated"

// TestRollingSecretRotation runs the runbook of docs/operations.md on two
// replicas over one PostgreSQL and one Redis: replica A on the old secret,
// replica B on the new one with the old as previous, then A moved too. No
// token issued on the way, nor one issued before tokens named their
// secret, is ever refused by a replica that the runbook has reached.
func TestRollingSecretRotation(t *testing.T) {
	up := newRecorder(t)
	base, dir := replicaEnv(t, cachetest.RedisURL(t), up.srv.URL)
	with := func(secret string, previous string) []string {
		e := append(append([]string(nil), base...), "ZECTRE_AUTH_JWT_SECRET="+secret)
		return append(e, "ZECTRE_AUTH_JWT_PREVIOUS_SECRETS="+previous)
	}
	accepts := func(s *server, what, token string) bool {
		t.Helper()
		who := s.whoami("Authorization", "Bearer "+token)
		edge := proxied(t, s, "/apps/1", "Authorization", "Bearer "+token)
		if who != edge {
			t.Fatalf("%s on %s: API answered %d, edge %d", what, s.base, who, edge)
		}
		return who == 200
	}
	mustAccept := func(s *server, step string, tokens map[string]string) {
		t.Helper()
		for what, tok := range tokens {
			if !accepts(s, what, tok) {
				t.Errorf("%s: %s refused by %s", step, what, s.base)
			}
		}
	}

	// Before: A signs with the old secret only.
	a := start(t, dir, with(testSecret, ""))
	oldToken, _ := a.account("rotation@example.com")
	st, me := a.call("GET", "/api/v1/user", "", "Authorization", "Bearer "+oldToken)
	if st != 200 {
		t.Fatalf("whoami: %d %v", st, me)
	}
	// A token as issued before tokens carried a kid.
	legacy, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer: "zectre-auth", Subject: me["id"].(string),
		IssuedAt:  jwt.NewNumericDate(time.Now().Truncate(time.Second)),
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"old-secret token": oldToken, "token without kid": legacy}
	mustAccept(a, "before", tokens)

	// B comes up on the new secret with the old one as previous: tokens of
	// both work on B.
	b := start(t, t.TempDir(), with(rotatedSecret, testSecret))
	st, login := b.call("POST", "/api/v1/auth/login", `{"email":"rotation@example.com","password":"hunter2abc"}`)
	if st != 200 {
		t.Fatalf("login on B: %d %v", st, login)
	}
	newToken := login["token"].(string)
	tokens["new-secret token"] = newToken
	mustAccept(b, "B rotated, A not yet", tokens)
	// A replica that knows only the old secret refuses B's tokens: this is
	// why the runbook first lets every replica accept the new secret.
	if accepts(a, "new-secret token", newToken) {
		t.Error("a replica without the new secret accepted a token signed with it")
	}

	// Runbook step 1 on A: still signing with the old secret, accepting the new.
	a.stop()
	a = start(t, dir, with(testSecret, rotatedSecret))
	mustAccept(a, "A accepts the new secret", tokens)

	// Runbook step 2 on A: A is moved too.
	a.stop()
	a = start(t, dir, with(rotatedSecret, testSecret))
	st, login = a.call("POST", "/api/v1/auth/login", `{"email":"rotation@example.com","password":"hunter2abc"}`)
	if st != 200 {
		t.Fatalf("login on A: %d %v", st, login)
	}
	tokens["new-secret token from A"] = login["token"].(string)
	mustAccept(a, "both rotated", tokens)
	mustAccept(b, "both rotated", tokens)

	// Runbook step 3, once the old tokens have expired: the old secret is
	// retired, and what it signed stops.
	b.stop()
	b = start(t, t.TempDir(), with(rotatedSecret, ""))
	mustAccept(b, "old secret retired", map[string]string{"new-secret token": newToken, "new-secret token from A": tokens["new-secret token from A"]})
	for _, what := range []string{"old-secret token", "token without kid"} {
		if accepts(b, what, tokens[what]) {
			t.Errorf("old secret retired: %s still accepted", what)
		}
	}
	a.stop()
	b.stop()
}
