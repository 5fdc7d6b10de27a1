package main

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// revocationDelay is how soon a deleted key stops working on every replica
// (docs/edge.md); on one instance it is at once.
const revocationDelay = time.Second

var prefixPattern = regexp.MustCompile(`^zec_[0-9A-Za-z]{4}$`)

// listedKey is a key as GET /api/v1/api-keys shows it: never the raw key.
var listedKey = fields{
	"id": isUUID, "name": nonEmpty, "prefix": matches(prefixPattern, "zec_ and 4 base62 characters"),
	"scopes": isScopes, "expires_at": orNull(isTimestamp), "last_used_at": orNull(isTimestamp),
	"created_at": isTimestamp,
}

func isScopes(v any) string {
	arr, ok := v.([]any)
	for _, e := range arr {
		_, isString := e.(string)
		ok = ok && isString
	}
	if !ok || len(arr) == 0 {
		return describe(v) + ", want a non-empty array of strings"
	}
	return ""
}

func (s *smoke) apiKeys() {
	var created []map[string]any

	r := s.c.do("POST", "/api/v1/api-keys", `{"name":"GitHub Actions","scopes":["*"],"expires_in_days":90}`, s.bearer()...)
	s.key, s.keyID = s.take(r, "key", keyShown), str(r.object(), "id")
	p := s.createdKey(r, "GitHub Actions", []string{"*"}, 90)
	if answered(r, 201) {
		created = append(created, r.object())
	}
	s.check("create an API key: 201 with the raw key, its prefix, scopes and a 90-day expiry", p)

	s.whoAmI("GET /api/v1/user with X-API-Key: 200 the same user", "X-API-Key", s.key)
	s.whoAmI("GET /api/v1/user with the key as a bearer token: 200 the same user", "Authorization", "Bearer "+s.key)

	r = s.c.do("POST", "/api/v1/api-keys", `{"name":"read only","scopes":["apps:read","apps:read"]}`, s.bearer()...)
	s.scoped, s.scopedID = s.take(r, "key", keyShown), str(r.object(), "id")
	p = s.createdKey(r, "read only", []string{"apps:read"}, 0)
	if answered(r, 201) {
		created = append(created, r.object())
	}
	s.check("create a key with a scope and no expiry: 201, repeated scopes dropped, expires_at null", p)

	s.listKeys(created)

	s.whoAmI("a key without \"*\" still reads GET /api/v1/user", "X-API-Key", s.scoped)
	r = s.c.do("GET", "/api/v1/api-keys", "", "X-API-Key", s.scoped)
	s.check("a key without \"*\" cannot list keys: 403 INSUFFICIENT_SCOPE", apiError(r, 403, "INSUFFICIENT_SCOPE"))

	r = s.c.do("DELETE", "/api/v1/api-keys/"+s.keyID, "", s.bearer()...)
	s.check("delete the key: 204 without a body", answer(r, 204))

	deadline := time.Now().Add(revocationDelay)
	for {
		r = s.c.do("GET", "/api/v1/user", "", "X-API-Key", s.key)
		if r.err != nil || r.status != 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.check("the deleted key: 401 INVALID_API_KEY (within "+revocationDelay.String()+")", apiError(r, 401, "INVALID_API_KEY"))

	r = s.c.do("DELETE", "/api/v1/api-keys/"+s.keyID, "", s.bearer()...)
	s.check("delete it again: 404 NOT_FOUND", apiError(r, 404, "NOT_FOUND"))
}

// createdKey checks the answer to a key creation: the raw key shown once,
// its prefix its first 8 characters, and expires_at days after created_at
// (null for 0).
func (s *smoke) createdKey(r response, name string, scopes []string, days int) []string {
	p := answer(r, 201)
	if !answered(r, 201) {
		return p
	}
	expires := valueCheck(isNull)
	if days > 0 {
		expires = isTimestamp
	}
	shaped := shape("", r.body, fields{
		"id": isUUID, "name": equals(name), "key": isAPIKey, "prefix": nonEmpty,
		"scopes": stringList(scopes...), "expires_at": expires, "created_at": isTimestamp,
	})
	if p = append(p, shaped...); len(shaped) > 0 {
		return p
	}
	m := r.object()
	if got, want := str(m, "prefix"), str(m, "key")[:keyShown]; got != want {
		p = append(p, fmt.Sprintf("prefix %q, want the key's first 8 characters %q", got, want))
	}
	created, _ := time.Parse(time.RFC3339, str(m, "created_at"))
	p = append(p, near("created_at", str(m, "created_at"), r.now, clockTolerance)...)
	if days > 0 {
		p = append(p, near("expires_at", str(m, "expires_at"), created.Add(time.Duration(days)*24*time.Hour), 0)...)
	}
	return p
}

// listKeys checks GET /api/v1/api-keys: every item in the listed shape,
// the created keys as they were answered (without the raw key), newest
// first, and no raw key anywhere.
func (s *smoke) listKeys(created []map[string]any) {
	items, p := s.listed()
	if items != nil {
		for _, raw := range []string{s.key, s.scoped} {
			if raw != "" && strings.Contains(fmt.Sprint(items), raw) {
				p = append(p, "the list holds a raw key")
			}
		}
		at := map[string]int{}
		for i, it := range items {
			at[str(it, "id")] = i
		}
		last := -1
		// created is oldest first: walked newest first, each key must be
		// listed after the one before it.
		for j := len(created) - 1; j >= 0; j-- {
			c := created[j]
			i, ok := at[str(c, "id")]
			if !ok {
				p = append(p, fmt.Sprintf("key %q is not listed", str(c, "name")))
				continue
			}
			if i < last {
				p = append(p, fmt.Sprintf("key %q is listed before a newer key", str(c, "name")))
			}
			last = i
			for _, name := range sortedKeys(c) {
				if name != "key" && !reflect.DeepEqual(items[i][name], c[name]) {
					p = append(p, fmt.Sprintf("key %q lists %s %s, created with %s", str(c, "name"), name, describe(items[i][name]), describe(c[name])))
				}
			}
		}
	}
	s.check("list keys: 200, the new keys newest first, no raw key", p)
}

// listed fetches the account's keys with the login token and checks the
// shape of every item.
func (s *smoke) listed() ([]map[string]any, []string) {
	r := s.c.do("GET", "/api/v1/api-keys", "", s.bearer()...)
	p := answer(r, 200)
	if !answered(r, 200) {
		return nil, p
	}
	if shaped := shape("", r.body, fields{"data": func(v any) string {
		if _, ok := v.([]any); !ok {
			return describe(v) + ", want an array"
		}
		return ""
	}}); len(shaped) > 0 {
		return nil, append(p, shaped...)
	}
	items := []map[string]any{}
	for i, v := range r.object()["data"].([]any) {
		p = append(p, shape(fmt.Sprintf("data[%d]", i), v, listedKey)...)
		m, _ := v.(map[string]any)
		items = append(items, m)
	}
	return items, p
}
