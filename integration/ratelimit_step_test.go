package integration

// The write rate-limit step follows the number of CiliumNodes with
// --source ciliumendpoints too (Cilium's CES controller re-evaluates it on
// every CiliumNode event in both of its modes; reference/cilium-ces.md).
// The operator runs with Cilium's Helm default steps
// (ciliumEndpointSlice.rateLimits: 0 nodes 10/s burst 20, 100 nodes 50/s
// burst 100, 500 nodes 100/s burst 200).

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// GVRCiliumNode is Cilium's CiliumNode (CRD of ../shared/schemas/cilium-v1.20).
var GVRCiliumNode = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnodes"}

// ciliumNodeName and ciliumNodeIP name CiliumNode i and its InternalIP
// (192.168.x.y, the node IPs the NFR1 workload's endpoints use).
func ciliumNodeName(i int) string { return fmt.Sprintf("node-%04d", i) }

func ciliumNodeIP(i int) string {
	return fmt.Sprintf("192.168.%d.%d", 1+i/250, 1+i%250)
}

// createCiliumNodes creates CiliumNodes [from, to).
func createCiliumNodes(ctx context.Context, c dynamic.Interface, from, to int) error {
	var idx []int
	for i := from; i < to; i++ {
		idx = append(idx, i)
	}
	return parallel(idx, 8, func(i int) error {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cilium.io/v2",
			"kind":       "CiliumNode",
			"metadata":   map[string]any{"name": ciliumNodeName(i)},
			"spec": map[string]any{
				"addresses": []any{map[string]any{"type": "InternalIP", "ip": ciliumNodeIP(i)}},
			},
		}}
		_, err := c.Resource(GVRCiliumNode).Create(ctx, obj, metav1.CreateOptions{})
		return err
	})
}

// deleteCiliumNodes deletes CiliumNodes [from, to).
func deleteCiliumNodes(ctx context.Context, c dynamic.Interface, from, to int) error {
	var idx []int
	for i := from; i < to; i++ {
		idx = append(idx, i)
	}
	return parallel(idx, 8, func(i int) error {
		return c.Resource(GVRCiliumNode).Delete(ctx, ciliumNodeName(i), metav1.DeleteOptions{})
	})
}

// rateStep is the operator's active rate-limit step as its /metrics say.
type rateStep struct {
	nodes, limit, burst float64
}

func (r *runningOperator) rateStep(t testing.TB) rateStep {
	text := r.scrape(t)
	nodes, ok1 := metric(text, "sliceplane_nodes")
	limit, ok2 := metric(text, "sliceplane_rate_limit_writes_per_second")
	burst, ok3 := metric(text, "sliceplane_rate_limit_burst")
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("operator %s: sliceplane_nodes / sliceplane_rate_limit_writes_per_second / sliceplane_rate_limit_burst missing from /metrics", r.name)
	}
	return rateStep{nodes, limit, burst}
}

// waitNodes waits (bounded polling) until the operator has counted nodes
// CiliumNodes and returns its step then.
func (r *runningOperator) waitNodes(t testing.TB, nodes int, timeout time.Duration) rateStep {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := r.rateStep(t)
		if st.nodes == float64(nodes) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("operator %s counts %v CiliumNodes, want %d", r.name, st.nodes, nodes)
		}
		if !r.running() {
			t.Fatalf("operator %s exited: %v\n%s", r.name, r.exitErr, r.logTail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRateLimitStepFollowsCiliumNodes: the operator (--source
// ciliumendpoints, Helm-default rate limits) counts the CiliumNodes of its
// initial List before the initial sync (100 nodes: the 100-node step at
// once), moves to the 500-node step when 400 more appear and back to the
// 0-node step when they go below 100, and no CiliumNode event plans a slice
// write (a CiliumEndpoint carries its own node IP).
func TestRateLimitStepFollowsCiliumNodes(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, "/sliceplane-ratestep", true)
	if err := createCiliumNodes(ctx, c.client, 0, 100); err != nil {
		t.Fatal(err)
	}
	ceps := genCEPs(0, 120, 3, "step")
	if err := createCEPs(ctx, c.client, ceps, nil); err != nil {
		t.Fatal(err)
	}
	r := startOperatorConfig(t, t, c.proxy, "ratestep", operatorConfigHelmLimits(0), scenarioLease)
	r.waitSynced(t, 60*time.Second)
	// Synced means the whole initial List (CiliumNodes included) was applied
	// before InitialSyncDone: no waiting for the count here.
	if got, want := r.rateStep(t), (rateStep{100, 50, 100}); got != want {
		t.Fatalf("at the initial sync with 100 CiliumNodes: %+v, want %+v (the Helm 100-node step)", got, want)
	}
	waitConverged(t, c.client, r, 60*time.Second)
	before, _ := r.writes(t)

	if err := createCiliumNodes(ctx, c.client, 100, 500); err != nil {
		t.Fatal(err)
	}
	if got, want := r.waitNodes(t, 500, 60*time.Second), (rateStep{500, 100, 200}); got != want {
		t.Fatalf("with 500 CiliumNodes: %+v, want %+v (the Helm 500-node step)", got, want)
	}
	if err := deleteCiliumNodes(ctx, c.client, 1, 500); err != nil {
		t.Fatal(err)
	}
	if got, want := r.waitNodes(t, 1, 60*time.Second), (rateStep{1, 10, 20}); got != want {
		t.Fatalf("with 1 CiliumNode: %+v, want %+v (the Helm 0-node step)", got, want)
	}
	waitConverged(t, c.client, r, 60*time.Second)
	if n := writesDelta(t, r, before); n != 0 {
		t.Errorf("%d slice writes after 400 CiliumNodes were added and 499 removed, want 0", n)
	}
	if div, _, err := divergence(ctx, c.client); err != nil || len(div) != 0 {
		t.Errorf("slices diverge from the endpoints: %v %v", div, err)
	}
	r.stop(t)
}
