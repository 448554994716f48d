package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// TestSimulateFrom exports a cluster from the real API server as
// `kubectl get ... -A -o json` prints it (a v1 List) and runs
// `sliceplane simulate --from FILE --json` on it.
//
// This API server is the apiextensions test fixture: it serves CRDs only,
// not core v1 (no Pods, Nodes or Namespaces; the test checks that). So the
// export is what `kubectl get ciliumendpoints,ciliumnodes -A -o json`
// prints, the shape Cilium itself keeps of the cluster, and simulate takes
// the endpoints from the CiliumEndpoints. The pods-namespaces-nodes List is
// tested in cli/tests/simulate.rs on a fixture.
//
// The sliceplane binary: $SLICEPLANE_CLI_BIN, or else this test runs
// `cargo build --release -p sliceplane-cli --locked` and uses
// ../target/release/sliceplane.
func TestSimulateFrom(t *testing.T) {
	c := newCluster(t, "/simulate-from", true)
	ctx := context.Background()

	dc, err := discovery.NewDiscoveryClientForConfig(c.srv.config)
	if err != nil {
		t.Fatal(err)
	}
	core := map[string]bool{}
	if rl, err := dc.ServerResourcesForGroupVersion("v1"); err == nil {
		for _, r := range rl.APIResources {
			core[r.Name] = true
		}
	} else if !apierrors.IsNotFound(err) {
		t.Fatalf("discovery of v1: %v", err)
	}
	if core["pods"] || core["nodes"] || core["namespaces"] {
		t.Logf("note: this API server now serves core v1 (%v); pods,namespaces,nodes could be exported too", core)
	} else {
		t.Logf("core v1 resources served: %v (no pods, nodes or namespaces)", core)
	}

	installCRDs(t, c.srv.config, []*apiextensionsv1.CustomResourceDefinition{
		loadCRD(t, filepath.Join("..", "..", "shared", "schemas", "cilium-v1.20", "ciliumnodes.yaml")),
	})
	gvrNode := schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnodes"}
	gvrCEP := schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumendpoints"}

	// Three nodes; "shop" holds 130 endpoints of two apps, "web" 40 of one.
	nodeIP := func(n int) string { return fmt.Sprintf("192.168.10.%d", n+1) }
	for n := 0; n < 3; n++ {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cilium.io/v2",
			"kind":       "CiliumNode",
			"metadata":   map[string]any{"name": fmt.Sprintf("node-%d", n)},
			"spec": map[string]any{
				"addresses": []any{map[string]any{"type": "InternalIP", "ip": nodeIP(n)}},
			},
		}}
		if _, err := c.client.Resource(gvrNode).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	type ep struct {
		ns, app string
		id      int64
	}
	var eps []ep
	for i := 0; i < 130; i++ {
		app, id := "cart", int64(1001)
		if i%2 == 1 {
			app, id = "pay", 1002
		}
		eps = append(eps, ep{"shop", app, id})
	}
	for i := 0; i < 40; i++ {
		eps = append(eps, ep{"web", "front", 1003})
	}
	perNode := map[int]int{}
	for i, e := range eps {
		node := i % 3
		perNode[node]++
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cilium.io/v2",
			"kind":       "CiliumEndpoint",
			"metadata":   map[string]any{"name": fmt.Sprintf("%s-%d", e.app, i), "namespace": e.ns},
			"status": map[string]any{
				"id":    int64(i + 1),
				"state": "ready",
				"identity": map[string]any{"id": e.id, "labels": []any{
					"k8s:app=" + e.app, "k8s:io.kubernetes.pod.namespace=" + e.ns,
				}},
				"networking": map[string]any{
					"addressing": []any{map[string]any{"ipv4": fmt.Sprintf("10.20.%d.%d", i/250, i%250+1)}},
					"node":       nodeIP(node),
				},
				"encryption":      map[string]any{"key": int64(0)},
				"named-ports":     []any{map[string]any{"name": "http", "port": int64(8080), "protocol": "TCP"}},
				"service-account": e.app,
			},
		}}
		if _, err := c.client.Resource(gvrCEP).Namespace(e.ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The List, as kubectl prints several resources: apiVersion v1, kind
	// List, every item with its apiVersion and kind, 4-space indent.
	var items []any
	for _, gvr := range []schema.GroupVersionResource{gvrCEP, gvrNode} {
		l, err := c.client.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range l.Items {
			items = append(items, it.Object)
		}
	}
	if len(items) != 173 {
		t.Fatalf("exported %d objects, want 173", len(items))
	}
	list := map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"items":      items,
		"metadata":   map[string]any{"resourceVersion": ""},
	}
	raw, err := json.MarshalIndent(list, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cluster.json")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	out := runSimulate(t, "simulate", "--from", file, "--source", "ciliumendpoints", "--seed", "1", "--json")
	var v struct {
		Cluster struct {
			Pods, Nodes, Namespaces, Controllers int
			Import                               struct {
				EndpointsFrom string `json:"endpoints_from"`
				SkippedPods   int    `json:"skipped_pods"`
				OtherObjects  int    `json:"other_objects"`
			}
		}
		Traces []struct {
			Trace  string
			Events int
		}
		Configurations []struct {
			Key    string
			Phases []struct {
				Phase  string
				Slices int
				Ideal  int `json:"ideal_slices"`
			}
		}
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("simulate --json: %v\n%s", err, out)
	}
	cl := v.Cluster
	if cl.Import.EndpointsFrom != "ciliumendpoints" || cl.Pods != 170 || cl.Nodes != 3 || cl.Namespaces != 2 {
		t.Fatalf("cluster as simulated: %+v", cl)
	}
	// Controllers are (namespace, identity): shop/cart, shop/pay, web/front.
	if cl.Controllers != 3 || cl.Import.SkippedPods != 0 || cl.Import.OtherObjects != 0 {
		t.Fatalf("cluster as simulated: %+v", cl)
	}
	if len(v.Configurations) != 3 {
		t.Fatalf("%d configurations", len(v.Configurations))
	}
	for _, cfg := range v.Configurations {
		p := cfg.Phases[0]
		// shop: 130 endpoints → 2 slices, web: 40 → 1.
		if p.Phase != "initial build" || p.Slices != 3 || p.Ideal != 3 {
			t.Errorf("%s: initial build %+v, want 3 slices of 3 ideal", cfg.Key, p)
		}
	}
	for _, tr := range v.Traces {
		// One node of three drained: its endpoints deleted and re-created.
		if tr.Trace == "node-drain" && tr.Events != 2*perNode[0] && tr.Events != 2*perNode[2] {
			t.Errorf("node-drain: %d events, want twice one node's endpoints (%v)", tr.Events, perNode)
		}
	}
	t.Logf("simulate --from a %d-byte List exported from the API server: %d endpoints, %d nodes, traces %+v",
		len(raw), cl.Pods, cl.Nodes, v.Traces)
}

func runSimulate(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := os.Getenv("SLICEPLANE_CLI_BIN")
	if bin == "" {
		build := exec.Command("cargo", "build", "--release", "-p", "sliceplane-cli", "--locked")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("cargo build -p sliceplane-cli: %v\n%s", err, out)
		}
		bin = filepath.Join("..", "target", "release", "sliceplane")
	}
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
	}
	return stdout.Bytes()
}
