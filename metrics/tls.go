package metrics

import "time"

func (m *Metrics) newTLS() {
	m.tlsLoads = newTable(namespace+"tls_certificate_loads_total",
		"Loads of the main listener's certificate pair (at start, after its files change, on SIGHUP), by result (ok, error); after an error the previous pair is still served.",
		[]string{"result"}, []string{"ok", "error"})
	m.tlsExpiry = newLazyGauge(namespace+"tls_certificate_expiry_timestamp_seconds",
		"Expiry (NotAfter, Unix seconds) of the certificate the main listener serves; absent without TLS.")
	m.reg.MustRegister(m.tlsLoads, m.tlsExpiry)
}

// TLSLoaded records one load of the listener's pair; it is
// tlsfiles.Options.OnReload. A failed load leaves the expiry of the pair
// still served.
func (m *Metrics) TLSLoaded(notAfter time.Time, err error) {
	if err != nil {
		m.tlsLoads.add1(1)
		return
	}
	m.tlsLoads.add1(0)
	m.tlsExpiry.store(notAfter.Unix())
}
