package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// tokenLifetime is the login token's documented lifetime.
const tokenLifetime = 7 * 24 * time.Hour

// clockTolerance bounds how far a computed expiry may be from the server's
// Date header plus the documented lifetime: the header is to the second,
// and the server computed the expiry while answering.
const clockTolerance = time.Minute

func (s *smoke) health() {
	r := s.c.do("GET", "/healthz", "")
	p := answer(r, 200)
	if answered(r, 200) {
		p = append(p, shape("", r.body, fields{"status": equals("ok")})...)
	}
	s.check("GET /healthz: 200 {\"status\":\"ok\"}", p)

	r = s.c.do("GET", "/readyz", "")
	p = answer(r, 200)
	if answered(r, 200) {
		want := fields{"status": equals("ready")}
		if str(r.object(), "status") == "degraded" {
			// Redis is down but the database answers: still in service.
			want = fields{"status": equals("degraded"), "redis": equals("unreachable")}
		}
		p = append(p, shape("", r.body, want)...)
	}
	s.check("GET /readyz: 200 ready (or degraded without Redis)", p)
}

// userFields is the user object of the run's account: before signup
// answered, any id and creation time; after, exactly the ones it answered.
func (s *smoke) userFields() fields {
	f := fields{"id": isUUID, "email": equals(s.email), "name": equals("Alice"), "is_admin": isBool(false), "created_at": isTimestamp}
	if s.user != nil {
		f["id"], f["created_at"] = equals(str(s.user, "id")), equals(str(s.user, "created_at"))
	}
	return f
}

func (s *smoke) signup() {
	// Mixed case and spaces: the documented trimming and lowercasing.
	spelled := "  " + strings.ToUpper(s.email[:1]) + s.email[1:] + " "
	r := s.c.do("POST", "/api/v1/auth/signup", fmt.Sprintf(`{"email":%q,"password":%q,"name":"Alice"}`, spelled, s.password))
	p := answer(r, 201)
	if answered(r, 201) {
		p = append(p, shape("", r.body, s.userFields())...)
		p = append(p, near("created_at", str(r.object(), "created_at"), r.now, clockTolerance)...)
	}
	if r.status == 201 && r.object() != nil {
		s.user = r.object()
	}
	s.check("signup: 201 with the user object, email trimmed and lowercased", p)
}

func (s *smoke) login() {
	r := s.c.do("POST", "/api/v1/auth/login", s.credentials())
	s.token = s.take(r, "token", tokenShown)
	p := answer(r, 200)
	if answered(r, 200) {
		shaped := shape("", r.body, fields{"token": isJWT, "expires_at": isTimestamp, "user": object(s.userFields())})
		p = append(p, shaped...)
		if len(shaped) == 0 {
			p = append(p, s.tokenProblems(s.token, str(r.object(), "expires_at"), r.now)...)
		}
	}
	s.check("login: 200 with a 7-day token, expires_at and the user", p)
}

// tokenProblems checks the token's claims against the documented ones:
// HS256, sub the user, iss zectre-auth, exp equal to expires_at and seven
// days after iat.
func (s *smoke) tokenProblems(token, expiresAt string, now time.Time) []string {
	parts := strings.Split(token, ".")
	var header struct{ Alg string }
	var claims struct {
		Sub, Iss string
		Exp, Iat *int64
	}
	if len(parts) != 3 || decodePart(parts[0], &header) != nil || decodePart(parts[1], &claims) != nil {
		return []string{"the token's header or claims are not base64url JSON"}
	}
	var p []string
	if header.Alg != "HS256" {
		p = append(p, fmt.Sprintf("token alg %q, want HS256", header.Alg))
	}
	if claims.Sub != str(s.user, "id") {
		p = append(p, fmt.Sprintf("token sub %q, want the user's id %q", claims.Sub, str(s.user, "id")))
	}
	if claims.Iss != "zectre-auth" {
		p = append(p, fmt.Sprintf("token iss %q, want zectre-auth", claims.Iss))
	}
	if claims.Exp == nil || claims.Iat == nil {
		return append(p, "the token lacks exp or iat")
	}
	exp := time.Unix(*claims.Exp, 0).UTC()
	if got := exp.Format(time.RFC3339); got != expiresAt {
		p = append(p, fmt.Sprintf("expires_at %s, but the token's exp is %s", expiresAt, got))
	}
	if d := time.Duration(*claims.Exp-*claims.Iat) * time.Second; d != tokenLifetime {
		p = append(p, fmt.Sprintf("exp is %s after iat, want %s", d, tokenLifetime))
	}
	return append(p, near("expires_at", expiresAt, now.Add(tokenLifetime), clockTolerance)...)
}

func decodePart(part string, dst any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

// currentUser is "Who am I?" with the login token.
func (s *smoke) currentUser() {
	s.whoAmI("GET /api/v1/user with the token: 200 the same user", s.bearer()...)
}

// whoAmI checks GET /api/v1/user with one credential header.
func (s *smoke) whoAmI(name string, header ...string) {
	r := s.c.do("GET", "/api/v1/user", "", header...)
	p := answer(r, 200)
	if answered(r, 200) {
		p = append(p, shape("", r.body, s.userFields())...)
	}
	s.check(name, p)
}
