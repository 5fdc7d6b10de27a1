package main

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// The checks below return what differed, one sentence per difference, or
// nothing. They never fail on a missing or mistyped value in any other way:
// a broken instance gets FAIL lines, never a crash of the smoke test.

// answer checks the status, and for a JSON answer of the API the headers
// every one carries. A wrong status ends the check: the shape of an answer
// that was not meant is noise (see answered).
func answer(r response, status int) []string {
	if r.err != nil {
		return []string{"no answer: " + r.err.Error()}
	}
	if r.status != status {
		return []string{fmt.Sprintf("status %d, want %d (body %s)", r.status, status, r.snippet())}
	}
	// Every answer of the service names its request, errors included.
	if r.header.Get("X-Request-Id") == "" {
		return []string{"no X-Request-Id"}
	}
	if status == 204 {
		if len(r.raw) > 0 {
			return []string{fmt.Sprintf("a body on 204: %s", r.snippet())}
		}
		return nil
	}
	var p []string
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		p = append(p, fmt.Sprintf("Content-Type %q, want application/json", ct))
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		p = append(p, fmt.Sprintf("Cache-Control %q, want no-store", cc))
	}
	if r.object() == nil {
		p = append(p, "the body is not a JSON object: "+r.snippet())
	}
	return p
}

// answered says whether r has the status and, but for a 204, a JSON object
// body: whether its shape is worth checking.
func answered(r response, status int) bool {
	return r.err == nil && r.status == status && (status == 204 || r.object() != nil)
}

// apiError checks an error answer: the status, the envelope
// {"error":{"code","message"}} with nothing else in it, the code, and on
// 401 the WWW-Authenticate challenge.
func apiError(r response, status int, code string) []string {
	p := answer(r, status)
	if !answered(r, status) {
		return p
	}
	p = append(p, shape("", r.body, fields{"error": object(fields{"code": equals(code), "message": nonEmpty})})...)
	if status == 401 {
		if got, want := r.header.Get("WWW-Authenticate"), `Bearer realm="zectre"`; got != want {
			p = append(p, fmt.Sprintf("WWW-Authenticate %q, want %q", got, want))
		}
	}
	return p
}

// valueCheck says what is wrong with one JSON value, or "".
type valueCheck func(v any) string

// fields is the exact set of members an object must have.
type fields map[string]valueCheck

// shape checks that v is an object with exactly the members of want, each
// passing its check. where names v in the problems ("user", "data[0]").
func shape(where string, v any, want fields) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s%s, want an object", prefix(where), describe(v))}
	}
	var p []string
	for _, name := range sortedKeys(want) {
		val, present := m[name]
		if !present {
			p = append(p, fmt.Sprintf("%sno member %q", prefix(where), name))
			continue
		}
		if s := want[name](val); s != "" {
			p = append(p, join(where, name)+": "+s)
		}
	}
	for _, name := range sortedKeys(m) {
		if _, known := want[name]; !known {
			p = append(p, fmt.Sprintf("%san unexpected member %q", prefix(where), name))
		}
	}
	return p
}

// object checks a nested object, folding its problems into one sentence.
func object(want fields) valueCheck {
	return func(v any) string { return strings.Join(shape("", v, want), ", ") }
}

func equals(want string) valueCheck {
	return func(v any) string {
		if s, ok := v.(string); !ok || s != want {
			return fmt.Sprintf("%s, want %q", describe(v), want)
		}
		return ""
	}
}

func isBool(want bool) valueCheck {
	return func(v any) string {
		if b, ok := v.(bool); !ok || b != want {
			return fmt.Sprintf("%s, want %v", describe(v), want)
		}
		return ""
	}
}

func isNull(v any) string {
	if v != nil {
		return describe(v) + ", want null"
	}
	return ""
}

// orNull accepts null or what check accepts.
func orNull(check valueCheck) valueCheck {
	return func(v any) string {
		if v == nil {
			return ""
		}
		return check(v)
	}
}

func nonEmpty(v any) string {
	if s, ok := v.(string); !ok || s == "" {
		return describe(v) + ", want a non-empty string"
	}
	return ""
}

// matches accepts a string matching re, described as what.
func matches(re *regexp.Regexp, what string) valueCheck {
	return func(v any) string {
		if s, ok := v.(string); !ok || !re.MatchString(s) {
			return fmt.Sprintf("%s, want %s", describe(v), what)
		}
		return ""
	}
}

var (
	uuidPattern      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	timestampPattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	// An API key: zec_, 36 random and 6 checksum characters of base62.
	apiKeyPattern = regexp.MustCompile(`^zec_[0-9A-Za-z]{42}$`)
	codePattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	jwtPattern    = regexp.MustCompile(`^[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+$`)
)

var (
	isUUID = matches(uuidPattern, "a UUID")
	// isTimestamp: RFC 3339 in UTC to the second, as every answer writes them.
	isTimestamp = func(v any) string {
		if s := matches(timestampPattern, "an RFC 3339 UTC timestamp to the second")(v); s != "" {
			return s
		}
		if _, err := time.Parse(time.RFC3339, v.(string)); err != nil {
			return fmt.Sprintf("%q is not a valid time", v)
		}
		return ""
	}
	isAPIKey = matches(apiKeyPattern, "zec_ and 42 base62 characters")
	isCode   = matches(codePattern, "64 hex characters")
	isJWT    = matches(jwtPattern, "a JWT (three base64url parts)")
)

// stringList accepts an array of exactly these strings, in this order.
func stringList(want ...string) valueCheck {
	return func(v any) string {
		arr, ok := v.([]any)
		got := make([]string, 0, len(arr))
		for _, e := range arr {
			s, isString := e.(string)
			ok = ok && isString
			got = append(got, s)
		}
		if !ok || !slices.Equal(got, want) {
			return fmt.Sprintf("%s, want %q", describe(v), want)
		}
		return ""
	}
}

// near says how far the timestamp got is from want, beyond tolerance.
func near(what, got string, want time.Time, tolerance time.Duration) []string {
	t, err := time.Parse(time.RFC3339, got)
	if err != nil {
		return []string{fmt.Sprintf("%s %q is not a time", what, got)}
	}
	if d := t.Sub(want); d < -tolerance || d > tolerance {
		return []string{fmt.Sprintf("%s is %s, want %s (±%s)", what, got, want.Format(time.RFC3339), tolerance)}
	}
	return nil
}

// describe shows a JSON value in a problem: its type, and the value itself
// for scalars (redacted on output like every line).
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	case bool, float64:
		return fmt.Sprintf("%v", x)
	case []any:
		return fmt.Sprintf("an array %v", x)
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func str(m map[string]any, name string) string {
	s, _ := m[name].(string)
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(where, name string) string {
	if where == "" {
		return name
	}
	return where + "." + name
}

func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}
