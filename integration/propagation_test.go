package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// sliceWatcher is a separate watch on CiliumEndpointSlices that records the
// first time each endpoint (namespace/name) is seen in a slice.
type sliceWatcher struct {
	mu    sync.Mutex
	first map[string]time.Time
	want  int
	all   chan struct{}
}

func watchSlices(ctx context.Context, t testing.TB, c dynamic.Interface, want int) *sliceWatcher {
	w := &sliceWatcher{first: map[string]time.Time{}, want: want, all: make(chan struct{})}
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
			raw, err := json.Marshal(ev.Object)
			if err != nil {
				continue
			}
			var s sliceObj
			if json.Unmarshal(raw, &s) != nil {
				continue
			}
			w.mu.Lock()
			for _, e := range s.Endpoints {
				k := s.Namespace + "/" + e.Name
				if _, ok := w.first[k]; !ok {
					w.first[k] = now
				}
			}
			if len(w.first) >= w.want && w.all != nil {
				close(w.all)
				w.all = nil
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// watchCEPs records when a separate watch first sees each CiliumEndpoint:
// the API server's own watch latency, the floor under propagation.
func watchCEPs(ctx context.Context, t testing.TB, c dynamic.Interface) (*sync.Mutex, map[string]time.Time) {
	var mu sync.Mutex
	seen := map[string]time.Time{}
	wi, err := c.Resource(GVRCiliumEndpoint).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wi.Stop()
		for ev := range wi.ResultChan() {
			now := time.Now()
			if m, ok := ev.Object.(metav1.Object); ok && ev.Type == watch.Added {
				mu.Lock()
				seen[m.GetNamespace()+"/"+m.GetName()] = now
				mu.Unlock()
			}
		}
	}()
	return &mu, seen
}

type propagationResult struct {
	WatchP50, WatchP99 time.Duration
	N, SyncDelayMs     int
	P50, P99, Max      time.Duration
	CreateRate         float64
	Writes             int
	WritesPerChange    float64
}

func runPropagation(t *testing.T, n, delayMs int) propagationResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCluster(t, fmt.Sprintf("/sliceplane-prop-%d-%d", n, delayMs), true)
	r := startOperator(t, c.proxy, "op-prop", delayMs, scenarioLease)
	defer r.stop(t)
	r.waitSynced(t, 60*time.Second)
	// The measuring watch talks to the API server directly, not through the proxy.
	direct, err := dynamic.NewForConfig(c.srv.config)
	if err != nil {
		t.Fatal(err)
	}
	w := watchSlices(ctx, t, direct, n)
	cepMu, cepSeen := watchCEPs(ctx, t, direct)
	ceps := genCEPs(0, n, 20, "p")
	var mu sync.Mutex
	created := make(map[string]time.Time, n)
	start := time.Now()
	if err := createCEPs(ctx, c.client, ceps, func(s cepSpec, at time.Time) {
		mu.Lock()
		created[s.key()] = at
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	rate := float64(n) / time.Since(start).Seconds()
	w.mu.Lock()
	done := w.all
	w.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(180 * time.Second):
			t.Fatalf("only %d of %d endpoints seen in slices", len(w.first), n)
		}
	}
	waitConverged(t, c.client, r, 120*time.Second)
	w.mu.Lock()
	lat := make([]time.Duration, 0, n)
	for k, at := range created {
		d := w.first[k].Sub(at)
		lat = append(lat, max(d, 0))
	}
	w.mu.Unlock()
	cepMu.Lock()
	var base []time.Duration
	for k, at := range created {
		if seen, ok := cepSeen[k]; ok {
			base = append(base, max(seen.Sub(at), 0))
		}
	}
	cepMu.Unlock()
	writes, outcomes := r.writes(t)
	t.Logf("n=%d delay=%dms: write outcomes %v", n, delayMs, outcomes)
	res := propagationResult{
		N: n, SyncDelayMs: delayMs,
		WatchP50: percentile(base, 0.50), WatchP99: percentile(base, 0.99),
		P50: percentile(lat, 0.50), P99: percentile(lat, 0.99), Max: percentile(lat, 1),
		CreateRate: rate, Writes: writes, WritesPerChange: float64(writes) / float64(n),
	}
	return res
}

// TestPropagation measures endpoint created → entry visible in a slice to a
// separate watch, through the real API server. Sizes come from
// SLICEPLANE_PROPAGATION_SIZES (default "2000"; "2000,10000" for the full
// table).
func TestPropagation(t *testing.T) {
	sizes := []int{2000}
	if v := os.Getenv("SLICEPLANE_PROPAGATION_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 || n > 50000 {
				t.Fatalf("bad SLICEPLANE_PROPAGATION_SIZES %q", v)
			}
			sizes = append(sizes, n)
		}
	}
	var rows []string
	for _, n := range sizes {
		for _, delay := range []int{0, 500} {
			t.Run(fmt.Sprintf("n=%d/delay=%dms", n, delay), func(t *testing.T) {
				res := runPropagation(t, n, delay)
				row := fmt.Sprintf("| %6d | %4d ms | %8.1f ms | %8.1f ms | %8.1f ms | %6.1f / %6.1f ms | %5.0f/s | %6d | %.3f |",
					res.N, res.SyncDelayMs, ms(res.P50), ms(res.P99), ms(res.Max), ms(res.WatchP50), ms(res.WatchP99), res.CreateRate, res.Writes, res.WritesPerChange)
				rows = append(rows, row)
				t.Log(row)
			})
		}
	}
	t.Logf("propagation through the API server (create returned → entry seen by a separate CES watch)\n"+
		"| endpoints | sync delay | p50 | p99 | max | CEP watch p50 / p99 | creates | writes | writes/change |\n%s", strings.Join(rows, "\n"))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
