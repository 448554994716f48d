package controller

import (
	"context"
	"fmt"
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
