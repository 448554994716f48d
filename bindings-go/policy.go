package sliceplane

/*
#include "sliceplane.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
)

// PolicyCluster evaluates network-policy verdicts (DESIGN.md §13) over a
// fixed set of namespaces and pods. Safe for concurrent use (serialized).
type PolicyCluster struct {
	mu sync.Mutex
	h  *C.sp_policy_cluster
}

// Probe is one flow to evaluate. The rules are the core's, the same in
// every binding (core/src/wire/probe.rs); a bad probe is ErrInvalidProbe
// with the field named.
type Probe struct {
	// From and To are "namespace/pod" or an IP address.
	From string `json:"from"`
	To   string `json:"to"`
	// Port is a number in 1-65535 ("80") or a named port of the
	// destination ("http").
	Port string `json:"port"`
	// Protocol is "TCP" (default when empty), "UDP" or "SCTP", any case.
	Protocol string `json:"protocol,omitempty"`
}

// ProbeAnswer is the answer to one probe of EvalProbes, the shape every
// binding and `sliceplane policy eval` return: the probe's fields as given
// (nil when absent; on success Protocol is the protocol evaluated), then
// the verdict, or Error when the probe could not be evaluated.
type ProbeAnswer struct {
	From     any `json:"from"`
	To       any `json:"to"`
	Port     any `json:"port"`
	Protocol any `json:"protocol"`
	*Verdict
	Error *ProbeError `json:"error,omitempty"`
}

// ProbeError is why a probe has no verdict.
type ProbeError struct {
	Code    string `json:"code"`
	Number  uint32 `json:"number"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Verdict is what the policies decide for a flow.
type Verdict struct {
	// Decision is "allow", "deny" or "audit".
	Decision string          `json:"verdict"`
	Egress   json.RawMessage `json:"egress"`
	Ingress  json.RawMessage `json:"ingress"`
	Deciding json.RawMessage `json:"deciding"`
}

// NewPolicyCluster builds the world from cluster (a JSON array or List of
// Namespace and Pod objects) and policies (a JSON array or List of
// NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy;
// nil for none).
func NewPolicyCluster(cluster, policies []byte) (*PolicyCluster, error) {
	var h *C.sp_policy_cluster
	var e *C.sp_error
	cp, cn := cbytes(cluster)
	pp, pn := cbytes(policies)
	if err := takeError(C.sp_policy_cluster_new(cp, cn, pp, pn, &h, &e), e); err != nil {
		return nil, err
	}
	pc := &PolicyCluster{h: h}
	runtime.SetFinalizer(pc, (*PolicyCluster).Close)
	return pc, nil
}

// Probe evaluates one flow.
func (pc *PolicyCluster) Probe(p Probe) (Verdict, error) {
	var v Verdict
	js, err := json.Marshal(p)
	if err != nil {
		return v, err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.h == nil {
		return v, ErrClosed
	}
	var b C.sp_buffer
	var e *C.sp_error
	jp, jn := cbytes(js)
	if err := takeError(C.sp_policy_cluster_probe(pc.h, jp, jn, &b, &e), e); err != nil {
		return v, err
	}
	if err := json.Unmarshal(takeBuffer(&b), &v); err != nil {
		return v, fmt.Errorf("sliceplane: decoding verdict: %w", err)
	}
	return v, nil
}

// EvalProbes evaluates a stream of probes (JSON lines or concatenated JSON
// values, each {"from", "to", "port", "protocol"}) in one crossing: one
// answer per value, in order. A bad probe does not stop the others; the
// error is for the call itself.
func (pc *PolicyCluster) EvalProbes(probes []byte) ([]ProbeAnswer, error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.h == nil {
		return nil, ErrClosed
	}
	var b C.sp_buffer
	var e *C.sp_error
	p, n := cbytes(probes)
	if err := takeError(C.sp_policy_cluster_eval(pc.h, p, n, &b, &e), e); err != nil {
		return nil, err
	}
	var out []ProbeAnswer
	if err := json.Unmarshal(takeBuffer(&b), &out); err != nil {
		return nil, fmt.Errorf("sliceplane: decoding probe answers: %w", err)
	}
	return out, nil
}

// Matrix is the reachability truth table over every pod of the world.
type Matrix struct {
	// Peers are the rows and columns, in order: {"endpoint": {"namespace", "name"}}.
	Peers []json.RawMessage `json:"peers"`
	// Cells[from][to] is "allow", "deny", "audit", or nil when the flow
	// could not be evaluated (e.g. a named port the destination lacks).
	Cells [][]*string `json:"cells"`
	// TruthTable is the table as the Kubernetes e2e suite prints it.
	TruthTable string `json:"truthTable"`
}

// Matrix evaluates every pod against every pod for one port (a number or
// a port name) and protocol ("" means TCP).
func (pc *PolicyCluster) Matrix(port, protocol string) (Matrix, error) {
	var m Matrix
	js, err := json.Marshal(struct {
		Port     string `json:"port"`
		Protocol string `json:"protocol,omitempty"`
	}{port, protocol})
	if err != nil {
		return m, err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.h == nil {
		return m, ErrClosed
	}
	var b C.sp_buffer
	var e *C.sp_error
	jp, jn := cbytes(js)
	if err := takeError(C.sp_policy_cluster_matrix(pc.h, jp, jn, &b, &e), e); err != nil {
		return m, err
	}
	if err := json.Unmarshal(takeBuffer(&b), &m); err != nil {
		return m, fmt.Errorf("sliceplane: decoding matrix: %w", err)
	}
	return m, nil
}

// Close frees the world. Closing twice is a no-op.
func (pc *PolicyCluster) Close() error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.h != nil {
		C.sp_policy_cluster_free(pc.h)
		pc.h = nil
		runtime.SetFinalizer(pc, nil)
	}
	return nil
}
