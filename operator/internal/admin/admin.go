// Package admin is the operator's admin HTTP server: /metrics, /healthz,
// /readyz and POST /resync. It listens on loopback unless told otherwise.
package admin

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"sliceplane.example/operator/internal/controller"
	"sliceplane.example/sliceplane"
)

// Controller is what the admin server needs of the running controller.
type Controller interface {
	Synced() bool
	Degraded() bool
	Resync()
}

// Server serves the admin endpoints. The controller and engine exist only
// while this replica leads; a standby serves the operator's own metrics.
type Server struct {
	Metrics *controller.Metrics
	// LeaderElection is false when the operator runs without it (it always leads).
	LeaderElection bool
	// Leading reports whether this replica holds the lease (nil: never).
	Leading func() bool

	mu     sync.Mutex
	ctrl   Controller
	engine *sliceplane.Engine
}

// SetController registers the running controller and its engine (nil, nil
// when it stopped).
func (s *Server) SetController(c Controller, e *sliceplane.Engine) {
	s.mu.Lock()
	s.ctrl, s.engine = c, e
	s.mu.Unlock()
}

func (s *Server) current() (Controller, *sliceplane.Engine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctrl, s.engine
}

func (s *Server) leading() bool {
	if !s.LeaderElection {
		return true
	}
	return s.Leading != nil && s.Leading()
}

// Readiness decides /readyz. A standby replica (leader election on, not
// leading) is ready: it can take over, and a Deployment's rolling update
// must not wait on it. The leader is ready once its initial sync is done and
// the write path is not degraded: the signal to fall back to Cilium's own
// controller (PRD FR5.2).
func Readiness(leaderElection, leading, haveController, synced, degraded bool) (bool, string) {
	switch {
	case leaderElection && !leading:
		return true, "standby: not leading"
	case !haveController:
		return false, "leading: controller not started"
	case !synced:
		return false, "leading: initial sync not done"
	case degraded:
		return false, "leading: write path degraded"
	}
	return true, "leading: synced and healthy"
}

// Ready is the current readiness.
func (s *Server) Ready() (bool, string) {
	c, _ := s.current()
	synced, degraded := false, false
	if c != nil {
		synced, degraded = c.Synced(), c.Degraded()
	}
	return Readiness(s.LeaderElection, s.leading(), c != nil, synced, degraded)
}

// Resync asks the running controller to re-synchronize; false when none runs.
func (s *Server) Resync() bool {
	c, _ := s.current()
	if c == nil {
		return false
	}
	c.Resync()
	return true
}

// MetricsText is the engine's metrics (while leading), the operator's own,
// and the leader status.
func (s *Server) MetricsText() (string, error) {
	var b strings.Builder
	_, eng := s.current()
	if eng != nil {
		text, err := eng.Metrics()
		if err != nil {
			return "", err
		}
		b.Write(text)
	}
	if s.Metrics != nil {
		s.Metrics.Render(&b)
	}
	leading := 0
	if s.leading() {
		leading = 1
	}
	ready := 0
	if ok, _ := s.Ready(); ok {
		ready = 1
	}
	fmt.Fprintf(&b, "# HELP sliceplane_operator_leader 1 when this replica holds the leader lease (always 1 without leader election).\n# TYPE sliceplane_operator_leader gauge\nsliceplane_operator_leader %d\n", leading)
	fmt.Fprintf(&b, "# HELP sliceplane_operator_ready 1 when /readyz answers 200.\n# TYPE sliceplane_operator_ready gauge\nsliceplane_operator_ready %d\n", ready)
	return b.String(), nil
}

// Handler serves /metrics, /healthz, /readyz and POST /resync.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		text, err := s.MetricsText()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", sliceplane.MetricsContentType)
		_, _ = w.Write([]byte(text))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := s.Ready()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(why + "\n"))
	})
	mux.HandleFunc("/resync", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if !s.Resync() {
			http.Error(w, "not leading: nothing to resync", http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("resync requested\n"))
	})
	return mux
}
