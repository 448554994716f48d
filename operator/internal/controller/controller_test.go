package controller

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"sliceplane.example/sliceplane"
)

// fakeGuard is the lease check: writes allowed or not, until a deadline.
type fakeGuard struct {
	mu       sync.Mutex
	allowed  bool
	deadline time.Time
	asked    atomic.Int64
}

func (g *fakeGuard) set(allowed bool, deadline time.Time) {
	g.mu.Lock()
	g.allowed, g.deadline = allowed, deadline
	g.mu.Unlock()
}

func (g *fakeGuard) WriteDeadline(time.Time) (time.Time, bool) {
	g.asked.Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.deadline, g.allowed
}

// fakeAPI accepts every write and records each one's context deadline.
type fakeAPI struct {
	mu        sync.Mutex
	writes    []sliceplane.Op
	deadlines []time.Time
}

func (f *fakeAPI) Write(ctx context.Context, op sliceplane.Op) sliceplane.Outcome {
	d, _ := ctx.Deadline()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, op)
	f.deadlines = append(f.deadlines, d)
	return sliceplane.Success(fmt.Sprint(len(f.writes)), fmt.Sprintf("uid-%d", len(f.writes)))
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.writes)
}

func cep(ns, name, ip string, id int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v2",
		"kind":       "CiliumEndpoint",
		"metadata":   map[string]any{"name": name, "namespace": ns, "resourceVersion": "1", "uid": "u-" + name},
		"status": map[string]any{
			"identity":   map[string]any{"id": id},
			"networking": map[string]any{"addressing": []any{map[string]any{"ipv4": ip}}, "node": "192.168.0.1"},
		},
	}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 3000; i++ { // bounded polling, not a timed assertion
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// TestLeaseCheckedBeforeEveryFlush: with the guard refusing, writes are due
// but none is sent (the flush is held back and counted); once the guard
// allows, the writes go out, each carrying the guard's deadline.
func TestLeaseCheckedBeforeEveryFlush(t *testing.T) {
	cfg, err := sliceplane.NewConfigFromYAML([]byte("source: ciliumendpoints\nwrite: {syncDelayMs: 0, rateLimits: [{nodes: 0, limit: 1000, burst: 1000}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	eng, err := sliceplane.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		GVRCiliumNode:          "CiliumNodeList",
		GVRCiliumEndpoint:      "CiliumEndpointList",
		GVRCiliumEndpointSlice: "CiliumEndpointSliceList",
	}, cep("default", "a", "10.0.0.1", 1000), cep("default", "b", "10.0.0.2", 1000))

	guard := &fakeGuard{}
	api := &fakeAPI{}
	res, _ := WatchedResources("ciliumendpoints")
	c := &Controller{Engine: eng, API: api, Client: client, Resources: res, Guard: guard}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	waitFor(t, "initial sync", c.Synced)
	waitFor(t, "a flush held back by the guard", func() bool {
		var b strings.Builder
		c.Metrics.Render(&b)
		return strings.Contains(b.String(), "sliceplane_operator_lease_held_back_flushes_total 1") ||
			strings.Contains(b.String(), "sliceplane_operator_lease_held_back_flushes_total 2")
	})
	if n := api.count(); n != 0 {
		t.Fatalf("%d writes sent while the guard refused", n)
	}
	if st, _ := eng.Stats(); st.DirtySlices == 0 || st.InFlight != 0 {
		t.Fatalf("engine: %+v, want dirty slices and nothing in flight", st)
	}

	deadline := time.Now().Add(time.Hour).Truncate(time.Second)
	guard.set(true, deadline)
	waitFor(t, "the slice written", func() bool { st, _ := eng.Stats(); return api.count() > 0 && st.DirtySlices == 0 && st.InFlight == 0 })
	api.mu.Lock()
	for i, d := range api.deadlines {
		if !d.Equal(deadline) {
			t.Errorf("write %d (%s %s) had deadline %v, want the guard's %v", i, api.writes[i].Op, api.writes[i].Name, d, deadline)
		}
	}
	api.mu.Unlock()
	total, by := c.Metrics.Writes()
	if total != api.count() || by["create/success"] != 1 {
		t.Errorf("metrics count %d writes %v; the API saw %d", total, by, api.count())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestHistogramBuckets(t *testing.T) {
	h := NewHistogram([]float64{0.1, 1})
	for _, v := range []float64{0.05, 0.1, 0.5, 2} {
		h.Observe(v)
	}
	var b strings.Builder
	h.render(&b, "x", `op="a"`)
	want := "x_bucket{op=\"a\",le=\"0.1\"} 2\nx_bucket{op=\"a\",le=\"1\"} 3\nx_bucket{op=\"a\",le=\"+Inf\"} 4\nx_sum{op=\"a\"} 2.65\nx_count{op=\"a\"} 4\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestErrorReason(t *testing.T) {
	for err, want := range map[error]string{
		context.DeadlineExceeded:              "ClientTimeout",
		fmt.Errorf("x: %w", context.Canceled): "Canceled",
		fmt.Errorf("dial tcp: refused"):       "Unknown",
		apierrors.NewServiceUnavailable("x"):  "ServiceUnavailable",
		apierrors.NewConflict(schema.GroupResource{Resource: "ciliumendpointslices"}, "s", fmt.Errorf("rv")): "Conflict",
	} {
		if got := ErrorReason(err); got != want {
			t.Errorf("%v: %s, want %s", err, got, want)
		}
	}
}

func ciliumNode(name, ip string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v2",
		"kind":       "CiliumNode",
		"metadata":   map[string]any{"name": name, "resourceVersion": "1", "uid": "u-" + name},
		"spec":       map[string]any{"addresses": []any{map[string]any{"type": "InternalIP", "ip": ip}}},
	}}
}

// engineGauge is the value of an unlabelled gauge in the engine's metrics.
func engineGauge(t *testing.T, eng *sliceplane.Engine, name string) float64 {
	t.Helper()
	raw, err := eng.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no %s in the engine's metrics", name)
	return 0
}

// stepAPI accepts every write and records the engine's active rate limit
// when each write arrives.
type stepAPI struct {
	fakeAPI
	t      *testing.T
	eng    *sliceplane.Engine
	limits []float64
}

func (s *stepAPI) Write(ctx context.Context, op sliceplane.Op) sliceplane.Outcome {
	limit := engineGauge(s.t, s.eng, "sliceplane_rate_limit_writes_per_second")
	s.mu.Lock()
	s.limits = append(s.limits, limit)
	s.mu.Unlock()
	return s.fakeAPI.Write(ctx, op)
}

// TestCiliumNodesSetTheStepBeforeTheFirstWrite: with the ciliumendpoints
// source and Cilium's Helm-default rate limits, the CiliumNodes of the
// initial List (500: the 500-node step, 100 writes/s, burst 200) are counted
// before the initial sync, so the first write already runs at the step of
// the cluster's size; the CiliumNodes themselves plan no write (the one
// endpoint's slice is the only one).
func TestCiliumNodesSetTheStepBeforeTheFirstWrite(t *testing.T) {
	cfg, err := sliceplane.NewConfigFromYAML([]byte("source: ciliumendpoints\nwrite:\n  syncDelayMs: 0\n  rateLimits: [{nodes: 0, limit: 10, burst: 20}, {nodes: 100, limit: 50, burst: 100}, {nodes: 500, limit: 100, burst: 200}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	eng, err := sliceplane.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	objs := []runtime.Object{cep("default", "a", "10.0.0.1", 1000)}
	for i := range 500 {
		objs = append(objs, ciliumNode(fmt.Sprintf("node-%03d", i), fmt.Sprintf("192.168.%d.%d", 1+i/250, 1+i%250)))
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		GVRCiliumNode:          "CiliumNodeList",
		GVRCiliumEndpoint:      "CiliumEndpointList",
		GVRCiliumEndpointSlice: "CiliumEndpointSliceList",
	}, objs...)
	api := &stepAPI{t: t, eng: eng}
	res, _ := WatchedResources("ciliumendpoints")
	c := &Controller{Engine: eng, API: api, Client: client, Resources: res}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "the slice written", func() bool { st, _ := eng.Stats(); return api.count() > 0 && st.DirtySlices == 0 && st.InFlight == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := engineGauge(t, eng, "sliceplane_nodes"); n != 500 {
		t.Errorf("sliceplane_nodes %v, want 500", n)
	}
	if b := engineGauge(t, eng, "sliceplane_rate_limit_burst"); b != 200 {
		t.Errorf("sliceplane_rate_limit_burst %v, want 200", b)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.writes) != 1 || api.writes[0].Op != "create" || api.writes[0].Kind != "CiliumEndpointSlice" {
		t.Fatalf("writes %+v, want the one slice's create", api.writes)
	}
	if api.limits[0] != 100 {
		t.Errorf("first write sent at %v writes/s, want 100 (the 500-node step)", api.limits[0])
	}
}

func TestWatchedResourcesCiliumNodesFirst(t *testing.T) {
	for _, source := range []string{"ciliumendpoints", "pods"} {
		res, err := WatchedResources(source)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range res {
			found = found || r == GVRCiliumNode
		}
		if !found {
			t.Errorf("%s: %v does not watch CiliumNodes (the rate-limit step's node count)", source, res)
		}
	}
	res, _ := WatchedResources("ciliumendpoints")
	if len(res) != 3 || res[0] != GVRCiliumNode || res[1] != GVRCiliumEndpoint || res[2] != GVRCiliumEndpointSlice {
		t.Errorf("ciliumendpoints: %v, want ciliumnodes, ciliumendpoints, ciliumendpointslices", res)
	}
}
