package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOperatorRefusesBadInput runs the shipped binary with invalid input:
// it must exit with status 2 before contacting any API server, naming the
// flag or the config field (with the engine's error code).
func TestOperatorRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("write:\n  rateLimits: [{nodes: 0, limit: 0, burst: 1}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("slicing:\n  maxEndpointsPerSlice: 100\n  mod: fcfs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--config", bad}, []string{"invalid_config", "write.rateLimits[0].limit", bad}},
		{[]string{"--config", typo}, []string{"invalid_config", "mod"}},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, []string{"--config", "missing.yaml"}},
		{[]string{"--source", "pod"}, []string{"--source"}},
		{[]string{"--rate-limits", "0:10:0"}, []string{"write.rateLimits[0].burst", "--rate-limits"}},
		{[]string{"--leader-elect-lease-duration", "1s"}, []string{"lease duration"}},
	} {
		cmd := exec.Command(operatorBinary, append(tc.args, "--kubeconfig", "/nonexistent")...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%v: exit %v, want status 2\n%s", tc.args, err, stderr.String())
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, w, stderr.String())
			}
		}
	}
	// --help exits 0 and says where the defaults come from.
	out, err := exec.Command(operatorBinary, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Cilium's Helm default ciliumEndpointSlice.rateLimits") {
		t.Errorf("--help: %v\n%s", err, out)
	}
}
