package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"sliceplane.example/operator/internal/controller"
)

type fakeController struct {
	synced, degraded bool
	resyncs          int
}

func (f *fakeController) Synced() bool   { return f.synced }
func (f *fakeController) Degraded() bool { return f.degraded }
func (f *fakeController) Resync()        { f.resyncs++ }

func TestReadiness(t *testing.T) {
	for _, tc := range []struct {
		le, leading, ctrl, synced, degraded, want bool
	}{
		{le: true, leading: false, want: true},                                           // standby
		{le: true, leading: true, ctrl: false, want: false},                              // leading, not started
		{le: true, leading: true, ctrl: true, synced: false, want: false},                // initial sync
		{le: true, leading: true, ctrl: true, synced: true, degraded: true, want: false}, // degraded
		{le: true, leading: true, ctrl: true, synced: true, want: true},
		{le: false, leading: true, ctrl: true, synced: true, want: true},
		{le: false, leading: true, ctrl: true, synced: true, degraded: true, want: false},
	} {
		got, why := Readiness(tc.le, tc.leading, tc.ctrl, tc.synced, tc.degraded)
		if got != tc.want {
			t.Errorf("%+v: ready %v (%s), want %v", tc, got, why, tc.want)
		}
	}
}

func do(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestEndpoints(t *testing.T) {
	leading := false
	m := controller.NewMetrics()
	m.WriteDone("update", "success")
	s := &Server{Metrics: m, LeaderElection: true, Leading: func() bool { return leading }}
	h := s.Handler()

	if code, _ := do(t, h, "GET", "/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	// Standby: ready, nothing to resync, leader gauge 0.
	if code, body := do(t, h, "GET", "/readyz"); code != 200 || !strings.Contains(body, "standby") {
		t.Errorf("standby /readyz: %d %s", code, body)
	}
	if code, _ := do(t, h, "POST", "/resync"); code != http.StatusConflict {
		t.Errorf("standby POST /resync: %d, want 409", code)
	}
	_, metrics := do(t, h, "GET", "/metrics")
	for _, want := range []string{"sliceplane_operator_leader 0\n", "sliceplane_operator_ready 1\n", `sliceplane_operator_writes_total{op="update",outcome="success"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("standby metrics lack %q:\n%s", want, metrics)
		}
	}

	// Leading, initial sync not done: not ready.
	leading = true
	fc := &fakeController{}
	s.SetController(fc, nil)
	if code, body := do(t, h, "GET", "/readyz"); code != 503 || !strings.Contains(body, "initial sync") {
		t.Errorf("syncing /readyz: %d %s", code, body)
	}
	fc.synced = true
	if code, _ := do(t, h, "GET", "/readyz"); code != 200 {
		t.Errorf("synced /readyz: %d", code)
	}
	fc.degraded = true
	if code, body := do(t, h, "GET", "/readyz"); code != 503 || !strings.Contains(body, "degraded") {
		t.Errorf("degraded /readyz: %d %s", code, body)
	}
	_, metrics = do(t, h, "GET", "/metrics")
	if !strings.Contains(metrics, "sliceplane_operator_leader 1\n") || !strings.Contains(metrics, "sliceplane_operator_ready 0\n") {
		t.Errorf("leading, degraded metrics:\n%s", metrics)
	}

	// Resync: POST only.
	if code, _ := do(t, h, "GET", "/resync"); code != http.StatusMethodNotAllowed || fc.resyncs != 0 {
		t.Errorf("GET /resync: %d, resyncs %d", code, fc.resyncs)
	}
	if code, _ := do(t, h, "POST", "/resync"); code != http.StatusAccepted || fc.resyncs != 1 {
		t.Errorf("POST /resync: %d, resyncs %d", code, fc.resyncs)
	}
}
