package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// table is a counter family whose label values are all known when it is
// built, kept as one atomic per combination: counting is an index and an
// atomic add, with no map lookup and no allocation, which the request path
// needs. A series is exported once it is non-zero, as a CounterVec would
// create it on first use.
type table struct {
	desc   *prometheus.Desc
	values [][]string // per label, its possible values
	counts []atomic.Uint64
}

func newTable(name, help string, labels []string, values ...[]string) *table {
	n := 1
	for _, v := range values {
		n *= len(v)
	}
	return &table{
		desc:   prometheus.NewDesc(name, help, labels, nil),
		values: values,
		counts: make([]atomic.Uint64, n),
	}
}

// add1, add2 and add3 count one event at the combination of label value
// indexes, in label order. An index out of range is the caller's bug.
func (t *table) add1(i int) { t.counts[i].Add(1) }

func (t *table) add2(i, j int) { t.counts[i*len(t.values[1])+j].Add(1) }

func (t *table) add3(i, j, k int) {
	t.counts[(i*len(t.values[1])+j)*len(t.values[2])+k].Add(1)
}

func (t *table) Describe(ch chan<- *prometheus.Desc) { ch <- t.desc }

func (t *table) Collect(ch chan<- prometheus.Metric) {
	labels := make([]string, len(t.values))
	for o := range t.counts {
		v := t.counts[o].Load()
		if v == 0 {
			continue
		}
		rest := o
		for d := len(t.values) - 1; d >= 0; d-- {
			labels[d] = t.values[d][rest%len(t.values[d])]
			rest /= len(t.values[d])
		}
		ch <- prometheus.MustNewConstMetric(t.desc, prometheus.CounterValue, float64(v), labels...)
	}
}

// lazyGauge is a gauge that is exported only after it was first set: a
// Redis or JWKS state that does not exist until the service has one.
type lazyGauge struct {
	desc  *prometheus.Desc
	set   atomic.Bool
	value atomic.Int64
}

func newLazyGauge(name, help string) *lazyGauge {
	return &lazyGauge{desc: prometheus.NewDesc(name, help, nil, nil)}
}

func (g *lazyGauge) store(v int64) {
	g.value.Store(v)
	g.set.Store(true)
}

func (g *lazyGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *lazyGauge) Collect(ch chan<- prometheus.Metric) {
	if g.set.Load() {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(g.value.Load()))
	}
}
