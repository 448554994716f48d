package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"sliceplane.example/sliceplane"
)

// blockingAPI holds every write to a slice of namespace "slow" until
// release is closed; other writes succeed at once.
type blockingAPI struct {
	fakeAPI
	release chan struct{}
	heldMu  sync.Mutex
	held    int
}

func (b *blockingAPI) Write(ctx context.Context, op sliceplane.Op) sliceplane.Outcome {
	if strings.Contains(string(op.Object), `"namespace":"slow"`) {
		b.heldMu.Lock()
		b.held++
		b.heldMu.Unlock()
		<-b.release
	}
	return b.fakeAPI.Write(ctx, op)
}

func (b *blockingAPI) holding() int {
	b.heldMu.Lock()
	defer b.heldMu.Unlock()
	return b.held
}

func newTestEngine(t *testing.T) *sliceplane.Engine {
	t.Helper()
	cfg, err := sliceplane.NewConfigFromYAML([]byte("source: ciliumendpoints\nwrite: {syncDelayMs: 0, rateLimits: [{nodes: 0, limit: 1000, burst: 1000}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	eng, err := sliceplane.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// TestWritesDoNotHoldBackTheLoop: while a write is in flight (held by the
// API), the loop still applies a new endpoint of another namespace, plans
// its slice and sends it. A loop that waited for its flush's writes would
// send nothing until the held write returned.
func TestWritesDoNotHoldBackTheLoop(t *testing.T) {
	eng := newTestEngine(t)
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		GVRCiliumNode:          "CiliumNodeList",
		GVRCiliumEndpoint:      "CiliumEndpointList",
		GVRCiliumEndpointSlice: "CiliumEndpointSliceList",
	}, cep("slow", "a", "10.0.0.1", 1000))
	api := &blockingAPI{release: make(chan struct{})}
	res, _ := WatchedResources("ciliumendpoints")
	c := &Controller{Engine: eng, API: api, Client: client, Resources: res}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	waitFor(t, "the slow slice's write in flight", func() bool { return api.holding() == 1 })
	if _, err := client.Resource(GVRCiliumEndpoint).Namespace("fast").Create(ctx, cep("fast", "b", "10.0.0.2", 1000), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fast slice written while the slow write is held", func() bool { return api.count() == 1 })
	api.mu.Lock()
	if w := api.writes[0]; w.Op != "create" || !strings.Contains(string(w.Object), `"namespace":"fast"`) {
		t.Errorf("first write done: %s %s, want the create of the fast slice", w.Op, w.Object)
	}
	api.mu.Unlock()
	close(api.release)
	waitFor(t, "both written", func() bool { st, _ := eng.Stats(); return api.count() == 2 && st.InFlight == 0 && st.DirtySlices == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestShutdownWaitsForWritesInFlight: Run returns only after the write in
// flight at cancellation was answered and reported.
func TestShutdownWaitsForWritesInFlight(t *testing.T) {
	eng := newTestEngine(t)
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		GVRCiliumNode:          "CiliumNodeList",
		GVRCiliumEndpoint:      "CiliumEndpointList",
		GVRCiliumEndpointSlice: "CiliumEndpointSliceList",
	}, cep("slow", "a", "10.0.0.1", 1000))
	api := &blockingAPI{release: make(chan struct{})}
	res, _ := WatchedResources("ciliumendpoints")
	c := &Controller{Engine: eng, API: api, Client: client, Resources: res}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "the write in flight", func() bool { return api.holding() == 1 })
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) with a write in flight", err)
	default:
	}
	close(api.release)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st, _ := eng.Stats(); st.InFlight != 0 || api.count() != 1 {
		t.Fatalf("after shutdown: %d in flight, %d writes; want 0 and 1", st.InFlight, api.count())
	}
	total, by := c.Metrics.Writes()
	if total != 1 || by["create/success"] != 1 {
		t.Errorf("metrics: %d writes %v, want one create/success", total, by)
	}
}

// TestPropagationTrace: with Trace set, every watch event and every write
// is logged with its times, and a write names the endpoints it holds.
func TestPropagationTrace(t *testing.T) {
	eng := newTestEngine(t)
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		GVRCiliumNode:          "CiliumNodeList",
		GVRCiliumEndpoint:      "CiliumEndpointList",
		GVRCiliumEndpointSlice: "CiliumEndpointSliceList",
	}, cep("ns1", "a", "10.0.0.1", 1000), cep("ns1", "b", "10.0.0.2", 1000))
	api := &fakeAPI{}
	var buf syncBuffer
	res, _ := WatchedResources("ciliumendpoints")
	c := &Controller{Engine: eng, API: api, Client: client, Resources: res, Trace: slog.New(slog.NewJSONHandler(&buf, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "the slice written", func() bool { return api.count() == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	events, writes := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var l struct {
			Msg                                 string
			Kind, Key, RV, Op, Outcome          string
			Recv, Applied, Plan, Sent, Answered int64
			Busy, Held, Flush, Throttled        int64
			FlushBusy                           int64 `json:"flush_busy"`
			FlushHeld                           int64 `json:"flush_held"`
			Endpoints                           []string
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("trace line %q: %v", line, err)
		}
		switch l.Msg {
		case "trace event":
			events++
			if l.Kind != "CiliumEndpoint" || (l.Key != "ns1/a" && l.Key != "ns1/b") || l.RV != "1" || l.Recv == 0 || l.Applied < l.Recv ||
				l.Busy < 0 || l.Held < 0 {
				t.Errorf("event line %s", line)
			}
		case "trace write":
			writes++
			if l.Op != "create" || l.Outcome != "success" || strings.Join(l.Endpoints, ",") != "ns1/a,ns1/b" ||
				l.Plan == 0 || l.Sent < l.Plan || l.Answered < l.Sent ||
				l.Flush == 0 || l.Flush > l.Plan || l.FlushBusy < 0 || l.FlushHeld < 0 || l.Throttled != 0 {
				t.Errorf("write line %s", line)
			}
		default:
			t.Errorf("unexpected trace line %s", line)
		}
	}
	if events != 2 || writes != 1 {
		t.Errorf("%d event lines and %d write lines, want 2 and 1:\n%s", events, writes, buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
