package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
)

// Label values of auth attempts. Methods and outcomes are set by the code,
// never by clients; anything unforeseen counts as "other", so that the
// labels stay bounded.
var (
	authMethods = []string{
		string(authn.MethodJWT), string(authn.MethodCatalogJWT), string(authn.MethodAPIKey),
		"password", "cli", "bearer", "other",
	}
	authOutcomes = []string{"ok", "denied", "limited", "disabled", "other"}
)

func authMethodIndex(m string) int {
	for i, v := range authMethods[:len(authMethods)-1] {
		if m == v {
			return i
		}
	}
	return len(authMethods) - 1
}

func authOutcomeIndex(o string) int {
	for i, v := range authOutcomes[:len(authOutcomes)-1] {
		if o == v {
			return i
		}
	}
	return len(authOutcomes) - 1
}

func (m *Metrics) newAuth() {
	m.auth = newTable(namespace+"auth_attempts_total",
		"Authentication attempts, one per audit line, by method (jwt, catalog_jwt, api_key, password, cli, bearer: a token refused before its kind was known) and outcome (ok, denied, limited, disabled).",
		[]string{"method", "outcome"}, authMethods, authOutcomes)
	m.reg.MustRegister(m.auth)
}

// ObserveAudit counts every attempt a records by method and outcome, and
// exports how many of its lines were dropped. Call it once per writer.
func (m *Metrics) ObserveAudit(a *audit.Writer) {
	a.Observe(auditObserver{m})
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: namespace + "audit_lines_dropped_total",
		Help: "Audit lines dropped because the log writer was stuck; the attempts are still counted in auth_attempts_total.",
	}, func() float64 { return float64(a.Dropped()) }))
}

type auditObserver struct{ m *Metrics }

var _ audit.Observer = auditObserver{}

func (o auditObserver) Attempt(method, outcome string) {
	o.m.auth.add2(authMethodIndex(method), authOutcomeIndex(outcome))
}
