package kubeapiserver

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// operatorConfig is the engine config the operator and the CLI share.
func operatorConfig(source string) string {
	return fmt.Sprintf(`source: %s
seed: 7
write:
  syncDelayMs: 0
  rateLimits: [{nodes: 0, limit: 200, burst: 200}]
  retry: {baseMs: 200, capMs: 2000, maxRetries: 15}
  errorThreshold: {consecutiveFailures: 5}
identity:
  gcGraceMs: 2000 # an unused identity is deleted within seconds, not 15 minutes
`, source)
}

func writeConfig(t testing.TB, source string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(operatorConfig(source)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// leaseTimings are the operator's leader election flags.
type leaseTimings struct{ duration, renew, retry, margin time.Duration }

var (
	// steadyLease: long enough that nothing in a scenario costs the lease.
	steadyLease = leaseTimings{30 * time.Second, 20 * time.Second, time.Second, 2 * time.Second}
	// failoverLease: short, so that a takeover is quick.
	failoverLease = leaseTimings{3 * time.Second, 2 * time.Second, 500 * time.Millisecond, 500 * time.Millisecond}
)

// runningOperator is one sliceplane-operator process.
type runningOperator struct {
	name    string
	cmd     *exec.Cmd
	admin   string // http://127.0.0.1:port
	logPath string
	exited  chan struct{}
	exitErr error
}

// startOperator runs the operator binary against the cluster's kubeconfig
// with leader election on the built-in Lease kube-system/sliceplane-operator.
// The process lives until t ends.
func startOperator(t testing.TB, c *cluster, name, source string, lease leaseTimings) *runningOperator {
	t.Helper()
	return startOperatorAs(t, c.kubeconfig, "kube-system", name, source, lease)
}

// startOperatorAs is startOperator with a given kubeconfig (identity) and
// the Lease in leaseNamespace.
func startOperatorAs(t testing.TB, kubeconfig, leaseNamespace, name, source string, lease leaseTimings) *runningOperator {
	t.Helper()
	dir := t.TempDir()
	port := freeLoopbackPort(t)
	args := []string{
		"--kubeconfig", kubeconfig,
		"--config", writeConfig(t, source),
		"--source", source,
		"--admin-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--leader-elect-namespace", leaseNamespace,
		"--leader-elect-identity", name,
		"--leader-elect-lease-duration", lease.duration.String(),
		"--leader-elect-renew-deadline", lease.renew.String(),
		"--leader-elect-retry-period", lease.retry.String(),
		"--leader-elect-write-margin", lease.margin.String(),
		"--kube-api-qps", "5000", "--kube-api-burst", "5000",
	}
	r := &runningOperator{
		name:    name,
		admin:   fmt.Sprintf("http://127.0.0.1:%d", port),
		logPath: filepath.Join(dir, "operator.log"),
		exited:  make(chan struct{}),
	}
	logf, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(operatorBinary, args...)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.exitErr = r.cmd.Wait()
		logf.Close()
		close(r.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("operator %s log (tail):\n%s", r.name, r.logTail(40))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(r.admin + "/healthz"); err == nil {
			resp.Body.Close()
			return r
		}
		select {
		case <-r.exited:
			t.Fatalf("operator %s exited at start: %v\n%s", name, r.exitErr, r.logTail(40))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("operator %s: admin server not up within 60 s\n%s", name, r.logTail(40))
	return nil
}

func (r *runningOperator) logTail(n int) string {
	b, _ := os.ReadFile(r.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (r *runningOperator) running() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM (graceful shutdown) and wants exit status 0.
func (r *runningOperator) stop(t testing.TB) {
	t.Helper()
	if !r.running() {
		t.Errorf("operator %s had already exited: %v", r.name, r.exitErr)
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		if r.exitErr != nil {
			t.Errorf("operator %s ended with: %v\n%s", r.name, r.exitErr, r.logTail(20))
		}
	case <-time.After(30 * time.Second):
		t.Errorf("operator %s did not stop within 30 s of SIGTERM", r.name)
	}
}

// kill sends SIGKILL (no shutdown, no lease release).
func (r *runningOperator) kill() {
	_ = r.cmd.Process.Kill()
	<-r.exited
}

func (r *runningOperator) scrape(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape metrics of %s: %v", r.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %s: %s", resp.Status, b)
	}
	return string(b)
}

// metric sums the samples of a metric whose labels contain every one of
// labels (e.g. `op="update"`); found is false when there is none.
func metric(text, name string, labels ...string) (sum float64, found bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		lbl := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			lbl, rest = rest[1:end], rest[end+1:]
		}
		if !strings.HasPrefix(rest, " ") {
			continue // a longer name
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(lbl, l)
		}
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// writes is the number of writes the operator sent and their outcomes
// ("op/outcome", from sliceplane_operator_writes_total).
func (r *runningOperator) writes(t testing.TB) (int, map[string]int) {
	by := map[string]int{}
	total := 0
	for _, line := range strings.Split(r.scrape(t), "\n") {
		if !strings.HasPrefix(line, "sliceplane_operator_writes_total{") {
			continue
		}
		var op, outcome string
		var n int
		if _, err := fmt.Sscanf(line, "sliceplane_operator_writes_total{op=%q,outcome=%q} %d", &op, &outcome, &n); err == nil {
			by[op+"/"+outcome] += n
			total += n
		}
	}
	return total, by
}

func (r *runningOperator) waitSynced(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if v, _ := metric(r.scrape(t), "sliceplane_synced"); v == 1 {
			return
		}
		if !r.running() {
			t.Fatalf("operator %s exited: %v\n%s", r.name, r.exitErr, r.logTail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("operator %s did not finish its initial sync within %v", r.name, timeout)
}

// idle: synced, nothing dirty, nothing in flight.
func (r *runningOperator) idle(t testing.TB) (bool, string) {
	m := r.scrape(t)
	synced, _ := metric(m, "sliceplane_synced")
	dirty, _ := metric(m, "sliceplane_dirty_slices")
	pending, _ := metric(m, "sliceplane_pending_writes")
	return synced == 1 && dirty == 0 && pending == 0,
		fmt.Sprintf("engine: synced %v, dirty slices %v, pending writes %v", synced, dirty, pending)
}

// waitConverged polls until check finds nothing wrong with what the server
// holds and the engine has nothing dirty or in flight.
func waitConverged(t testing.TB, r *runningOperator, timeout time.Duration, check func() ([]string, error)) {
	t.Helper()
	start := time.Now()
	var last []string
	for time.Since(start) < timeout {
		if !r.running() {
			t.Fatalf("operator %s exited: %v\n%s", r.name, r.exitErr, r.logTail(30))
		}
		if ok, state := r.idle(t); !ok {
			last = []string{state}
		} else if probs, err := check(); err != nil {
			last = []string{err.Error()}
		} else if len(probs) == 0 {
			return
		} else {
			last = probs
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("not converged after %v: %s", timeout, strings.Join(last, "; "))
}
