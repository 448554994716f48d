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

// Engine turns endpoint churn into CiliumEndpointSlice writes. Time is
// always a parameter: nowMs is the caller's monotonic clock in
// milliseconds. Safe for concurrent use (calls are serialized; read-only
// calls share a read lock).
type Engine struct {
	mu sync.RWMutex
	h  *C.sp_engine
}

// Op is one planned API write, the shape every binding returns
// (core/src/wire/write.rs). Send the writes in order and report each
// outcome with Report.
type Op struct {
	ID uint64 `json:"id"`
	// Op is "create", "update" or "delete".
	Op string `json:"op"`
	// Group, Version and Plural are what a dynamic client takes
	// ("cilium.io", "v2alpha1", "ciliumendpointslices"); the objects are
	// cluster-scoped.
	Group   string `json:"group"`
	Version string `json:"version"`
	Plural  string `json:"plural"`
	// Kind is "CiliumEndpointSlice" or "CiliumIdentity".
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Object is the full object (for deletes: name and preconditions).
	Object json.RawMessage `json:"object"`
	// Preconditions is set on deletes only: send it as
	// DeleteOptions.Preconditions.
	Preconditions *Preconditions `json:"preconditions"`
}

// Preconditions of a delete; an empty field is not a precondition.
type Preconditions struct {
	UID             string `json:"uid"`
	ResourceVersion string `json:"resourceVersion"`
}

// Outcome kinds.
const (
	OutcomeSuccess       = "success"
	OutcomeConflict      = "conflict"
	OutcomeNotFound      = "notFound"
	OutcomeAlreadyExists = "alreadyExists"
	OutcomeError         = "error"
)

// Outcome is what the API server answered to a write.
type Outcome struct {
	Outcome         string `json:"outcome"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	UID             string `json:"uid,omitempty"`
	Message         string `json:"message,omitempty"`
}

// Success is an accepted write with the object's new version and uid.
func Success(resourceVersion, uid string) Outcome {
	return Outcome{Outcome: OutcomeSuccess, ResourceVersion: resourceVersion, UID: uid}
}

// Conflict is a 409 on update or delete (precondition failed).
func Conflict() Outcome { return Outcome{Outcome: OutcomeConflict} }

// NotFound is a 404.
func NotFound() Outcome { return Outcome{Outcome: OutcomeNotFound} }

// AlreadyExists is a 409 on create.
func AlreadyExists() Outcome { return Outcome{Outcome: OutcomeAlreadyExists} }

// Failed is any other failure (timeouts, 5xx, 403 ...).
func Failed(message string) Outcome { return Outcome{Outcome: OutcomeError, Message: message} }

// Rejected is an event of a batch the engine refused; it changed nothing.
type Rejected struct {
	// Index is the event's 0-based position among the batch's events:
	// each value, each rejected chunk (cut off, not JSON, not UTF-8) and
	// each List item counts; blank lines do not.
	Index int `json:"index"`
	// Line is the 1-based line the event is reported at: where its value
	// starts (a syntax error: the line of the error).
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Number  uint32 `json:"number"`
	Object  string `json:"object"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Err is the rejection as an *Error.
func (r Rejected) Err() *Error {
	return &Error{Code: r.Code, Number: r.Number, Object: r.Object, Field: r.Field, Message: r.Message}
}

// Stats summarizes the engine's state.
type Stats struct {
	Endpoints        int  `json:"endpoints"`
	EndpointsWaiting int  `json:"endpointsWaiting"`
	Slices           int  `json:"slices"`
	DirtySlices      int  `json:"dirtySlices"`
	InFlight         int  `json:"inFlight"`
	Identities       int  `json:"identities"`
	Namespaces       int  `json:"namespaces"`
	Nodes            int  `json:"nodes"`
	Synced           bool `json:"synced"`
}

// Event is a structured event (DESIGN.md §8).
type Event struct {
	Time     uint64 `json:"time"`
	Category string `json:"category"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Subject  string `json:"subject"`
	Message  string `json:"message"`
}

// NewEngine builds an engine with a copy of cfg, waiting for its initial
// sync (see InitialSyncDone).
func NewEngine(cfg *Config) (*Engine, error) {
	if cfg == nil {
		return nil, &Error{Code: "null_argument", Number: uint32(C.SP_NULL_ARGUMENT), Field: "config", Message: "config is nil"}
	}
	cfg.mu.RLock()
	defer cfg.mu.RUnlock()
	if cfg.h == nil {
		return nil, ErrClosed
	}
	var h *C.sp_engine
	var e *C.sp_error
	if err := takeError(C.sp_engine_new(cfg.h, &h, &e), e); err != nil {
		return nil, err
	}
	eng := &Engine{h: h}
	runtime.SetFinalizer(eng, (*Engine).Close)
	return eng, nil
}

// Close frees the engine. Closing twice is a no-op.
func (en *Engine) Close() error {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.h != nil {
		C.sp_engine_free(en.h)
		en.h = nil
		runtime.SetFinalizer(en, nil)
	}
	return nil
}

// write runs f with the handle under the write lock.
func (en *Engine) write(f func(h *C.sp_engine) error) error {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.h == nil {
		return ErrClosed
	}
	return f(en.h)
}

// read runs f with the handle under the read lock.
func (en *Engine) read(f func(h *C.sp_engine) error) error {
	en.mu.RLock()
	defer en.mu.RUnlock()
	if en.h == nil {
		return ErrClosed
	}
	return f(en.h)
}

// ApplyJSON applies one watch event ({"type", "object"}). A rejected event
// changes nothing.
func (en *Engine) ApplyJSON(event []byte, nowMs uint64) error {
	return en.write(func(h *C.sp_engine) error {
		var e *C.sp_error
		p, n := cbytes(event)
		return takeError(C.sp_engine_apply_json(h, p, n, C.uint64_t(nowMs), &e), e)
	})
}

// ApplyJSONLines applies a batch of watch events in one crossing: JSON
// lines, concatenated pretty-printed values or Lists, read by the core's
// stream reader as in every binding and the CLI. Rejected events are
// returned (nil when all were applied); the error is for the call itself.
func (en *Engine) ApplyJSONLines(lines []byte, nowMs uint64) ([]Rejected, error) {
	var raw []byte
	err := en.write(func(h *C.sp_engine) error {
		var b C.sp_buffer
		var e *C.sp_error
		p, n := cbytes(lines)
		if err := takeError(C.sp_engine_apply_json_lines(h, p, n, C.uint64_t(nowMs), &b, &e), e); err != nil {
			return err
		}
		raw = takeBuffer(&b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if string(raw) == "[]" {
		return nil, nil
	}
	var out []Rejected
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("sliceplane: decoding rejected events: %w", err)
	}
	return out, nil
}

// InitialSyncDone tells the engine the initial list of every watched kind
// was applied: it adopts what the server holds and starts planning writes.
func (en *Engine) InitialSyncDone(nowMs uint64) error {
	return en.write(func(h *C.sp_engine) error {
		var e *C.sp_error
		return takeError(C.sp_engine_initial_sync_done(h, C.uint64_t(nowMs), &e), e)
	})
}

// bufferCall runs a buffer-returning C call under the lock and decodes the JSON into out.
func (en *Engine) bufferCall(readOnly bool, out any, call func(h *C.sp_engine, b *C.sp_buffer, e **C.sp_error) C.uint32_t) error {
	var raw []byte
	f := func(h *C.sp_engine) error {
		var b C.sp_buffer
		var e *C.sp_error
		if err := takeError(call(h, &b, &e), e); err != nil {
			return err
		}
		raw = takeBuffer(&b)
		return nil
	}
	var err error
	if readOnly {
		err = en.read(f)
	} else {
		err = en.write(f)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("sliceplane: decoding library output: %w", err)
	}
	return nil
}

// Flush returns the writes due at nowMs, in the order to send them.
func (en *Engine) Flush(nowMs uint64) ([]Op, error) {
	var ops []Op
	err := en.bufferCall(false, &ops, func(h *C.sp_engine, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_engine_flush(h, C.uint64_t(nowMs), b, e)
	})
	return ops, err
}

// FlushAtMost is Flush planning at most maxSliceWrites slice writes (the
// oldest due; identity writes are not counted). The slices left out stay
// dirty: a caller with n idle writers asks for n, and changes that arrive
// meanwhile join those slices' one write.
func (en *Engine) FlushAtMost(nowMs uint64, maxSliceWrites uint32) ([]Op, error) {
	var ops []Op
	err := en.bufferCall(false, &ops, func(h *C.sp_engine, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_engine_flush_at_most(h, C.uint64_t(nowMs), C.uint32_t(maxSliceWrites), b, e)
	})
	return ops, err
}

// Report gives the outcome of op id. An op not in flight gives ErrUnknownOp.
func (en *Engine) Report(id uint64, o Outcome, nowMs uint64) error {
	js, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return en.write(func(h *C.sp_engine) error {
		var e *C.sp_error
		p, n := cbytes(js)
		return takeError(C.sp_engine_report(h, C.uint64_t(id), p, n, C.uint64_t(nowMs), &e), e)
	})
}

// DesiredSlices are the CiliumEndpointSlices the server should hold, by name.
func (en *Engine) DesiredSlices() ([]json.RawMessage, error) {
	var v []json.RawMessage
	err := en.bufferCall(true, &v, func(h *C.sp_engine, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_engine_desired_slices(h, b, e)
	})
	return v, err
}

// DesiredIdentities are the CiliumIdentities the server should hold (pods source).
func (en *Engine) DesiredIdentities() ([]json.RawMessage, error) {
	var v []json.RawMessage
	err := en.bufferCall(true, &v, func(h *C.sp_engine, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_engine_desired_identities(h, b, e)
	})
	return v, err
}

// Stats summarizes the engine's state.
func (en *Engine) Stats() (Stats, error) {
	var s Stats
	err := en.bufferCall(true, &s, func(h *C.sp_engine, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_engine_stats(h, b, e)
	})
	return s, err
}

// DrainEvents returns the events recorded since the last drain.
func (en *Engine) DrainEvents() ([]Event, error) {
	var v []Event
	err := en.bufferCall(false, &v, func(h *C.sp_engine, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_engine_drain_events(h, b, e)
	})
	return v, err
}

// NextDue is the earliest time at which Flush could plan something not due
// yet; ok is false when nothing is pending.
func (en *Engine) NextDue() (dueMs uint64, ok bool, err error) {
	err = en.read(func(h *C.sp_engine) error {
		var has C.bool
		var ms C.uint64_t
		var e *C.sp_error
		if err := takeError(C.sp_engine_next_due(h, &has, &ms, &e), e); err != nil {
			return err
		}
		dueMs, ok = uint64(ms), bool(has)
		return nil
	})
	return dueMs, ok, err
}

// Health is the write path's health.
type Health struct {
	// State is "healthy" or "degraded".
	State string `json:"state"`
	// Reason says why when degraded.
	Reason string `json:"reason,omitempty"`
}

// Degraded reports whether the write path is degraded.
func (h Health) Degraded() bool { return h.State == "degraded" }

// Counters are what the engine did (the base of the metrics).
type Counters struct {
	EventsApplied            uint64 `json:"eventsApplied"`
	EventsRejected           uint64 `json:"eventsRejected"`
	EventsIgnoredOtherShard  uint64 `json:"eventsIgnoredOtherShard"`
	EventsIgnoredOtherSource uint64 `json:"eventsIgnoredOtherSource"`
	// WritesPlanned is keyed "kind/verb", e.g. "CiliumEndpointSlice/create".
	WritesPlanned       map[string]uint64 `json:"writesPlanned"`
	WritesSucceeded     uint64            `json:"writesSucceeded"`
	WritesFailed        uint64            `json:"writesFailed"`
	NoOpSkips           uint64            `json:"noOpSkips"`
	IdentitiesAllocated uint64            `json:"identitiesAllocated"`
	IdentitiesReleased  uint64            `json:"identitiesReleased"`
	IdentityExhausted   uint64            `json:"identityExhausted"`
	CompactionMoves     uint64            `json:"compactionMoves"`
}

// Publish publishes a snapshot of the desired state (O(what changed since
// the last publish)). The snapshot needs none of the engine's locking.
func (en *Engine) Publish() (*Snapshot, error) {
	var s *Snapshot
	err := en.write(func(h *C.sp_engine) error {
		var sh *C.sp_snapshot
		var e *C.sp_error
		if err := takeError(C.sp_engine_publish(h, &sh, &e), e); err != nil {
			return err
		}
		s = newSnapshot(sh)
		return nil
	})
	return s, err
}

// SnapshotReader is a reader of the engine's published snapshots: any
// goroutine may load from it while others apply events and publish; it
// takes no engine lock.
func (en *Engine) SnapshotReader() (*SnapshotReader, error) {
	var r *SnapshotReader
	err := en.read(func(h *C.sp_engine) error {
		var rh *C.sp_snapshot_reader
		var e *C.sp_error
		if err := takeError(C.sp_engine_snapshot_reader(h, &rh, &e), e); err != nil {
			return err
		}
		r = newSnapshotReader(rh)
		return nil
	})
	return r, err
}

// MetricsContentType is the content type of Metrics' text.
const MetricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metrics are all metrics in the Prometheus text exposition format; serve
// them with MetricsContentType.
func (en *Engine) Metrics() ([]byte, error) {
	var raw []byte
	err := en.read(func(h *C.sp_engine) error {
		var b C.sp_buffer
		var e *C.sp_error
		if err := takeError(C.sp_engine_metrics(h, &b, &e), e); err != nil {
			return err
		}
		raw = takeBuffer(&b)
		return nil
	})
	return raw, err
}

// Health is the write path's health.
func (en *Engine) Health() (Health, error) {
	var v Health
	err := en.bufferCall(true, &v, func(h *C.sp_engine, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_engine_health(h, b, e)
	})
	return v, err
}

// Counters are what the engine did.
func (en *Engine) Counters() (Counters, error) {
	var v Counters
	err := en.bufferCall(true, &v, func(h *C.sp_engine, b *C.sp_buffer, e **C.sp_error) C.uint32_t {
		return C.sp_engine_counters(h, b, e)
	})
	return v, err
}

// Resync marks every slice for comparison with the server at the next
// flush (level-triggered resync).
func (en *Engine) Resync(nowMs uint64) error {
	return en.write(func(h *C.sp_engine) error {
		var e *C.sp_error
		return takeError(C.sp_engine_resync(h, C.uint64_t(nowMs), &e), e)
	})
}

// ObserveApplySeconds records an apply duration the caller measured.
func (en *Engine) ObserveApplySeconds(seconds float64) error {
	return en.write(func(h *C.sp_engine) error {
		var e *C.sp_error
		return takeError(C.sp_engine_observe_apply_seconds(h, C.double(seconds), &e), e)
	})
}
