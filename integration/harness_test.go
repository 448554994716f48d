package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Resources the tests read and write.
var (
	GVRCiliumEndpoint      = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumendpoints"}
	GVRCiliumEndpointSlice = schema.GroupVersionResource{Group: "cilium.io", Version: "v2alpha1", Resource: "ciliumendpointslices"}
)

// ForeignMergePatch applies a JSON merge patch as a second writer would.
func ForeignMergePatch(ctx context.Context, c dynamic.Interface, gvr schema.GroupVersionResource, name string, patch []byte) error {
	_, err := c.Resource(gvr).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// apiProxy is a plain-HTTP reverse proxy on a fixed 127.0.0.1 port in
// front of the current API server. The API server test fixture picks a new
// port, serving certificate and loopback token each time it starts; the
// proxy gives the operator one stable address across an API server restart
// (as a real cluster's Service address would). It recognizes the
// operator's requests by their User-Agent ("sliceplane-operator/..."): it
// records every one (method, resource, verb: the RBAC check), can answer
// the next N slice writes with 503 (fault injection), and runs a hook
// before forwarding a write (used to force a stale resourceVersion).
type apiProxy struct {
	srv *http.Server
	url string

	mu     sync.RWMutex
	rp     *httputil.ReverseProxy
	gen    context.Context // ends when the backend is switched
	endGen context.CancelFunc

	failMu     sync.Mutex
	failWrites int
	injected   atomic.Int64

	hookMu      sync.Mutex
	beforeWrite func(r *http.Request)

	recMu    sync.Mutex
	requests map[apiRequest]int
	// writes are the operators' slice writes forwarded to the API server.
	writes []forwardedWrite

	cutMu    sync.Mutex
	cutLease map[string]bool // replica identity -> its Lease requests fail
}

// forwardedWrite is a slice write the proxy forwarded: which replica, when
// it arrived and when its answer came back.
type forwardedWrite struct {
	Replica        string
	Sent, Answered time.Time
}

// replicaOf is the identity in an operator's User-Agent,
// "sliceplane-operator/VERSION (IDENTITY)".
func replicaOf(r *http.Request) string {
	ua := r.Header.Get("User-Agent")
	if i := strings.LastIndex(ua, " ("); i >= 0 && strings.HasSuffix(ua, ")") {
		return ua[i+2 : len(ua)-1]
	}
	return ""
}

// cutLeaseOf makes every Lease request of a replica fail with 503 (its API
// connection cut for leader election only, the worst case: it still sees
// events and wants to write slices while it cannot renew).
func (p *apiProxy) cutLeaseOf(replica string) {
	p.cutMu.Lock()
	if p.cutLease == nil {
		p.cutLease = map[string]bool{}
	}
	p.cutLease[replica] = true
	p.cutMu.Unlock()
}

// forwardedWrites returns the slice writes forwarded so far.
func (p *apiProxy) forwardedWrites() []forwardedWrite {
	p.recMu.Lock()
	defer p.recMu.Unlock()
	return append([]forwardedWrite(nil), p.writes...)
}

// apiRequest is one kind of request the operator made, in RBAC terms.
type apiRequest struct {
	Group, Resource, Verb string
	// NonResource is the path of a non-resource request (e.g. /version).
	NonResource string
}

func (a apiRequest) String() string {
	if a.NonResource != "" {
		return a.Verb + " " + a.NonResource
	}
	g := a.Group
	if g == "" {
		g = "core"
	}
	return a.Verb + " " + g + "/" + a.Resource
}

// classify maps a request to its RBAC group, resource and verb, as the API
// server's request info resolver does for the paths the operator uses.
func classify(r *http.Request) apiRequest {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var group string
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, rest = parts[1], parts[3:]
	default:
		return apiRequest{NonResource: r.URL.Path, Verb: strings.ToLower(r.Method)}
	}
	if len(rest) >= 2 && rest[0] == "namespaces" && len(rest) > 2 {
		rest = rest[2:] // namespaced resource
	}
	if len(rest) == 0 {
		return apiRequest{NonResource: r.URL.Path, Verb: strings.ToLower(r.Method)}
	}
	res := rest[0]
	named := len(rest) >= 2
	if len(rest) >= 3 {
		res += "/" + rest[2] // subresource
	}
	verb := ""
	switch r.Method {
	case http.MethodGet:
		switch {
		case named:
			verb = "get"
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			verb = "watch"
		default:
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
		if !named {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(r.Method)
	}
	return apiRequest{Group: group, Resource: res, Verb: verb}
}

func isOperator(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("User-Agent"), "sliceplane-operator/")
}

func newProxy(t testing.TB) *apiProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &apiProxy{url: "http://" + ln.Addr().String(), requests: map[apiRequest]int{}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

// setBackend points the proxy at a new API server (nil: none) and cuts every
// request in flight to the old one, watches included, as the restart of a
// real API server would (and so that its shutdown need not wait for them).
func (p *apiProxy) setBackend(t testing.TB, cfg *rest.Config) {
	p.mu.Lock()
	if p.endGen != nil {
		p.endGen()
	}
	p.gen, p.endGen = context.WithCancel(context.Background())
	p.rp = nil
	p.mu.Unlock()
	if cfg == nil {
		return
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     rt,
		FlushInterval: -1,
		ErrorLog:      nil,
	}
	p.mu.Lock()
	p.rp = rp
	p.mu.Unlock()
}

func (p *apiProxy) failNextWrites(n int) {
	p.failMu.Lock()
	p.failWrites = n
	p.failMu.Unlock()
}

// setBeforeWrite installs a hook run before each operator write is
// forwarded (nil removes it).
func (p *apiProxy) setBeforeWrite(f func(r *http.Request)) {
	p.hookMu.Lock()
	p.beforeWrite = f
	p.hookMu.Unlock()
}

// recorded returns the operator's requests seen so far.
func (p *apiProxy) recorded() map[apiRequest]int {
	p.recMu.Lock()
	defer p.recMu.Unlock()
	out := make(map[apiRequest]int, len(p.requests))
	for k, v := range p.requests {
		out[k] = v
	}
	return out
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
}

func (p *apiProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isOperator(r) {
		req := classify(r)
		p.recMu.Lock()
		p.requests[req]++
		if req.Verb == "watch" && r.URL.Query().Get("sendInitialEvents") == "true" {
			// client-go's streaming list (a watch that starts with the
			// current objects) stands for the informer's LIST; against
			// servers without it client-go falls back to LIST, so the
			// operator needs list either way.
			p.requests[apiRequest{Group: req.Group, Resource: req.Resource, Verb: "list"}]++
		}
		p.recMu.Unlock()
		if strings.Contains(r.URL.Path, "/leases") {
			p.cutMu.Lock()
			cut := p.cutLease[replicaOf(r)]
			p.cutMu.Unlock()
			if cut {
				writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "connection cut by the test")
				return
			}
		}
		if r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/ciliumendpointslices") {
			sent := time.Now()
			defer func() {
				p.recMu.Lock()
				p.writes = append(p.writes, forwardedWrite{Replica: replicaOf(r), Sent: sent, Answered: time.Now()})
				p.recMu.Unlock()
			}()
			p.failMu.Lock()
			fail := p.failWrites > 0
			if fail {
				p.failWrites--
			}
			p.failMu.Unlock()
			if fail {
				p.injected.Add(1)
				writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "injected write failure")
				return
			}
			p.hookMu.Lock()
			hook := p.beforeWrite
			p.hookMu.Unlock()
			if hook != nil {
				hook(r)
			}
		}
	}
	p.mu.RLock()
	rp, gen := p.rp, p.gen
	p.mu.RUnlock()
	if rp == nil {
		writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "API server is restarting")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(gen, cancel)
	defer stop()
	rp.ServeHTTP(w, r.WithContext(ctx))
}

// clientConfig is the test's own client of the proxy.
func (p *apiProxy) clientConfig() *rest.Config {
	return &rest.Config{Host: p.url, QPS: 5000, Burst: 5000}
}

// kubeconfig writes a kubeconfig for the proxy (plain HTTP, no credentials:
// the proxy authenticates to the API server) and returns its path.
func (p *apiProxy) kubeconfig(t testing.TB) string {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q}}]
users: [{name: test, user: {}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
`, p.url)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cesCRD returns the CiliumEndpointSlice CRD of ../shared/schemas with the
// two optional endpoint fields of newer Cilium releases added
// (`service-account`, `pod-uid`, strings), as the file's header notes. The
// engine writes `service-account`; with the older schema the API server
// prunes it (TestOlderCESSchemaPrunesServiceAccount shows that).
func cesCRD(crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	crd = crd.DeepCopy()
	for i := range crd.Spec.Versions {
		root := crd.Spec.Versions[i].Schema.OpenAPIV3Schema
		eps := root.Properties["endpoints"]
		item := eps.Items.Schema
		for _, f := range []string{"service-account", "pod-uid"} {
			item.Properties[f] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		}
		root.Properties["endpoints"] = eps
	}
	return crd
}

// leaseCRD serves coordination.k8s.io/v1 Leases on the apiextensions API
// server, which has no built-in coordination group (the full kube-apiserver
// does). Same group, version, kind, resource path and JSON, so client-go's
// leaderelection talks to it exactly as to the built-in API: Get, Create,
// Update with resourceVersion concurrency.
func leaseCRD() *apiextensionsv1.CustomResourceDefinition {
	preserve := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "leases.coordination.k8s.io",
			Annotations: map[string]string{"api-approved.kubernetes.io": "https://github.com/kubernetes/kubernetes/pull/80827"},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "coordination.k8s.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "leases", Singular: "lease", Kind: "Lease", ListKind: "LeaseList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", XPreserveUnknownFields: &preserve},
					},
				}},
			}},
		},
	}
}

var gvrLease = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

// ---- the operator under test: the shipped binary, run as a process ----

// operatorBinary is the sliceplane-operator binary under test: built by
// operator/build.sh (integration/test.sh passes it in
// SLICEPLANE_OPERATOR_BIN) or, when unset, by TestMain with go build.
var operatorBinary string

type runningOperator struct {
	name    string
	cmd     *exec.Cmd
	admin   string // http://127.0.0.1:port
	logPath string
	exited  chan struct{}
	exitErr error
}

// operatorConfig is the tests' engine config: one rate-limit step of 200
// writes/s whatever the node count.
func operatorConfig(syncDelayMs int) string {
	return operatorConfigLimits(syncDelayMs, "\n  rateLimits: [{nodes: 0, limit: 200, burst: 200}]")
}

// operatorConfigHelmLimits is operatorConfig without rateLimits: the
// operator applies Cilium's Helm default steps (options.HelmDefaultRateLimits:
// 10/s below 100 CiliumNodes, 50/s from 100, 100/s from 500).
func operatorConfigHelmLimits(syncDelayMs int) string {
	return operatorConfigLimits(syncDelayMs, "")
}

func operatorConfigLimits(syncDelayMs int, rateLimits string) string {
	return fmt.Sprintf(`source: ciliumendpoints
seed: 7
write:
  syncDelayMs: %d%s
  retry: {baseMs: 200, capMs: 2000, maxRetries: 15}
  errorThreshold: {consecutiveFailures: 5}
`, syncDelayMs, rateLimits)
}

// leaseFlags are the leader election timings of the tests: short, so that
// a takeover is quick, and long enough that an API server restart (a few
// seconds) does not cost the lease.
type leaseTimings struct{ duration, renew, retry, margin time.Duration }

var (
	scenarioLease = leaseTimings{30 * time.Second, 20 * time.Second, time.Second, 2 * time.Second}
	failoverLease = leaseTimings{3 * time.Second, 2 * time.Second, 500 * time.Millisecond, 500 * time.Millisecond}
)

// startOperator runs the operator binary against the proxy with leader
// election on the Lease "sliceplane-operator" in "kube-system". The process
// and its files live until t ends.
func startOperator(t testing.TB, p *apiProxy, name string, syncDelayMs int, lease leaseTimings, extra ...string) *runningOperator {
	t.Helper()
	return startOperatorOwned(t, t, p, name, syncDelayMs, lease, extra...)
}

// startOperatorOwned is startOperator for a subtest whose operator outlives
// it: owner (the parent test) keeps the process and its files.
func startOperatorOwned(t, owner testing.TB, p *apiProxy, name string, syncDelayMs int, lease leaseTimings, extra ...string) *runningOperator {
	t.Helper()
	return startOperatorConfig(t, owner, p, name, operatorConfig(syncDelayMs), lease, extra...)
}

// startOperatorConfig is startOperatorOwned with the engine config given.
func startOperatorConfig(t, owner testing.TB, p *apiProxy, name, config string, lease leaseTimings, extra ...string) *runningOperator {
	t.Helper()
	dir := owner.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freeLoopbackPort(t)
	args := append([]string{
		"--kubeconfig", p.kubeconfig(owner),
		"--config", cfgPath,
		"--admin-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--leader-elect-namespace", "kube-system",
		"--leader-elect-identity", name,
		"--leader-elect-lease-duration", lease.duration.String(),
		"--leader-elect-renew-deadline", lease.renew.String(),
		"--leader-elect-retry-period", lease.retry.String(),
		"--leader-elect-write-margin", lease.margin.String(),
		"--kube-api-qps", "5000", "--kube-api-burst", "5000",
	}, extra...)
	r := &runningOperator{
		name:    name,
		admin:   fmt.Sprintf("http://127.0.0.1:%d", port),
		logPath: filepath.Join(dir, "operator.log"),
		exited:  make(chan struct{}),
	}
	logf, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(operatorBinary, args...)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.exitErr = r.cmd.Wait()
		logf.Close()
		close(r.exited)
	}()
	owner.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if owner.Failed() {
			owner.Logf("operator %s log (tail):\n%s", r.name, r.logTail(40))
		}
	})
	// Wait until the admin server answers.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(r.admin + "/healthz"); err == nil {
			resp.Body.Close()
			return r
		}
		select {
		case <-r.exited:
			t.Fatalf("operator %s exited at start: %v\n%s", name, r.exitErr, r.logTail(40))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("operator %s: admin server not up within 60 s\n%s", name, r.logTail(40))
	return nil
}

func (r *runningOperator) logTail(n int) string {
	b, _ := os.ReadFile(r.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (r *runningOperator) log() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

func (r *runningOperator) running() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM (graceful shutdown) and wants exit status 0.
func (r *runningOperator) stop(t testing.TB) {
	t.Helper()
	if !r.running() {
		t.Errorf("operator %s had already exited: %v", r.name, r.exitErr)
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		if r.exitErr != nil {
			t.Errorf("operator %s ended with: %v\n%s", r.name, r.exitErr, r.logTail(20))
		}
	case <-time.After(30 * time.Second):
		t.Errorf("operator %s did not stop within 30 s of SIGTERM", r.name)
	}
}

// kill sends SIGKILL (no shutdown, no lease release).
func (r *runningOperator) kill() {
	_ = r.cmd.Process.Kill()
	<-r.exited
}

func (r *runningOperator) scrape(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape metrics of %s: %v", r.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %s: %s", resp.Status, b)
	}
	return string(b)
}

// metric sums the samples of a metric whose labels contain every one of
// labels (e.g. `op="update"`); found is false when there is none.
func metric(text, name string, labels ...string) (sum float64, found bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		lbl := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			lbl, rest = rest[1:end], rest[end+1:]
		}
		if !strings.HasPrefix(rest, " ") {
			continue // a longer name
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(lbl, l)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// writes is the number of writes the operator sent and their outcomes ("op/outcome").
func (r *runningOperator) writes(t testing.TB) (int, map[string]int) {
	text := r.scrape(t)
	by := map[string]int{}
	total := 0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "sliceplane_operator_writes_total{") {
			continue
		}
		var op, outcome string
		var n int
		if _, err := fmt.Sscanf(line, "sliceplane_operator_writes_total{op=%q,outcome=%q} %d", &op, &outcome, &n); err == nil {
			by[op+"/"+outcome] += n
			total += n
		}
	}
	return total, by
}

func (r *runningOperator) gauge(t testing.TB, name string, labels ...string) float64 {
	v, _ := metric(r.scrape(t), name, labels...)
	return v
}

func (r *runningOperator) synced(t testing.TB) bool {
	return r.gauge(t, "sliceplane_synced") == 1
}

func (r *runningOperator) waitSynced(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if r.synced(t) {
			return
		}
		if !r.running() {
			t.Fatalf("operator %s exited: %v\n%s", r.name, r.exitErr, r.logTail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("operator %s did not finish its initial sync within %v", r.name, timeout)
}

// ---- endpoints ----

type cepSpec struct {
	ns, name, ip string
	identity     int64
}

func (c cepSpec) key() string { return c.ns + "/" + c.name }

func ipOf(i int) string { return fmt.Sprintf("10.%d.%d.%d", 1+(i>>16)&0xff, (i>>8)&0xff, i&0xff) }

func cepObject(c cepSpec) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v2",
		"kind":       "CiliumEndpoint",
		"metadata":   map[string]any{"name": c.name, "namespace": c.ns},
		"status": map[string]any{
			"id":       int64(1),
			"state":    "ready",
			"identity": map[string]any{"id": c.identity, "labels": []any{"k8s:app=" + c.name[:4]}},
			"networking": map[string]any{
				"addressing": []any{map[string]any{"ipv4": c.ip}},
				"node":       "192.168.0.1",
			},
			"encryption":      map[string]any{"key": int64(0)},
			"named-ports":     []any{map[string]any{"name": "http", "port": int64(8080), "protocol": "TCP"}},
			"service-account": "sa-" + c.ns,
		},
	}}
}

// parallel runs f over items with n workers.
func parallel[T any](items []T, n int, f func(T) error) error {
	var wg sync.WaitGroup
	var first atomic.Value
	ch := make(chan T)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				if err := f(it); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

func createCEPs(ctx context.Context, c dynamic.Interface, ceps []cepSpec, created func(cepSpec, time.Time)) error {
	return parallel(ceps, 8, func(s cepSpec) error {
		_, err := c.Resource(GVRCiliumEndpoint).Namespace(s.ns).Create(ctx, cepObject(s), metav1.CreateOptions{})
		if err == nil && created != nil {
			created(s, time.Now())
		}
		return err
	})
}

func deleteCEPs(ctx context.Context, c dynamic.Interface, ceps []cepSpec) error {
	return parallel(ceps, 8, func(s cepSpec) error {
		return c.Resource(GVRCiliumEndpoint).Namespace(s.ns).Delete(ctx, s.name, metav1.DeleteOptions{})
	})
}

func updateCEPs(ctx context.Context, c dynamic.Interface, ceps []cepSpec) error {
	return parallel(ceps, 8, func(s cepSpec) error {
		res := c.Resource(GVRCiliumEndpoint).Namespace(s.ns)
		cur, err := res.Get(ctx, s.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		obj := cepObject(s)
		obj.SetResourceVersion(cur.GetResourceVersion())
		_, err = res.Update(ctx, obj, metav1.UpdateOptions{})
		return err
	})
}

// ---- what the server holds ----

type sliceEntry struct {
	Name       string `json:"name"`
	ID         int64  `json:"id"`
	Networking struct {
		Addressing []struct {
			IPv4 string `json:"ipv4"`
		} `json:"addressing"`
	} `json:"networking"`
	ServiceAccount string `json:"service-account"`
}

type sliceObj struct {
	Metadata  struct{ Name string } `json:"metadata"`
	Namespace string                `json:"namespace"`
	Endpoints []sliceEntry          `json:"endpoints"`
}

func listSlices(ctx context.Context, c dynamic.Interface) ([]sliceObj, error) {
	l, err := c.Resource(GVRCiliumEndpointSlice).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]sliceObj, 0, len(l.Items))
	for _, it := range l.Items {
		raw, err := it.MarshalJSON()
		if err != nil {
			return nil, err
		}
		var s sliceObj
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func listCEPs(ctx context.Context, c dynamic.Interface) (map[string]cepSpec, error) {
	l, err := c.Resource(GVRCiliumEndpoint).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]cepSpec{}
	for _, it := range l.Items {
		id, _, _ := unstructured.NestedInt64(it.Object, "status", "identity", "id")
		addrs, _, _ := unstructured.NestedSlice(it.Object, "status", "networking", "addressing")
		ip := ""
		if len(addrs) > 0 {
			ip, _ = addrs[0].(map[string]any)["ipv4"].(string)
		}
		s := cepSpec{ns: it.GetNamespace(), name: it.GetName(), ip: ip, identity: id}
		out[s.key()] = s
	}
	return out, nil
}

// divergence compares the slices the server holds with its CiliumEndpoints:
// every endpoint exactly once, in a slice of its namespace, with its
// identity, IP and service account; no stale entries, no empty or
// oversized slices. It returns up to a few problems.
func divergence(ctx context.Context, c dynamic.Interface) ([]string, int, error) {
	ceps, err := listCEPs(ctx, c)
	if err != nil {
		return nil, 0, err
	}
	slices, err := listSlices(ctx, c)
	if err != nil {
		return nil, 0, err
	}
	var probs []string
	add := func(f string, a ...any) {
		if len(probs) < 5 {
			probs = append(probs, fmt.Sprintf(f, a...))
		}
	}
	seen := map[string]string{}
	for _, s := range slices {
		if len(s.Endpoints) == 0 {
			add("slice %s is empty", s.Metadata.Name)
		}
		if len(s.Endpoints) > 100 {
			add("slice %s holds %d endpoints", s.Metadata.Name, len(s.Endpoints))
		}
		for _, e := range s.Endpoints {
			k := s.Namespace + "/" + e.Name
			if prev, dup := seen[k]; dup {
				add("%s in %s and %s", k, prev, s.Metadata.Name)
			}
			seen[k] = s.Metadata.Name
			want, ok := ceps[k]
			if !ok {
				add("stale entry %s in %s", k, s.Metadata.Name)
				continue
			}
			ip := ""
			if len(e.Networking.Addressing) > 0 {
				ip = e.Networking.Addressing[0].IPv4
			}
			if e.ID != want.identity || ip != want.ip || e.ServiceAccount != "sa-"+want.ns {
				add("%s in %s: id %d ip %s sa %q, want id %d ip %s", k, s.Metadata.Name, e.ID, ip, e.ServiceAccount, want.identity, want.ip)
			}
		}
	}
	for k := range ceps {
		if _, ok := seen[k]; !ok {
			add("endpoint %s is in no slice", k)
		}
	}
	return probs, len(slices), nil
}

// waitConverged polls until the server's slices match its endpoints and the
// engine has nothing dirty or in flight (its metrics).
func waitConverged(t testing.TB, c dynamic.Interface, r *runningOperator, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx := context.Background()
	var last []string
	for time.Since(start) < timeout {
		if !r.running() {
			t.Fatalf("operator %s exited: %v\n%s", r.name, r.exitErr, r.logTail(30))
		}
		m := r.scrape(t)
		synced, _ := metric(m, "sliceplane_synced")
		dirty, _ := metric(m, "sliceplane_dirty_slices")
		pending, _ := metric(m, "sliceplane_pending_writes")
		if synced == 1 && dirty == 0 && pending == 0 {
			probs, _, err := divergence(ctx, c)
			if err == nil && len(probs) == 0 {
				return time.Since(start)
			}
			last = probs
			if err != nil {
				last = []string{err.Error()}
			}
		} else {
			last = []string{fmt.Sprintf("engine: synced %v, dirty slices %v, pending writes %v", synced, dirty, pending)}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("not converged after %v: %s", timeout, strings.Join(last, "; "))
	return 0
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
