package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zectre/zectre-auth/proxy"
)

// newTunnels registers the WebSocket tunnel metrics. They read the counts
// proxy.Tunnels keeps (atomics the tunnels add to as they copy), at scrape
// time: a tunnel's bytes cost no metrics call per read.
func (m *Metrics) newTunnels() {
	m.tunnels = &atomic.Pointer[proxy.Tunnels]{}
	read := func(f func(*proxy.Tunnels) float64) func() float64 {
		return func() float64 {
			if t := m.tunnels.Load(); t != nil {
				return f(t)
			}
			return 0
		}
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: namespace + "websocket_tunnels_open",
		Help: "WebSocket tunnels open through the edge, those being opened included.",
	}, read(func(t *proxy.Tunnels) float64 { return float64(t.Open()) })))
	for _, r := range proxy.TunnelResults {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        namespace + "websocket_upgrades_total",
			Help:        "WebSocket upgrades the edge forwarded after its decision, by result (opened: tunnelled; refused: the upstream answered without switching; error: upstream unreachable, stalled or no WebSocket switch; limit: max_websocket_conns reached).",
			ConstLabels: prometheus.Labels{"result": r.String()},
		}, read(func(t *proxy.Tunnels) float64 { return float64(t.Opened(r)) })))
	}
	for _, dir := range [...]string{"to_upstream", "to_client"} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        namespace + "websocket_bytes_total",
			Help:        "Bytes copied through WebSocket tunnels, by direction.",
			ConstLabels: prometheus.Labels{"direction": dir},
		}, read(func(t *proxy.Tunnels) float64 {
			up, down := t.Bytes()
			if dir == "to_upstream" {
				return float64(up)
			}
			return float64(down)
		})))
	}
}

// ObserveTunnels makes the tunnel metrics read t.
func (m *Metrics) ObserveTunnels(t *proxy.Tunnels) { m.tunnels.Store(t) }
