package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// cliCodeLifetime is how long a CLI login code can be completed.
const cliCodeLifetime = 10 * time.Minute

const deviceName = "My MacBook"

// cliFlow is the quick start's CLI login: initiate, a pending poll,
// complete, the one completed poll, and SESSION_USED after.
func (s *smoke) cliFlow() {
	r := s.c.do("POST", "/api/v1/auth/cli/initiate", fmt.Sprintf(`{"device_name":%q}`, deviceName))
	s.code = s.take(r, "code", codeShown)
	p := answer(r, 200)
	if answered(r, 200) {
		shaped := shape("", r.body, fields{"code": isCode, "auth_url": nonEmpty, "expires_at": isTimestamp})
		p = append(p, shaped...)
		if len(shaped) == 0 {
			m := r.object()
			if authURL := str(m, "auth_url"); !isAuthURL(authURL, s.code) {
				p = append(p, fmt.Sprintf("auth_url %q, want <base>/auth/cli?code=<code>", authURL))
			}
			p = append(p, near("expires_at", str(m, "expires_at"), r.now.Add(cliCodeLifetime), clockTolerance)...)
		}
	}
	s.check("cli initiate: 200 with a code, its auth_url and a 10-minute expiry", p)

	r = s.c.do("GET", "/api/v1/auth/cli/status/"+s.code, "")
	p = answer(r, 200)
	if answered(r, 200) {
		p = append(p, shape("", r.body, fields{"status": equals("pending"), "api_key": isNull, "user": isNull})...)
	}
	s.check("cli status before completion: 200 pending, api_key and user null", p)

	complete := fmt.Sprintf(`{"code":%q,"email":%q,"password":%q}`, s.code, s.email, s.password)
	r = s.c.do("POST", "/api/v1/auth/cli/complete", complete)
	s.cliKey = s.take(r, "api_key", keyShown)
	p = answer(r, 200)
	if answered(r, 200) {
		p = append(p, shape("", r.body, fields{"success": isBool(true), "api_key": isAPIKey, "user": object(s.userFields())})...)
	}
	s.check("cli complete: 200 success with a key and the user", p)

	r = s.c.do("GET", "/api/v1/auth/cli/status/"+s.code, "")
	s.take(r, "api_key", keyShown)
	p = answer(r, 200)
	if answered(r, 200) {
		p = append(p, shape("", r.body, fields{"status": equals("completed"), "api_key": equals(s.cliKey), "user": object(s.userFields())})...)
	}
	s.check("cli status after completion: 200 completed with the same key and the user", p)

	r = s.c.do("GET", "/api/v1/auth/cli/status/"+s.code, "")
	s.take(r, "api_key", keyShown)
	s.check("cli status once more: 409 SESSION_USED", apiError(r, 409, "SESSION_USED"))

	r = s.c.do("POST", "/api/v1/auth/cli/complete", complete)
	s.take(r, "api_key", keyShown)
	s.check("cli complete again: 409 SESSION_USED", apiError(r, 409, "SESSION_USED"))

	s.whoAmI("GET /api/v1/user with the CLI's key: 200 the same user", "X-API-Key", s.cliKey)
	s.check(`the CLI's key is listed as "CLI: `+deviceName+`", scopes ["*"], no expiry`, s.cliKeyListed())

	unknown := strings.Repeat("0", 64)
	r = s.c.do("GET", "/api/v1/auth/cli/status/"+unknown, "")
	s.check("cli status of an unknown code: 404 INVALID_CODE", apiError(r, 404, "INVALID_CODE"))
	r = s.c.do("POST", "/api/v1/auth/cli/complete", fmt.Sprintf(`{"code":%q,"email":%q,"password":%q}`, unknown, s.email, s.password))
	s.check("cli complete of an unknown code: 404 INVALID_CODE", apiError(r, 404, "INVALID_CODE"))
}

func (s *smoke) cliKeyListed() []string {
	items, p := s.listed()
	if items == nil {
		return p
	}
	if len(s.cliKey) < keyShown {
		return []string{"no key from the CLI flow to look for"}
	}
	for _, it := range items {
		if str(it, "prefix") != s.cliKey[:keyShown] {
			continue
		}
		s.cliKeyID = str(it, "id")
		return append(p, shape("the key", it, fields{
			"id": isUUID, "name": equals("CLI: " + deviceName), "prefix": equals(s.cliKey[:keyShown]),
			"scopes": stringList("*"), "expires_at": isNull, "last_used_at": orNull(isTimestamp), "created_at": isTimestamp,
		})...)
	}
	return append(p, "no listed key has the CLI key's prefix")
}

// isAuthURL: an http(s) URL with a host, ending in /auth/cli?code=<code>
// (the base is the dashboard or the service, by configuration).
func isAuthURL(s, code string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		strings.HasSuffix(s, "/auth/cli?code="+code)
}
