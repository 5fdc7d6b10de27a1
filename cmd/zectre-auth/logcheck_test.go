package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// The log check: every server the tests of this package start keeps its
// whole log, and every secret the tests send or receive is noted on the
// way. When the run has passed, TestMain fails it if any log holds any of
// those secrets, and if the audit lines are not well formed.
var runLog = struct {
	sync.Mutex
	secrets map[string]string // value → what it is
	servers []*server
}{secrets: map[string]string{}}

// minSecretLen keeps out values too short to be told apart from ordinary
// text. Audit lines carry a key's first 8 characters (key_prefix), never
// the whole key.
const minSecretLen = 9

// noteSecret records a secret that no log may hold.
func noteSecret(what, v string) {
	if len(v) < minSecretLen {
		return
	}
	runLog.Lock()
	runLog.secrets[v] = what
	runLog.Unlock()
}

// noteHeaders records the credentials among request headers (name, value
// pairs).
func noteHeaders(headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		switch http.CanonicalHeaderKey(headers[i]) {
		case "Authorization":
			_, cred, _ := strings.Cut(headers[i+1], " ")
			noteSecret("credential in Authorization", cred)
		case "X-Api-Key":
			noteSecret("credential in X-API-Key", headers[i+1])
		}
	}
}

// secretFields are the top-level JSON fields of requests and answers of
// the API whose values are secrets: passwords, tokens, raw keys, CLI codes.
// (An error's "code" is nested under "error" and is not one.)
var secretFields = []string{"password", "token", "key", "api_key", "code"}

// noteBody records the secrets of a JSON request or answer body.
func noteBody(raw []byte) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	for _, f := range secretFields {
		if v, ok := m[f].(string); ok {
			noteSecret(`"`+f+`" of a request or answer`, v)
		}
	}
}

// noteServer registers a started server for the check, with the JWT
// secret it generated in its data directory, if any.
func noteServer(s *server) {
	if raw, err := os.ReadFile(filepath.Join(s.cmd.Dir, "data", "jwt-secret")); err == nil {
		noteSecret("generated JWT secret", strings.TrimSpace(string(raw)))
	}
	for _, kv := range s.cmd.Env {
		if v, ok := strings.CutPrefix(kv, "ZECTRE_AUTH_JWT_SECRET="); ok {
			noteSecret("configured JWT secret", v)
		}
	}
	runLog.Lock()
	runLog.servers = append(runLog.servers, s)
	runLog.Unlock()
}

// checkRunLogs reads every server's log for every noted secret and checks
// that each audit line names its outcome and method. It returns the
// problems and a one-line summary.
func checkRunLogs() (problems []string, summary string) {
	runLog.Lock()
	defer runLog.Unlock()
	var lines, audits int
	for i, s := range runLog.servers {
		log := s.logs()
		for v, what := range runLog.secrets {
			if strings.Contains(log, v) {
				problems = append(problems, fmt.Sprintf("server %d (%s) logged a %s (%.4s…)", i, s.base, what, v))
			}
		}
		for _, line := range strings.Split(log, "\n") {
			if line == "" {
				continue
			}
			lines++
			var rec struct{ Msg, Outcome, Method string }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				problems = append(problems, fmt.Sprintf("server %d: a log line is not JSON: %.200s", i, line))
				continue
			}
			if rec.Msg != "auth" {
				continue
			}
			audits++
			if rec.Outcome == "" || rec.Method == "" {
				problems = append(problems, fmt.Sprintf("server %d: audit line without outcome or method: %.200s", i, line))
			}
		}
	}
	sort.Strings(problems)
	summary = fmt.Sprintf("log check: %d servers, %d log lines (%d audit lines), %d secrets used, %d problems",
		len(runLog.servers), lines, audits, len(runLog.secrets), len(problems))
	return problems, summary
}
