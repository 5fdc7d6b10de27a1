package handlers_test

// What a stack's view of a forwarded request means for the decision: the
// header lines sorted into credentials, identity, overrides, look-alikes
// and forwarding, with secrets named by their placeholders.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// reading is one stack's view of a forwarded request, classified.
type reading struct {
	status           string // the stack's own answer, where it reports one
	method, target   string
	creds            []string // exact-spelled Authorization and X-API-Key lines, "Name: value"
	users            []string // X-Zectre-User-Id values
	identity         []string // every line that reads as X-Zectre-*, any spelling
	overrides        []string // method-override lines, any spelling
	lookAlikes       []string // names that read as a managed header but are not its spelling
	xff              []string // X-Forwarded-For lines
	contentLength    []string
	transferEncoding []string
	body             int
}

// managedHeaders are the names (folded: lower case, "-") whose every other
// spelling must not reach an upstream. Names without "-" have none.
var managedHeaders = []string{
	"transfer-encoding", "content-length", "keep-alive", "proxy-connection", "x-request-id",
	"authorization", "x-api-key", "x-http-method-override", "x-http-method", "x-method-override",
}

var overrideHeaders = []string{"x-http-method-override", "x-http-method", "x-method-override"}

// foldName reads a header name as a folding upstream does: lower case, with
// "_" and "." as "-".
func foldName(name string) string {
	return strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
}

func readingOf(v view, name *strings.Replacer) reading {
	rd := reading{status: v.Status, method: v.Method, target: v.Target, body: v.Body}
	for _, h := range v.Headers {
		n, val := h[0], name.Replace(h[1])
		folded := foldName(n)
		exact := strings.ToLower(n) == folded // no "_" or "." in the name
		if !exact && (slices.Contains(managedHeaders, folded) || strings.HasPrefix(folded, "x-forwarded-")) {
			rd.lookAlikes = append(rd.lookAlikes, n)
		}
		switch {
		case slices.Contains(overrideHeaders, folded):
			rd.overrides = append(rd.overrides, n+": "+val)
		case strings.HasPrefix(folded, "x-zectre-"):
			rd.identity = append(rd.identity, n+": "+val)
			if exact && folded == "x-zectre-user-id" {
				rd.users = append(rd.users, val)
			}
		case !exact:
		case folded == "authorization":
			rd.creds = append(rd.creds, "Authorization: "+val)
		case folded == "x-api-key":
			rd.creds = append(rd.creds, "X-API-Key: "+val)
		case folded == "x-forwarded-for":
			rd.xff = append(rd.xff, val)
		case folded == "content-length":
			rd.contentLength = append(rd.contentLength, val)
		case folded == "transfer-encoding":
			rd.transferEncoding = append(rd.transferEncoding, val)
		}
	}
	return rd
}

// problems lists where the reading differs from what was decided for row.
func (rd reading) problems(row diffRow) []string {
	want := row.want
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if rd.status != "" && rd.status != "200" {
		bad("the stack itself answered %s", rd.status)
	}
	method := firstNonEmpty(want.method, row.method, "GET")
	if rd.method != method {
		bad("method %q, decided %q", rd.method, method)
	}
	if target := firstNonEmpty(want.target, row.target); rd.target != target {
		bad("target %q, decided %q", rd.target, target)
	}
	if !slices.Equal(rd.creds, want.creds) {
		bad("credential lines %q, want exactly %q", rd.creds, want.creds)
	}
	switch {
	case want.user == "" && len(rd.identity) > 0:
		bad("identity lines %q on an anonymous request", rd.identity)
	case want.user != "" && !slices.Equal(rd.users, []string{want.user}):
		bad("X-Zectre-User-Id %q, decided %q (identity lines %q)", rd.users, want.user, rd.identity)
	}
	if len(rd.overrides) > 0 {
		bad("method override lines %q", rd.overrides)
	}
	if len(rd.lookAlikes) > 0 {
		bad("look-alike header names %q", rd.lookAlikes)
	}
	// Every row's body goes with Content-Length, so the upstream request
	// has no business with Transfer-Encoding.
	if len(rd.transferEncoding) > 0 {
		bad("Transfer-Encoding %q", rd.transferEncoding)
	}
	if len(rd.contentLength) > 1 || (len(rd.contentLength) == 1 && rd.contentLength[0] != strconv.Itoa(len(row.body))) {
		bad("Content-Length %q for a body of %d bytes", rd.contentLength, len(row.body))
	}
	if rd.body != len(row.body) {
		bad("read a body of %d bytes, %d were sent", rd.body, len(row.body))
	}
	switch entries := strings.Split(strings.Join(rd.xff, ","), ","); {
	case len(rd.xff) != 1:
		bad("%d X-Forwarded-For lines %q, want 1", len(rd.xff), rd.xff)
	case strings.TrimSpace(entries[len(entries)-1]) != "127.0.0.1":
		bad("X-Forwarded-For %q does not end with the peer", rd.xff[0])
	case want.xff != "" && rd.xff[0] != want.xff:
		bad("X-Forwarded-For %q, want %q", rd.xff[0], want.xff)
	}
	return out
}

// common is what every stack exposes of a reading, to compare the stacks
// with each other: nginx shows only the first of repeated lines.
func (rd reading) common() string {
	firstOf := func(s []string, prefix string) string {
		for _, v := range s {
			if strings.HasPrefix(v, prefix) {
				return v
			}
		}
		return "-"
	}
	return fmt.Sprintf("%s %s | %s | %s | user %s | xff %s", rd.method, rd.target,
		firstOf(rd.creds, "Authorization: "), firstOf(rd.creds, "X-API-Key: "), firstOf(rd.users, ""), firstOf(rd.xff, ""))
}

// firstNonEmpty is the first non-empty string.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
