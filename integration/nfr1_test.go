package integration

// PRD NFR1 measured the way it is meant (issue 16): a 5,000-endpoint
// cluster over 500 node IPs, endpoint changes at a steady rate (paced by a
// ticker, not a flood), each change decomposed from the API server
// accepting it to a separate slice watch seeing it, with the operator's own
// timestamps (--trace-propagation) for the stages inside the operator; and
// a control client's creates with and without the operator running.
//
// Opt-in (several minutes): SLICEPLANE_NFR1=1, or integration/nfr1.sh,
// which also writes the JSON result and the plot. See README.md.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

const (
	nfr1Endpoints  = 5000
	nfr1Nodes      = 500
	nfr1Namespaces = 20
	// nfr1RateLimits are the operator's rate limits: Cilium's Helm default
	// (ciliumEndpointSlice.rateLimits), neither the config nor a flag sets
	// them. The workload's 500 CiliumNodes give the 500-node step: 100
	// writes/s, burst 200.
	nfr1RateLimits = "Helm default (500 CiliumNodes: 100/s, burst 200)"
	// nfr1ControlRate is the control client's steady create rate.
	nfr1ControlRate = 10
)

var nfr1Rates = []int{10, 50, 100, 200, 500}

// GVRCiliumIdentity is the control clients' resource (not watched by the
// operator with --source ciliumendpoints).
var GVRCiliumIdentity = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumidentities"}

// nfr1Ints reads a comma-separated list of integers from env (def when
// unset): SLICEPLANE_NFR1_RATES and SLICEPLANE_NFR1_DELAYS shorten a run.
func nfr1Ints(t testing.TB, env string, def []int) []int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			t.Fatalf("bad %s %q", env, v)
		}
		out = append(out, n)
	}
	return out
}

// nfr1Variant is one operator setting measured at every sync delay: a name
// for the table and extra operator flags.
type nfr1Variant struct {
	name string
	args []string
	bin  string // operator binary ("": the one under test)
	// gogc, when > 0, is the test process's GC percent (API server, etcd
	// and clients are in it) during this variant's sweeps: GOGC of the
	// API server, a setting of the server, not of the operator.
	gogc int
}

// nfr1Variants reads SLICEPLANE_NFR1_VARIANTS, "name=flag flag;name=flag"
// (for an A/B of operator flags back to back in one run, on the same
// cluster); unset: the operator's defaults only.
func nfr1Variants(t testing.TB) []nfr1Variant {
	v := os.Getenv("SLICEPLANE_NFR1_VARIANTS")
	if v == "" {
		return []nfr1Variant{{}}
	}
	var out []nfr1Variant
	for _, part := range strings.Split(v, ";") {
		name, args, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(name) == "" {
			t.Fatalf("bad SLICEPLANE_NFR1_VARIANTS %q: want name=flags;name=flags", v)
		}
		nv := nfr1Variant{name: strings.TrimSpace(name)}
		for _, a := range strings.Fields(args) {
			if bin, ok := strings.CutPrefix(a, "bin="); ok {
				nv.bin = bin // another build of the operator, e.g. the last commit's
				continue
			}
			if g, ok := strings.CutPrefix(a, "gogc="); ok {
				n, err := strconv.Atoi(g)
				if err != nil || n <= 0 {
					t.Fatalf("bad gogc in SLICEPLANE_NFR1_VARIANTS %q", v)
				}
				nv.gogc = n
				continue
			}
			nv.args = append(nv.args, a)
		}
		out = append(out, nv)
	}
	return out
}

// nfr1Delays are the sync delays measured: 0 and the engine's default
// (DESIGN.md §5: 500 ms).
var nfr1Delays = []int{0, 500}

// nfr1NodeIP is the node IP of endpoint i: the InternalIP of CiliumNode
// i mod 500.
func nfr1NodeIP(i int) string { return ciliumNodeIP(i % nfr1Nodes) }

// nfr1ChangeIP is the address change number g gives its endpoint: unique
// per change, so that the slice watch can tell which change it sees.
func nfr1ChangeIP(g int) string {
	return fmt.Sprintf("10.%d.%d.%d", 100+(g>>16)&0x7f, (g>>8)&0xff, g&0xff)
}

func nfr1CEP(ns, name, ip string, i int) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v2",
		"kind":       "CiliumEndpoint",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"status": map[string]any{
			"id":       int64(1 + i%4000),
			"state":    "ready",
			"identity": map[string]any{"id": int64(1000 + i%40), "labels": []any{fmt.Sprintf("k8s:app=a%d", i%40)}},
			"networking": map[string]any{
				"addressing": []any{map[string]any{"ipv4": ip}},
				"node":       nfr1NodeIP(i),
			},
			"encryption":      map[string]any{"key": int64(0)},
			"named-ports":     []any{map[string]any{"name": "http", "port": int64(8080), "protocol": "TCP"}},
			"service-account": "sa-" + ns,
		},
	}}
}

// separateClient is a client of the API server (directly, not through the
// proxy) with its own connection: client-go shares one transport (one
// HTTP/2 connection) among configs with equal TLS settings unless a Dial
// function is set.
func separateClient(t testing.TB, cfg *rest.Config) dynamic.Interface {
	cfg = rest.CopyConfig(cfg)
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	cfg.Dial = d.DialContext
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// paced calls do(i) for i in [0, n) at a steady rate from a ticker, each
// call on one of workers goroutines (so a slow call does not hold back the
// ones after it, up to workers at once).
func paced(ctx context.Context, rate, n, workers int, do func(i int)) {
	jobs := make(chan int, n)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				do(i)
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; i < n; i++ {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				i = n
				continue
			}
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// ---- the control client ----

// controlClient creates objects at a steady rate (and deletes each one 20
// creates later, so the cluster does not grow) and records each create's
// round trip.
//
// The objects are CiliumIdentities: custom resources of the same API group
// served by the same apiextensions path (JSON decoding, schema validation,
// managedFields) as CiliumEndpoints, but not watched by the operator with
// --source ciliumendpoints. Creating CiliumEndpoints instead (as earlier runs
// did) makes the control clients a second change source: 2 clients × (10
// creates + 10 deletes)/s are 40 endpoint changes/s for the operator to
// write, four times the paced rate of the 10/s row, so "with the operator"
// measured the operator under 50 changes/s, not 10.
type controlClient struct {
	name   string
	client dynamic.Interface
	next   atomic.Int64
	mu     sync.Mutex
	took   []time.Duration
	errs   int
}

func controlObject(name string, i int) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v2",
		"kind":       "CiliumIdentity",
		"metadata":   map[string]any{"name": name, "labels": map[string]any{"io.kubernetes.pod.namespace": "ctl", "app": fmt.Sprintf("c%d", i%40)}},
		"security-labels": map[string]any{
			"k8s:io.kubernetes.pod.namespace":         "ctl",
			"k8s:app":                                 fmt.Sprintf("c%d", i%40),
			"k8s:io.cilium.k8s.policy.serviceaccount": "default",
		},
	}}
}

func (cc *controlClient) run(ctx context.Context, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second / nfr1ControlRate)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		i := int(cc.next.Add(1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := cc.client.Resource(GVRCiliumIdentity)
			name := func(i int) string { return fmt.Sprintf("ctl-%s-%06d", cc.name, i) }
			start := time.Now()
			_, err := res.Create(ctx, controlObject(name(i), i), metav1.CreateOptions{})
			d := time.Since(start)
			cc.mu.Lock()
			if err != nil {
				cc.errs++
			} else {
				cc.took = append(cc.took, d)
			}
			cc.mu.Unlock()
			if i > 20 {
				_ = res.Delete(ctx, name(i-20), metav1.DeleteOptions{})
			}
		}()
	}
}

// take returns the creates recorded since the last take.
func (cc *controlClient) take() ([]time.Duration, int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	t, e := cc.took, cc.errs
	cc.took, cc.errs = nil, 0
	return t, e
}

// ---- the separate slice watch ----

// nfr1Watch is a separate watch on the slices that records when each
// expected (endpoint, address) pair first appears.
type nfr1Watch struct {
	mu       sync.Mutex
	expected map[string]bool      // key|ip
	seen     map[string]time.Time // key|ip
}

func startNFR1Watch(ctx context.Context, t testing.TB, c dynamic.Interface) *nfr1Watch {
	w := &nfr1Watch{expected: map[string]bool{}, seen: map[string]time.Time{}}
	wi, err := c.Resource(GVRCiliumEndpointSlice).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wi.Stop()
		for ev := range wi.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			now := time.Now()
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			ns, _ := u.Object["namespace"].(string)
			eps, _ := u.Object["endpoints"].([]any)
			w.mu.Lock()
			for _, e := range eps {
				m, _ := e.(map[string]any)
				name, _ := m["name"].(string)
				ip := ""
				if net, ok := m["networking"].(map[string]any); ok {
					if addrs, ok := net["addressing"].([]any); ok && len(addrs) > 0 {
						if a, ok := addrs[0].(map[string]any); ok {
							ip, _ = a["ipv4"].(string)
						}
					}
				}
				k := ns + "/" + name + "|" + ip
				if w.expected[k] {
					delete(w.expected, k)
					w.seen[k] = now
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *nfr1Watch) expect(k string) {
	w.mu.Lock()
	w.expected[k] = true
	w.mu.Unlock()
}

func (w *nfr1Watch) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.expected)
}

func (w *nfr1Watch) seenAt(k string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.seen[k]
	return at, ok
}

// ---- the operator's trace ----

type traceEventLine struct {
	Msg      string   `json:"msg"`
	Kind     string   `json:"kind"`
	Key      string   `json:"key"`
	RV       string   `json:"rv"`
	Recv     int64    `json:"recv"`
	Applied  int64    `json:"applied"`
	Op       string   `json:"op"`
	Name     string   `json:"name"`
	Eps      []string `json:"endpoints"`
	Plan     int64    `json:"plan"`
	Sent     int64    `json:"sent"`
	Answered int64    `json:"answered"`
	Outcome  string   `json:"outcome"`
	// Where applied → plan goes (operator/internal/controller/trace.go):
	// the loop's cumulative time with every writer busy and with a write
	// due later (rate limit, sync delay, backoff), at applied and when the
	// flush began; the flush's start; client-go's limiter wait.
	Busy      int64 `json:"busy"`
	Held      int64 `json:"held"`
	Flush     int64 `json:"flush"`
	FlushBusy int64 `json:"flush_busy"`
	FlushHeld int64 `json:"flush_held"`
	Throttled int64 `json:"throttled"`
}

type tracedWrite struct {
	plan, sent, answered               int64
	flush, flushBusy, flushHeld, thrtl int64
}

// operatorTrace is the parsed --trace-propagation output of one operator.
type operatorTrace struct {
	events map[string][4]int64      // key|rv -> recv, applied, busy, held
	writes map[string][]tracedWrite // endpoint key -> successful writes holding it, by plan time
	total  int
}

func readTrace(t testing.TB, path string) *operatorTrace {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := &operatorTrace{events: map[string][4]int64{}, writes: map[string][]tracedWrite{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line[:min(len(line), 120)], []byte(`"msg":"trace `)) {
			continue
		}
		var l traceEventLine
		if json.Unmarshal(line, &l) != nil {
			continue
		}
		switch l.Msg {
		case "trace event":
			if l.Kind == "CiliumEndpoint" {
				tr.events[l.Key+"|"+l.RV] = [4]int64{l.Recv, l.Applied, l.Busy, l.Held}
			}
		case "trace write":
			tr.total++
			if l.Outcome != "success" {
				continue
			}
			w := tracedWrite{l.Plan, l.Sent, l.Answered, l.Flush, l.FlushBusy, l.FlushHeld, l.Throttled}
			for _, k := range l.Eps {
				tr.writes[k] = append(tr.writes[k], w)
			}
		}
	}
	for _, ws := range tr.writes {
		sort.Slice(ws, func(i, j int) bool { return ws[i].plan < ws[j].plan })
	}
	return tr
}

// firstWrite is the first successful write holding key planned at or after at.
func (tr *operatorTrace) firstWrite(key string, at int64) (tracedWrite, bool) {
	ws := tr.writes[key]
	i := sort.Search(len(ws), func(i int) bool { return ws[i].plan >= at })
	if i == len(ws) {
		return tracedWrite{}, false
	}
	return ws[i], true
}

// ---- API server metrics ----

func scrapeAPIServer(t testing.TB, cfg *rest.Config) string {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(cfg.Host + "/metrics")
	if err != nil {
		t.Logf("API server /metrics: %v", err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// apiThrottling sums what the API server's metrics say about throttling:
// requests answered 429, requests APF rejected, and the dropped-requests
// counter of the max-in-flight filter.
func apiThrottling(text string) map[string]float64 {
	out := map[string]float64{}
	if total, found := metric(text, "apiserver_request_total"); found {
		out["apiserver_request_total"] = total // proves the scrape worked
	}
	out["apiserver_request_total{code=429}"], _ = metric(text, "apiserver_request_total", `code="429"`)
	out["apiserver_flowcontrol_rejected_requests_total"], _ = metric(text, "apiserver_flowcontrol_rejected_requests_total")
	out["apiserver_dropped_requests_total"], _ = metric(text, "apiserver_dropped_requests_total")
	// Priority and fairness: requests dispatched outside the exempt level
	// and the seconds they waited in its queues (0 when every client is
	// exempt, as the harness's loopback system:masters clients are).
	all, _ := metric(text, "apiserver_flowcontrol_dispatched_requests_total")
	exempt, _ := metric(text, "apiserver_flowcontrol_dispatched_requests_total", `priority_level="exempt"`)
	out["apiserver_flowcontrol_dispatched_requests_total"] = all
	out["apiserver_flowcontrol_dispatched_requests_total{non-exempt}"] = all - exempt
	out["apiserver_flowcontrol_request_wait_duration_seconds_sum"], _ = metric(text, "apiserver_flowcontrol_request_wait_duration_seconds_sum")
	return out
}

// ---- results ----

// nfr1Stat is p50/p99/max of one duration, in milliseconds.
type nfr1Stat struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	N   int     `json:"n"`
}

func statOf(ds []time.Duration) nfr1Stat {
	return nfr1Stat{P50: ms(percentile(ds, 0.50)), P99: ms(percentile(ds, 0.99)), Max: ms(percentile(ds, 1)), N: len(ds)}
}

// nfr1Row is one change rate with one operator setting ("none": the
// operator not running).
type nfr1Row struct {
	Operator   string  `json:"operator"` // "none" or "delay=<ms>"
	DelayMs    int     `json:"sync_delay_ms"`
	Rate       int     `json:"rate_per_s"`
	Changes    int     `json:"changes"`
	Achieved   float64 `json:"achieved_rate_per_s"`
	ChangeErrs int     `json:"change_errors"`
	// ChangeAPI: the change's update call (sent → the API server accepted it).
	ChangeAPI nfr1Stat `json:"change_api"`
	// Stages (operator runs only), per change.
	AcceptedToRecv nfr1Stat `json:"accepted_to_informer"`
	RecvToApplied  nfr1Stat `json:"informer_to_applied"`
	AppliedToPlan  nfr1Stat `json:"applied_to_planned"`
	PlanToSent     nfr1Stat `json:"planned_to_sent"`
	WriteRoundTrip nfr1Stat `json:"sent_to_answered"`
	AnsweredToSeen nfr1Stat `json:"answered_to_watch"`
	// Ours: informer received → write sent (includes the sync delay and
	// any rate-limit wait); OursBeyondDelay subtracts the sync delay.
	Ours            nfr1Stat `json:"ours"`
	OursBeyondDelay nfr1Stat `json:"ours_beyond_delay"`
	EndToEnd        nfr1Stat `json:"end_to_end"`
	Unmatched       int      `json:"unmatched"`
	Writes          int      `json:"writes"`
	// Applied → planned of each change, decomposed (the operator's loop
	// state, trace.go): waiting with every writer busy (for a writer, and
	// for the slice's turn: the engine plans the oldest dirty slices
	// first), waiting with a writer idle for the next write to come due
	// (sync delay, the engine's rate limit, backoff, the lease guard), the
	// engine's FlushAtMost call that planned the write, and the rest (the
	// loop applying other events, wake-ups). ClientThrottle is client-go's
	// rate-limiter wait inside the write's round trip. OursShare: each
	// part's share of the summed "ours" of the rate (informer_to_applied,
	// the four parts, planned_to_sent).
	WaitWriter     nfr1Stat           `json:"wait_writer"`
	WaitHeld       nfr1Stat           `json:"wait_rate_limit_or_delay"`
	Planning       nfr1Stat           `json:"engine_planning"`
	WaitOther      nfr1Stat           `json:"wait_other"`
	ClientThrottle nfr1Stat           `json:"client_throttle"`
	OursShare      map[string]float64 `json:"ours_share,omitempty"`
	WritesPerSec   float64            `json:"operator_writes_per_s"`
	// Control clients' creates during this rate: through the proxy (as the
	// operator talks) and directly on their own connection.
	ControlProxy  nfr1Stat `json:"control_proxy"`
	ControlDirect nfr1Stat `json:"control_direct"`
	ControlErrs   int      `json:"control_errors"`
	// Near2s counts calls (changes and control creates) that took
	// 1.9–2.2 s: the stall seen in earlier runs.
	Near2s              int                `json:"calls_near_2s"`
	Throttling          map[string]float64 `json:"apiserver_throttling_delta"`
	ProxyStatus         map[string]int     `json:"proxy_status_delta,omitempty"`
	OperatorWritesDelta int                `json:"operator_writes"`
	// CPU seconds over the rate (changes paced, then the drain): the test
	// process (API server, etcd, proxy, the change, control and watch
	// clients) and the operator process. The test process's CPU of an
	// operator row minus that of the "none" row at the same rate, per
	// operator write, is what one write costs the API server and etcd.
	TestCPUSeconds     float64 `json:"test_process_cpu_s"`
	OperatorCPUSeconds float64 `json:"operator_cpu_s"`
	Seconds            float64 `json:"seconds"`
}

type nfr1Result struct {
	Started    string    `json:"started"`
	LoadBefore string    `json:"loadavg_before"`
	LoadAfter  string    `json:"loadavg_after"`
	Endpoints  int       `json:"endpoints"`
	Nodes      int       `json:"node_ips"`
	RateLimits string    `json:"rate_limits"`
	Rows       []nfr1Row `json:"rows"`
	// ControlSummary: the control clients' creates over all rates, without
	// and with the operator.
	ControlSummary map[string]nfr1Stat `json:"control_summary"`
	// Ceiling: the server's sustained 100-entry slice updates/s on the same
	// cluster after the operators stopped (writeCeiling), to read each
	// rate's operator_writes_per_s against.
	Ceiling []nfr1CeilingRow `json:"write_ceiling,omitempty"`
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

// nfr1Change is one paced endpoint change.
type nfr1Change struct {
	key, ip          string
	issued, accepted time.Time
	rv               string
	err              error
}

func durNs(a, b int64) time.Duration { return time.Duration(b - a) }

func sumDur(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// TestNFR1 is the paced propagation measurement (see the file comment).
func TestNFR1(t *testing.T) {
	if os.Getenv("SLICEPLANE_NFR1") == "" {
		t.Skip("opt-in: SLICEPLANE_NFR1=1 (several minutes; integration/nfr1.sh)")
	}
	seconds := 20
	if v := os.Getenv("SLICEPLANE_NFR1_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 120 {
			t.Fatalf("bad SLICEPLANE_NFR1_SECONDS %q", v)
		}
		seconds = n
	}
	rates := nfr1Ints(t, "SLICEPLANE_NFR1_RATES", nfr1Rates)
	delays := nfr1Ints(t, "SLICEPLANE_NFR1_DELAYS", nfr1Delays)
	variants := nfr1Variants(t)
	outDir := os.Getenv("SLICEPLANE_NFR1_OUT")
	res := nfr1Result{Started: time.Now().UTC().Format(time.RFC3339), LoadBefore: loadavg(),
		Endpoints: nfr1Endpoints, Nodes: nfr1Nodes, RateLimits: nfr1RateLimits, ControlSummary: map[string]nfr1Stat{}}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCluster(t, "/sliceplane-nfr1", true)
	changer := separateClient(t, c.srv.config)
	direct := separateClient(t, c.srv.config)
	watcher := separateClient(t, c.srv.config)

	// The cluster: 500 CiliumNodes and 5,000 endpoints over their node IPs,
	// created before the operator starts.
	type ep struct {
		ns, name string
		mu       sync.Mutex
		rv       string
	}
	eps := make([]*ep, nfr1Endpoints)
	idx := make([]int, nfr1Endpoints)
	for i := range eps {
		eps[i] = &ep{ns: fmt.Sprintf("nfr1-%02d", i%nfr1Namespaces), name: fmt.Sprintf("ep-%05d", i)}
		idx[i] = i
	}
	seedStart := time.Now()
	if err := createCiliumNodes(ctx, changer, 0, nfr1Nodes); err != nil {
		t.Fatal(err)
	}
	if err := parallel(idx, 8, func(i int) error {
		e := eps[i]
		got, err := changer.Resource(GVRCiliumEndpoint).Namespace(e.ns).Create(ctx, nfr1CEP(e.ns, e.name, ipOf(i), i), metav1.CreateOptions{})
		if err == nil {
			e.rv = got.GetResourceVersion()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d CiliumNodes and %d endpoints over their node IPs in %v", nfr1Nodes, nfr1Endpoints, time.Since(seedStart).Round(time.Millisecond))

	w := startNFR1Watch(ctx, t, watcher)
	// The control clients run while the changes of one rate are paced (not
	// between rates, so that the operator can settle and converge).
	controls := []*controlClient{{name: "proxy", client: c.client}, {name: "direct", client: direct}}
	startControl := func() func() {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, cc := range controls {
			wg.Add(1)
			go func() { defer wg.Done(); cc.run(ctx, stop) }()
		}
		return func() { close(stop); wg.Wait() }
	}
	var global atomic.Int64 // change counter across the run (unique addresses)
	summary := map[string][2][]time.Duration{}

	// sweep runs every rate once; tr returns the operator's trace (nil: no operator).
	sweep := func(label string, delayMs int, op *runningOperator) {
		for _, rate := range rates {
			n := min(rate*seconds, 5000)
			changes := make([]nfr1Change, n)
			for _, cc := range controls {
				cc.take() // drop what came before this rate
			}
			thrBefore := apiThrottling(scrapeAPIServer(t, c.srv.config))
			writesBefore := 0
			if op != nil {
				writesBefore, _ = op.writes(t)
			}
			cpuBefore, opCPUBefore := processCPU(), time.Duration(0)
			if op != nil {
				opCPUBefore = op.cpu()
			}
			stopControl := startControl()
			start := time.Now()
			var errs atomic.Int64
			paced(ctx, rate, n, 256, func(i int) {
				g := int(global.Add(1))
				e := eps[g%nfr1Endpoints]
				ch := &changes[i]
				ch.key = e.ns + "/" + e.name
				ch.ip = nfr1ChangeIP(g)
				if op != nil {
					w.expect(ch.key + "|" + ch.ip)
				}
				e.mu.Lock()
				defer e.mu.Unlock()
				obj := nfr1CEP(e.ns, e.name, ch.ip, g%nfr1Endpoints)
				obj.SetResourceVersion(e.rv)
				ch.issued = time.Now()
				got, err := changer.Resource(GVRCiliumEndpoint).Namespace(e.ns).Update(ctx, obj, metav1.UpdateOptions{})
				ch.accepted = time.Now()
				ch.err = err
				if err != nil {
					errs.Add(1)
					return
				}
				ch.rv = got.GetResourceVersion()
				e.rv = ch.rv
			})
			elapsed := time.Since(start)
			stopControl()
			if op != nil {
				// Let the last changes through (sync delay + rate limit), bounded.
				deadline := time.Now().Add(30 * time.Second)
				for w.pending() > 0 && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
			}
			row := nfr1Row{TestCPUSeconds: (processCPU() - cpuBefore).Seconds(), Seconds: time.Since(start).Seconds()}
			if op != nil {
				row.OperatorCPUSeconds = (op.cpu() - opCPUBefore).Seconds()
			}
			ctlProxy, e1 := controls[0].take()
			ctlDirect, e2 := controls[1].take()
			row.Operator, row.DelayMs, row.Rate, row.Changes = label, delayMs, rate, n
			row.Achieved, row.ChangeErrs = float64(n)/elapsed.Seconds(), int(errs.Load())
			row.ControlProxy, row.ControlDirect, row.ControlErrs = statOf(ctlProxy), statOf(ctlDirect), e1+e2
			row.Throttling = map[string]float64{}
			key := "without operator"
			if op != nil {
				key = "with operator"
			}
			s := summary[key]
			s[0], s[1] = append(s[0], ctlProxy...), append(s[1], ctlDirect...)
			summary[key] = s
			thrAfter := apiThrottling(scrapeAPIServer(t, c.srv.config))
			for k, v := range thrAfter {
				row.Throttling[k] = v - thrBefore[k]
			}
			var api []time.Duration
			for _, ch := range changes {
				if ch.err == nil && !ch.accepted.IsZero() {
					api = append(api, ch.accepted.Sub(ch.issued))
				}
			}
			row.ChangeAPI = statOf(api)
			for _, ds := range [][]time.Duration{api, ctlProxy, ctlDirect} {
				for _, d := range ds {
					if d >= 1900*time.Millisecond && d <= 2200*time.Millisecond {
						row.Near2s++
					}
				}
			}
			if op != nil {
				total, _ := op.writes(t)
				row.OperatorWritesDelta = total - writesBefore
				row.WritesPerSec = float64(row.OperatorWritesDelta) / row.Seconds
				tr := readTrace(t, op.logPath)
				var a2r, r2a, a2p, p2s, s2a, a2s, ours, beyond, e2e []time.Duration
				var wWriter, wHeld, wPlan, wOther, thr []time.Duration
				for _, ch := range changes {
					if ch.err != nil || ch.rv == "" {
						continue
					}
					ev, ok := tr.events[ch.key+"|"+ch.rv]
					seen, seenOK := w.seenAt(ch.key + "|" + ch.ip)
					if !ok || !seenOK {
						row.Unmatched++
						continue
					}
					wr, ok := tr.firstWrite(ch.key, ev[1])
					if !ok {
						row.Unmatched++
						continue
					}
					acc := ch.accepted.UnixNano()
					a2r = append(a2r, durNs(acc, ev[0]))
					r2a = append(r2a, durNs(ev[0], ev[1]))
					a2p = append(a2p, durNs(ev[1], wr.plan))
					p2s = append(p2s, durNs(wr.plan, wr.sent))
					s2a = append(s2a, durNs(wr.sent, wr.answered))
					a2s = append(a2s, durNs(wr.answered, seen.UnixNano()))
					ours = append(ours, durNs(ev[0], wr.sent))
					beyond = append(beyond, max(0, durNs(ev[0], wr.sent)-time.Duration(delayMs)*time.Millisecond))
					e2e = append(e2e, seen.Sub(ch.accepted))
					if wr.flush != 0 {
						busy, held := time.Duration(wr.flushBusy-ev[2]), time.Duration(wr.flushHeld-ev[3])
						plan := durNs(wr.flush, wr.plan)
						wWriter, wHeld, wPlan = append(wWriter, busy), append(wHeld, held), append(wPlan, plan)
						wOther = append(wOther, durNs(ev[1], wr.plan)-busy-held-plan)
						thr = append(thr, time.Duration(wr.thrtl))
					}
				}
				row.WaitWriter, row.WaitHeld, row.Planning = statOf(wWriter), statOf(wHeld), statOf(wPlan)
				row.WaitOther, row.ClientThrottle = statOf(wOther), statOf(thr)
				if sum := sumDur(ours); sum > 0 && len(wWriter) == len(ours) {
					row.OursShare = map[string]float64{
						"informer_to_applied":      float64(sumDur(r2a)) / float64(sum),
						"wait_writer":              float64(sumDur(wWriter)) / float64(sum),
						"wait_rate_limit_or_delay": float64(sumDur(wHeld)) / float64(sum),
						"engine_planning":          float64(sumDur(wPlan)) / float64(sum),
						"wait_other":               float64(sumDur(wOther)) / float64(sum),
						"planned_to_sent":          float64(sumDur(p2s)) / float64(sum),
					}
				}
				row.AcceptedToRecv, row.RecvToApplied, row.AppliedToPlan = statOf(a2r), statOf(r2a), statOf(a2p)
				row.PlanToSent, row.WriteRoundTrip, row.AnsweredToSeen = statOf(p2s), statOf(s2a), statOf(a2s)
				row.Ours, row.OursBeyondDelay, row.EndToEnd = statOf(ours), statOf(beyond), statOf(e2e)
				row.Writes = tr.total
			}
			res.Rows = append(res.Rows, row)
			t.Logf("%s rate %d/s: %d changes at %.0f/s (errors %d), API %+v; ours %+v e2e %+v (unmatched %d, writes %d); near 2 s %d; control proxy %+v direct %+v; throttling %v; CPU s over %.1f s: test process %.2f, operator %.2f; load %s",
				label, rate, n, row.Achieved, row.ChangeErrs, row.ChangeAPI, row.Ours, row.EndToEnd, row.Unmatched, row.OperatorWritesDelta, row.Near2s,
				row.ControlProxy, row.ControlDirect, row.Throttling, row.Seconds, row.TestCPUSeconds, row.OperatorCPUSeconds, loadavg())
		}
	}

	sweep("none", 0, nil)
	for _, v := range variants {
		for _, delay := range delays {
			label := fmt.Sprintf("delay=%dms", delay)
			if v.name != "" {
				label += " " + v.name
			}
			args := append([]string{"--trace-propagation", "--kube-api-qps", "100", "--kube-api-burst", "200"}, v.args...)
			underTest := operatorBinary
			if v.bin != "" {
				operatorBinary = v.bin
			}
			op := startOperatorConfig(t, t, c.proxy, fmt.Sprintf("nfr1-d%d%s", delay, v.name), operatorConfigHelmLimits(delay), scenarioLease, args...)
			operatorBinary = underTest
			restoreGC := func() {}
			if v.gogc > 0 {
				old := debug.SetGCPercent(v.gogc)
				restoreGC = func() { debug.SetGCPercent(old) }
			}
			op.waitSynced(t, 120*time.Second)
			if got, want := op.rateStep(t), (rateStep{nfr1Nodes, 100, 200}); got != want {
				t.Fatalf("operator's rate-limit step at the initial sync: %+v, want %+v (Helm default, %d CiliumNodes)", got, want, nfr1Nodes)
			}
			waitConverged(t, c.client, op, 180*time.Second)
			if prof := os.Getenv("SLICEPLANE_NFR1_CPUPROFILE"); prof != "" && delay == 0 {
				// The test process holds the API server, etcd, the proxy and the
				// clients: where the API server spends its CPU under our writes.
				if v.name != "" {
					prof += "." + v.name
				}
				f, err := os.Create(prof)
				if err != nil {
					t.Fatal(err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					t.Fatal(err)
				}
				sweep(label, delay, op)
				pprof.StopCPUProfile()
				f.Close()
			} else {
				sweep(label, delay, op)
			}
			restoreGC()
			op.stop(t)
		}
	}
	for k, s := range summary {
		res.ControlSummary[k+", proxy"] = statOf(s[0])
		res.ControlSummary[k+", direct"] = statOf(s[1])
	}
	if os.Getenv("SLICEPLANE_NFR1_CEILING") != "0" {
		// The operator is gone: a second slice watch stands in for its
		// informer (the NFR1 watch is the first).
		wi, err := separateClient(t, c.srv.config).Resource(GVRCiliumEndpointSlice).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range wi.ResultChan() {
			}
		}()
		res.Ceiling = writeCeiling(ctx, t, c.srv.config)
		wi.Stop()
	}
	res.LoadAfter = loadavg()
	t.Logf("control clients' creates at %d/s: %+v", nfr1ControlRate, res.ControlSummary)
	t.Log("\n" + nfr1Table(res))
	if outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(filepath.Join(outDir, "nfr1.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(outDir, "nfr1.svg"), []byte(nfr1Plot(res)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(outDir, "nfr1.md"), []byte(nfr1Table(res)), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s/nfr1.json, nfr1.svg, nfr1.md", outDir)
	}
}

// nfr1Table is the result as a Markdown table (one row per operator
// setting and rate).
func nfr1Table(res nfr1Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "NFR1: %d endpoints, %d node IPs, rate limits %s, control creates %d/s per client; load before %s, after %s\n\n",
		res.Endpoints, res.Nodes, res.RateLimits, nfr1ControlRate, res.LoadBefore, res.LoadAfter)
	b.WriteString("| operator | rate/s | achieved | change API p50/p99 | ours p50/p99/max | ours beyond delay p99 | e2e p50/p99/max | write RTT p50/p99 | informer lag p99 | unmatched | writes | control proxy p50/p99/max | control direct p50/p99/max | 429s | calls 1.9–2.2 s |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range res.Rows {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.1f / %.1f | %.1f / %.1f / %.1f | %.1f | %.1f / %.1f / %.1f | %.1f / %.1f | %.1f | %d | %d | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | %.0f | %d |\n",
			r.Operator, r.Rate, r.Achieved, r.ChangeAPI.P50, r.ChangeAPI.P99,
			r.Ours.P50, r.Ours.P99, r.Ours.Max, r.OursBeyondDelay.P99,
			r.EndToEnd.P50, r.EndToEnd.P99, r.EndToEnd.Max, r.WriteRoundTrip.P50, r.WriteRoundTrip.P99,
			r.AcceptedToRecv.P99, r.Unmatched, r.OperatorWritesDelta,
			r.ControlProxy.P50, r.ControlProxy.P99, r.ControlProxy.Max,
			r.ControlDirect.P50, r.ControlDirect.P99, r.ControlDirect.Max,
			r.Throttling["apiserver_request_total{code=429}"], r.Near2s)
	}
	b.WriteString("\nWhere ours goes (applied → planned split by the operator's loop state; share of the summed ours of the rate; ms p50 / p99):\n\n")
	b.WriteString("| operator | rate/s | writes/s | ours p99 | waiting for a writer | rate limit or sync delay | engine planning | other | event queue + hand-over | client-go limiter (in RTT) |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range res.Rows {
		if r.OursShare == nil {
			continue
		}
		sh := r.OursShare
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f / %.1f (%.0f%%) | %.1f / %.1f (%.0f%%) | %.2f / %.2f (%.1f%%) | %.1f / %.1f (%.0f%%) | %.0f%% | %.1f / %.1f |\n",
			r.Operator, r.Rate, r.WritesPerSec, r.Ours.P99,
			r.WaitWriter.P50, r.WaitWriter.P99, 100*sh["wait_writer"],
			r.WaitHeld.P50, r.WaitHeld.P99, 100*sh["wait_rate_limit_or_delay"],
			r.Planning.P50, r.Planning.P99, 100*sh["engine_planning"],
			r.WaitOther.P50, r.WaitOther.P99, 100*sh["wait_other"],
			100*(sh["informer_to_applied"]+sh["planned_to_sent"]),
			r.ClientThrottle.P50, r.ClientThrottle.P99)
	}
	b.WriteString("\n| control client creates | p50 | p99 | max | n |\n|---|---|---|---|---|\n")
	keys := make([]string, 0, len(res.ControlSummary))
	for k := range res.ControlSummary {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := res.ControlSummary[k]
		fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms | %.1f ms | %d |\n", k, s.P50, s.P99, s.Max, s.N)
	}
	if len(res.Ceiling) > 0 {
		b.WriteString("\nThe server's ceiling of 100-entry slice updates (closed loop, one slice per writer, no operator, after the sweeps):\n")
		b.WriteString(nfr1CeilingTable(res.Ceiling))
	}
	return b.String()
}

// nfr1CESObject is a CiliumEndpointSlice of n entries as the engine writes
// one (entries sorted by name); ipGen picks entry i's address.
func nfr1CESObject(name, ns string, n int, ipGen func(i int) string) *unstructured.Unstructured {
	eps := make([]any, n)
	for i := range eps {
		eps[i] = nfr1CESEntry(ns, i, ipGen(i))
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v2alpha1",
		"kind":       "CiliumEndpointSlice",
		"metadata":   map[string]any{"name": name},
		"namespace":  ns,
		"endpoints":  eps,
	}}
}

func nfr1CESEntry(ns string, i int, ip string) map[string]any {
	return map[string]any{
		"name": fmt.Sprintf("ep-%05d", i),
		"id":   int64(1000 + i%40),
		"networking": map[string]any{
			"addressing": []any{map[string]any{"ipv4": ip}},
			"node":       nfr1NodeIP(i),
		},
		"encryption":      map[string]any{"key": int64(0)},
		"named-ports":     []any{map[string]any{"name": "http", "port": int64(8080), "protocol": "TCP"}},
		"service-account": "sa-" + ns,
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestNFR1WriteCost measures what one write costs the API server (with its
// embedded etcd, both in this process): CPU time of the process per request
// (getrusage, so independent of other load on the machine as far as CPU
// accounting is) and the round trip, for the ways the operator could change
// one entry of a 100-entry slice, beside the CiliumEndpoint update a change
// is and the control client's create. Sequential requests from one client,
// two slice watches open (the operator's informer and the NFR1 watch).
// Opt-in with SLICEPLANE_NFR1=1.
func TestNFR1WriteCost(t *testing.T) {
	if os.Getenv("SLICEPLANE_NFR1") == "" {
		t.Skip("opt-in: SLICEPLANE_NFR1=1")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCluster(t, "/sliceplane-nfr1-cost", true)
	cl := separateClient(t, c.srv.config)
	for range 2 {
		wi, err := separateClient(t, c.srv.config).Resource(GVRCiliumEndpointSlice).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range wi.ResultChan() {
			}
		}()
	}
	const n, size = 300, 100
	// SLICEPLANE_NFR1_COST_PROFILE=DIR writes one CPU profile of the test
	// process per request kind (DIR/cost-<row>.pprof, rows in table order).
	profDir := os.Getenv("SLICEPLANE_NFR1_COST_PROFILE")
	ns := "cost"
	ces := cl.Resource(GVRCiliumEndpointSlice)
	g := 0
	next := func() string { g++; return nfr1ChangeIP(g) }
	type result struct {
		name string
		cpu  time.Duration
		rt   []time.Duration
	}
	var results []result
	measure := func(name string, do func(i int) error) {
		// warm up, then measure
		for i := 0; i < 20; i++ {
			if err := do(i); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		var rts []time.Duration
		if profDir != "" {
			f, err := os.Create(filepath.Join(profDir, fmt.Sprintf("cost-%d.pprof", len(results)+1)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
			defer pprof.StopCPUProfile()
		}
		before := processCPU()
		for i := 0; i < n; i++ {
			s := time.Now()
			if err := do(i); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			rts = append(rts, time.Since(s))
		}
		results = append(results, result{name, (processCPU() - before) / n, rts})
		if profDir != "" {
			pprof.StopCPUProfile()
			t.Logf("CPU profile of %q: %s", name, filepath.Join(profDir, fmt.Sprintf("cost-%d.pprof", len(results))))
		}
	}
	slice := func(name string) (*unstructured.Unstructured, []string) {
		ips := make([]string, size)
		for i := range ips {
			ips[i] = next()
		}
		obj, err := ces.Create(ctx, nfr1CESObject(name, ns, size, func(i int) string { return ips[i] }), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return obj, ips
	}
	updateWith := func(name string, opts metav1.UpdateOptions) func(i int) error {
		_, ips := slice(name)
		var rv string
		if got, err := ces.Get(ctx, name, metav1.GetOptions{}); err == nil {
			rv = got.GetResourceVersion()
		}
		return func(i int) error {
			ips[i%size] = next()
			obj := nfr1CESObject(name, ns, size, func(i int) string { return ips[i] })
			obj.SetResourceVersion(rv)
			got, err := ces.Update(ctx, obj, opts)
			if err == nil {
				rv = got.GetResourceVersion()
			}
			return err
		}
	}
	measure("slice update (100 entries)", updateWith("u1", metav1.UpdateOptions{}))
	measure("slice update, fieldValidation=Ignore", updateWith("u2", metav1.UpdateOptions{FieldValidation: "Ignore"}))
	{
		// The API server's GOGC (a server setting, not ours): the test
		// process holds the API server and etcd, and a 100-entry update
		// allocates enough that the garbage collector is a quarter of its
		// CPU at the default 100.
		old := debug.SetGCPercent(400)
		measure("slice update, API server GOGC=400", updateWith("u3", metav1.UpdateOptions{}))
		debug.SetGCPercent(old)
	}
	{
		_, ips := slice("p1")
		got, _ := ces.Get(ctx, "p1", metav1.GetOptions{})
		rv := got.GetResourceVersion()
		measure("slice JSON patch of one entry (+ resourceVersion)", func(i int) error {
			ips[i%size] = next()
			ops := []map[string]any{
				{"op": "replace", "path": "/metadata/resourceVersion", "value": rv},
				{"op": "replace", "path": fmt.Sprintf("/endpoints/%d", i%size), "value": nfr1CESEntry(ns, i%size, ips[i%size])},
			}
			body, _ := json.Marshal(ops)
			got, err := ces.Patch(ctx, "p1", types.JSONPatchType, body, metav1.PatchOptions{})
			if err == nil {
				rv = got.GetResourceVersion()
			}
			return err
		})
	}
	{
		_, ips := slice("m1")
		got, _ := ces.Get(ctx, "m1", metav1.GetOptions{})
		rv := got.GetResourceVersion()
		measure("slice merge patch of the endpoints list (+ resourceVersion)", func(i int) error {
			ips[i%size] = next()
			obj := nfr1CESObject("m1", ns, size, func(i int) string { return ips[i] })
			body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": rv}, "endpoints": obj.Object["endpoints"]})
			got, err := ces.Patch(ctx, "m1", types.MergePatchType, body, metav1.PatchOptions{})
			if err == nil {
				rv = got.GetResourceVersion()
			}
			return err
		})
	}
	{
		cep := cl.Resource(GVRCiliumEndpoint).Namespace(ns)
		got, err := cep.Create(ctx, nfr1CEP(ns, "e1", next(), 1), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rv := got.GetResourceVersion()
		measure("CiliumEndpoint update (a change)", func(i int) error {
			obj := nfr1CEP(ns, "e1", next(), 1)
			obj.SetResourceVersion(rv)
			got, err := cep.Update(ctx, obj, metav1.UpdateOptions{})
			if err == nil {
				rv = got.GetResourceVersion()
			}
			return err
		})
	}
	{
		ids := cl.Resource(GVRCiliumIdentity)
		k := 0
		measure("CiliumIdentity create + delete (control client)", func(i int) error {
			k++
			name := fmt.Sprintf("cost-%06d", k)
			if _, err := ids.Create(ctx, controlObject(name, k), metav1.CreateOptions{}); err != nil {
				return err
			}
			return ids.Delete(ctx, name, metav1.DeleteOptions{})
		})
	}
	// Who else pays per slice write, and whether anything queues requests:
	// the slice watches open on the server, and priority and fairness.
	text := scrapeAPIServer(t, c.srv.config)
	watches, _ := metric(text, "apiserver_longrunning_requests", `resource="ciliumendpointslices"`, `verb="WATCH"`)
	apf, apfFound := metric(text, "apiserver_flowcontrol_dispatched_requests_total")
	inflight, _ := metric(text, "apiserver_current_inflight_requests")
	t.Logf("slice watches open on the server: %v; priority and fairness: dispatched %v (metric present: %v); max-in-flight filter: %v in flight now, %v dropped; 429s %v",
		watches, apf, apfFound, inflight, apiThrottling(text)["apiserver_dropped_requests_total"], apiThrottling(text)["apiserver_request_total{code=429}"])
	var b strings.Builder
	b.WriteString("\n| request | process CPU per request | round trip p50 / p99 |\n|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.2f ms | %.1f / %.1f ms |\n", r.name, ms(r.cpu), ms(percentile(r.rt, 0.5)), ms(percentile(r.rt, 0.99)))
	}
	t.Log(b.String())
}

// cpu is the operator process's CPU time so far (user + system, from
// /proc/PID/stat; 0 where there is no /proc).
func (r *runningOperator) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): state is
	// field 3, utime 14 and stime 15 (clock ticks, 100 per second on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
