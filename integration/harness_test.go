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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"sliceplane.example/sliceplane"
)

// apiProxy is a plain-HTTP reverse proxy on a fixed 127.0.0.1 port in
// front of the current API server. The API server test fixture picks a new
// port, serving certificate and loopback token each time it starts; the
// proxy gives the operator one stable address across an API server restart
// (as a real cluster's Service address would), and it can answer the
// operator's next N slice writes with 503 (fault injection).
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
}

const operatorHeader = "X-Sliceplane-Operator"

func newProxy(t testing.TB) *apiProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &apiProxy{url: "http://" + ln.Addr().String()}
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
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del(operatorHeader)
		},
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

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
}

func (p *apiProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Header.Get(operatorHeader) != "" && strings.Contains(r.URL.Path, "/ciliumendpointslices") {
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

// clientConfig is a client of the proxy; operator clients are marked so
// that fault injection hits only them.
func (p *apiProxy) clientConfig(operator bool) *rest.Config {
	cfg := &rest.Config{Host: p.url, QPS: 5000, Burst: 5000}
	if operator {
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.Header.Set(operatorHeader, "1")
				return rt.RoundTrip(r)
			})
		}
	}
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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

// ---- the operator under test ----

type runningOperator struct {
	op      *Operator
	api     *DynamicAPI
	eng     *sliceplane.Engine
	cfg     *sliceplane.Config
	cancel  context.CancelFunc
	done    chan error
	metrics string
	api2    KubeAPI
}

func operatorConfig(syncDelayMs int) string {
	return fmt.Sprintf(`source: ciliumendpoints
seed: 7
write:
  syncDelayMs: %d
  rateLimits: [{nodes: 0, limit: 200, burst: 200}]
  retry: {baseMs: 200, capMs: 2000, maxRetries: 15}
  errorThreshold: {consecutiveFailures: 5}
`, syncDelayMs)
}

// startOperator runs a new engine and operator against the proxy. wrap, when
// not nil, wraps the API writer (used to force a stale resourceVersion).
func startOperator(t testing.TB, p *apiProxy, syncDelayMs int, wrap func(KubeAPI) KubeAPI) *runningOperator {
	t.Helper()
	cfg, err := sliceplane.NewConfigFromYAML([]byte(operatorConfig(syncDelayMs)))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := sliceplane.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(p.clientConfig(true))
	if err != nil {
		t.Fatal(err)
	}
	api := &DynamicAPI{Client: client}
	var writer KubeAPI = api
	if wrap != nil {
		writer = wrap(api)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningOperator{
		op:      &Operator{Engine: eng, API: writer, Client: client},
		api:     api,
		eng:     eng,
		cfg:     cfg,
		cancel:  cancel,
		done:    make(chan error, 1),
		metrics: "http://" + ln.Addr().String() + "/metrics",
	}
	if testing.Verbose() {
		var n atomic.Int64
		r.op.Logf = func(f string, a ...any) {
			if n.Add(1) <= 40 {
				t.Logf("operator: "+f, a...)
			}
		}
	}
	go func() { r.done <- r.op.Run(ctx, ln) }()
	return r
}

func (r *runningOperator) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil && err != context.Canceled {
			t.Errorf("operator ended with: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("operator did not stop within 30 s")
	}
	r.eng.Close()
	r.cfg.Close()
}

func (r *runningOperator) scrape(t testing.TB) string {
	resp, err := http.Get(r.metrics)
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %s: %s", resp.Status, b)
	}
	return string(b)
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
// engine has nothing dirty or in flight.
func waitConverged(t testing.TB, c dynamic.Interface, r *runningOperator, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx := context.Background()
	var last []string
	for time.Since(start) < timeout {
		st, err := r.eng.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Synced && st.DirtySlices == 0 && st.InFlight == 0 {
			probs, _, err := divergence(ctx, c)
			if err == nil && len(probs) == 0 {
				return time.Since(start)
			}
			last = probs
			if err != nil {
				last = []string{err.Error()}
			}
		} else {
			last = []string{fmt.Sprintf("engine: %+v", st)}
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
