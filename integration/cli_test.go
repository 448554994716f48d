package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// sliceplaneCLI is the sliceplane CLI: $SLICEPLANE_CLI_BIN, or else
// ../target/release/sliceplane after `cargo build --release -p
// sliceplane-cli --locked` (a no-op when it is up to date).
func sliceplaneCLI(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("SLICEPLANE_CLI_BIN"); bin != "" {
		return bin
	}
	build := exec.Command("cargo", "build", "--release", "-p", "sliceplane-cli", "--locked", "--quiet")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cargo build -p sliceplane-cli: %v\n%s", err, out)
	}
	return filepath.Join("..", "target", "release", "sliceplane")
}

// exportList is what `kubectl get ciliumendpoints,ciliumendpointslices -A
// -o json` prints: a v1 List of the objects as the server holds them.
func exportList(t testing.TB, c dynamic.Interface) []byte {
	t.Helper()
	items := []any{}
	for _, gvr := range []schema.GroupVersionResource{GVRCiliumEndpoint, GVRCiliumEndpointSlice} {
		l, err := c.Resource(gvr).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range l.Items {
			items = append(items, it.Object)
		}
	}
	b, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}, "items": items}, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCLIAgreesWithOperator: on a cluster the operator converged, the
// engine run by the CLI over the exported objects plans zero writes (what
// the operator wrote is what the engine would write), and `sliceplane
// inspect` finds every endpoint exactly once, no empty or misplaced slice,
// and nothing to do on adoption.
func TestCLIAgreesWithOperator(t *testing.T) {
	cli := sliceplaneCLI(t)
	c := newCluster(t, "/sliceplane-cli", true)
	r := startOperator(t, c.proxy, "op-cli", 0, scenarioLease)
	defer r.stop(t)
	ceps := genCEPs(0, 450, 3, "cli")
	if err := createCEPs(context.Background(), c.client, ceps[:300], nil); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c.client, r, 60*time.Second)
	if err := deleteCEPs(context.Background(), c.client, ceps[:40]); err != nil {
		t.Fatal(err)
	}
	if err := createCEPs(context.Background(), c.client, ceps[300:], nil); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c.client, r, 60*time.Second)
	export := exportList(t, c.client)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(operatorConfig(0)), 0o600); err != nil {
		t.Fatal(err)
	}

	run := exec.Command(cli, "run", "--config", cfgPath, "-")
	run.Stdin = bytes.NewReader(export)
	var out, errOut bytes.Buffer
	run.Stdout, run.Stderr = &out, &errOut
	if err := run.Run(); err != nil {
		t.Fatalf("sliceplane run: %v\n%s", err, errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("sliceplane run plans writes on the converged cluster:\n%s", out.String())
	}

	insp := exec.Command(cli, "inspect", "--json", "--config", cfgPath, "-")
	insp.Stdin = bytes.NewReader(export)
	raw, err := insp.Output()
	if err != nil {
		t.Fatalf("sliceplane inspect: %v", err)
	}
	var rep struct {
		Endpoints      int             `json:"endpoints"`
		Slices         int             `json:"slices"`
		Duplicates     []any           `json:"duplicates"`
		EmptySlices    []any           `json:"empty_slices"`
		WrongNamespace []any           `json:"wrong_namespace"`
		AdoptionOps    map[string]any  `json:"adoption_ops"`
		CEPsGiven      bool            `json:"ciliumendpoints_given"`
		Namespaces     json.RawMessage `json:"namespaces"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("inspect output: %v\n%s", err, raw)
	}
	_, slices, _ := divergence(context.Background(), c.client)
	t.Logf("converged cluster (%d endpoints, %d slices): sliceplane run plans 0 writes; inspect: %d endpoints in %d slices, adoption ops %v", len(ceps)-40, slices, rep.Endpoints, rep.Slices, rep.AdoptionOps)
	if rep.Endpoints != len(ceps)-40 || rep.Slices != slices || len(rep.Duplicates) != 0 || len(rep.EmptySlices) != 0 || len(rep.WrongNamespace) != 0 || !rep.CEPsGiven {
		t.Errorf("inspect disagrees with the server: %s", raw)
	}
	for k, v := range rep.AdoptionOps {
		if n, ok := v.(float64); !ok || n != 0 {
			t.Errorf("inspect estimates adoption op %s = %v on the converged cluster", k, v)
		}
	}
}
