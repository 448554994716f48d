package controller

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Histogram is a cumulative Prometheus histogram (rendered by hand: the
// operator's metrics are few and the text format is simple).
type Histogram struct {
	bounds []float64
	counts []uint64 // per bucket, +Inf last
	sum    float64
	count  uint64
}

// NewHistogram has the given upper bounds (ascending).
func NewHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	h.counts[i]++
	h.sum += v
	h.count++
}

func fmtFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func (h *Histogram) render(b *strings.Builder, name, labels string) {
	sep := ""
	if labels != "" {
		sep = ","
	}
	var cum uint64
	for i, ub := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(b, "%s_bucket{%s%sle=%q} %d\n", name, labels, sep, fmtFloat(ub), cum)
	}
	cum += h.counts[len(h.bounds)]
	fmt.Fprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, cum)
	braces := ""
	if labels != "" {
		braces = "{" + labels + "}"
	}
	fmt.Fprintf(b, "%s_sum%s %s\n%s_count%s %d\n", name, braces, fmtFloat(h.sum), name, braces, h.count)
}

// WriteLatencyBuckets are the bounds of the API write latency histogram.
var WriteLatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// EventDelayBuckets are the bounds of the informer event delay histogram.
var EventDelayBuckets = []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// Metrics are the operator's own metrics (the engine renders its own).
// Safe for concurrent use.
type Metrics struct {
	mu             sync.Mutex
	writes         map[[2]string]uint64 // {op, outcome}
	writeLatency   map[string]*Histogram
	apiErrors      map[string]uint64
	eventDelay     *Histogram
	queueLen       func() int
	storedChecked  uint64
	prunedWrites   uint64
	health         map[string]uint64
	leaseHeldBack  uint64
	resyncs        uint64
	abandonedOps   uint64
	rejectedEvents uint64
}

// NewMetrics starts every counter at zero.
func NewMetrics() *Metrics {
	return &Metrics{
		writes:       map[[2]string]uint64{},
		writeLatency: map[string]*Histogram{},
		apiErrors:    map[string]uint64{},
		eventDelay:   NewHistogram(EventDelayBuckets),
		health:       map[string]uint64{"degraded": 0, "healthy": 0},
	}
}

// ObserveWrite records an API write's round trip and, on error, its reason.
func (m *Metrics) ObserveWrite(op string, d time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.writeLatency[op]
	if h == nil {
		h = NewHistogram(WriteLatencyBuckets)
		m.writeLatency[op] = h
	}
	h.Observe(d.Seconds())
	if err != nil {
		m.apiErrors[ErrorReason(err)]++
	}
}

// WriteDone counts a reported outcome.
func (m *Metrics) WriteDone(op, outcome string) {
	m.mu.Lock()
	m.writes[[2]string{op, outcome}]++
	m.mu.Unlock()
}

// Writes returns the writes sent so far by "op/outcome".
func (m *Metrics) Writes() (total int, byOutcome map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	byOutcome = map[string]int{}
	for k, v := range m.writes {
		byOutcome[k[0]+"/"+k[1]] += int(v)
		total += int(v)
	}
	return total, byOutcome
}

// StoredChecked counts a successful write compared with what was stored.
func (m *Metrics) StoredChecked(pruned bool) {
	m.mu.Lock()
	m.storedChecked++
	if pruned {
		m.prunedWrites++
	}
	m.mu.Unlock()
}

// EventApplied records the delay between the informer handing an event to
// the operator and the engine having applied it.
func (m *Metrics) EventApplied(d time.Duration) {
	m.mu.Lock()
	m.eventDelay.Observe(d.Seconds())
	m.mu.Unlock()
}

// HealthChanged counts a health transition ("degraded" or "healthy").
func (m *Metrics) HealthChanged(state string) {
	m.mu.Lock()
	m.health[state]++
	m.mu.Unlock()
}

// LeaseHeldBack counts a flush not sent because the lease could not be trusted.
func (m *Metrics) LeaseHeldBack() {
	m.mu.Lock()
	m.leaseHeldBack++
	m.mu.Unlock()
}

// Resynced counts a manual re-synchronization.
func (m *Metrics) Resynced() {
	m.mu.Lock()
	m.resyncs++
	m.mu.Unlock()
}

// Abandoned counts planned writes not sent because the operator was stopping.
func (m *Metrics) Abandoned(n int) {
	m.mu.Lock()
	m.abandonedOps += uint64(n)
	m.mu.Unlock()
}

// Rejected counts watch events the engine refused.
func (m *Metrics) Rejected(n int) {
	m.mu.Lock()
	m.rejectedEvents += uint64(n)
	m.mu.Unlock()
}

func sortedKeys[K comparable, V any](m map[K]V, less func(a, b K) bool) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return less(keys[i], keys[j]) })
	return keys
}

// Render is the Prometheus text of the operator's metrics.
func (m *Metrics) Render(b *strings.Builder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	header := func(name, kind, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
	}
	header("sliceplane_operator_writes_total", "counter", "API writes sent and reported to the engine, by verb and outcome.")
	for _, k := range sortedKeys(m.writes, func(a, b [2]string) bool { return a[0]+"/"+a[1] < b[0]+"/"+b[1] }) {
		fmt.Fprintf(b, "sliceplane_operator_writes_total{op=%q,outcome=%q} %d\n", k[0], k[1], m.writes[k])
	}
	header("sliceplane_operator_api_write_duration_seconds", "histogram", "API write round trip (request sent to answer received), by verb.")
	for _, op := range sortedKeys(m.writeLatency, func(a, b string) bool { return a < b }) {
		m.writeLatency[op].render(b, "sliceplane_operator_api_write_duration_seconds", fmt.Sprintf("op=%q", op))
	}
	header("sliceplane_operator_api_errors_total", "counter", "API write errors by reason (the API status reason; ClientTimeout/Canceled for writes the operator abandoned; Unknown for transport errors).")
	for _, r := range sortedKeys(m.apiErrors, func(a, b string) bool { return a < b }) {
		fmt.Fprintf(b, "sliceplane_operator_api_errors_total{reason=%q} %d\n", r, m.apiErrors[r])
	}
	header("sliceplane_operator_informer_event_delay_seconds", "histogram", "Informer lag inside the operator: watch event handed over by the informer to event applied by the engine.")
	m.eventDelay.render(b, "sliceplane_operator_informer_event_delay_seconds", "")
	if m.queueLen != nil {
		header("sliceplane_operator_event_queue_length", "gauge", "Watch events received and not yet applied by the engine.")
		fmt.Fprintf(b, "sliceplane_operator_event_queue_length %d\n", m.queueLen())
	}
	header("sliceplane_operator_stored_checked_total", "counter", "Successful creates/updates whose stored object was compared with what was sent.")
	fmt.Fprintf(b, "sliceplane_operator_stored_checked_total %d\n", m.storedChecked)
	header("sliceplane_operator_pruned_writes_total", "counter", "Writes the API server stored differently from what was sent (CRD schema older than the engine's output).")
	fmt.Fprintf(b, "sliceplane_operator_pruned_writes_total %d\n", m.prunedWrites)
	header("sliceplane_operator_health_transitions_total", "counter", "Write-path health transitions reported by the engine, by new state.")
	for _, s := range sortedKeys(m.health, func(a, b string) bool { return a < b }) {
		fmt.Fprintf(b, "sliceplane_operator_health_transitions_total{state=%q} %d\n", s, m.health[s])
	}
	header("sliceplane_operator_lease_held_back_flushes_total", "counter", "Flushes not sent because this replica could not be sure it still held the lease.")
	fmt.Fprintf(b, "sliceplane_operator_lease_held_back_flushes_total %d\n", m.leaseHeldBack)
	header("sliceplane_operator_resyncs_total", "counter", "Manual re-synchronizations (POST /resync or SIGHUP).")
	fmt.Fprintf(b, "sliceplane_operator_resyncs_total %d\n", m.resyncs)
	header("sliceplane_operator_abandoned_writes_total", "counter", "Planned writes not sent because the operator was shutting down.")
	fmt.Fprintf(b, "sliceplane_operator_abandoned_writes_total %d\n", m.abandonedOps)
	header("sliceplane_operator_rejected_events_total", "counter", "Watch events the engine refused (invalid input; each changed nothing).")
	fmt.Fprintf(b, "sliceplane_operator_rejected_events_total %d\n", m.rejectedEvents)
}
