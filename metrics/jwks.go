package metrics

func (m *Metrics) newJWKS() {
	m.jwksRefreshes = newTable(namespace+"jwks_refreshes_total",
		"Fetches of the catalog JWKS (at start, periodic, and caused by unknown kids), by result (ok, error).",
		[]string{"result"}, []string{"ok", "error"})
	m.jwksKeys = newLazyGauge(namespace+"jwks_keys",
		"Keys in the catalog JWKS as last fetched successfully; absent until a fetch succeeds.")
	m.reg.MustRegister(m.jwksRefreshes, m.jwksKeys)
}

// JWKSRefreshed records one JWKS fetch; it is authn.CatalogOptions.OnRefresh.
func (m *Metrics) JWKSRefreshed(keys int, err error) {
	if err != nil {
		m.jwksRefreshes.add1(1)
		return
	}
	m.jwksRefreshes.add1(0)
	m.jwksKeys.store(int64(keys))
}
