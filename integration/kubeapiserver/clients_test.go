package kubeapiserver

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// kubectl runs the real kubectl against the cluster and returns its stdout.
func kubectl(t testing.TB, c *cluster, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(kubectlBinary, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, errOut.String())
	}
	return out.Bytes()
}

// sliceplane runs the CLI with stdin and returns its stdout.
func sliceplane(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(cliBinary, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("sliceplane %v: %v\n%s", args, err, errOut.String())
	}
	return out.Bytes()
}

// plannedCreates counts the creates by kind in `sliceplane run` output
// (JSON lines) and fails on any other op.
func plannedCreates(t testing.TB, out []byte) map[string]int {
	t.Helper()
	by := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var w struct{ Op, Kind string }
		if err := json.Unmarshal(line, &w); err != nil {
			t.Fatalf("sliceplane run output: %v: %s", err, line)
		}
		if w.Op != "create" {
			t.Errorf("sliceplane run on an empty server planned %s %s", w.Op, w.Kind)
		}
		by[w.Kind]++
	}
	return by
}

// inspectReport is the part of `sliceplane inspect --json` the tests check.
type inspectReport struct {
	Endpoints      int            `json:"endpoints"`
	Slices         int            `json:"slices"`
	Duplicates     []any          `json:"duplicates"`
	EmptySlices    []any          `json:"empty_slices"`
	WrongNamespace []any          `json:"wrong_namespace"`
	AdoptionOps    map[string]any `json:"adoption_ops"`
	CEPsGiven      bool           `json:"ciliumendpoints_given"`
}

func inspect(t testing.TB, export []byte, cfgPath string) inspectReport {
	t.Helper()
	raw := sliceplane(t, export, "inspect", "--json", "--config", cfgPath, "-")
	var rep inspectReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("inspect output: %v\n%s", err, raw)
	}
	return rep
}
