package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"sliceplane.example/sliceplane"
)

// KubeAPI is the part of the Kubernetes API the operator writes to. A real
// implementation sends each op with client-go's dynamic client (create,
// update with metadata.resourceVersion, delete with preconditions) and
// maps the HTTP answer to an Outcome; tests use a fake.
type KubeAPI interface {
	Write(ctx context.Context, op sliceplane.Op) sliceplane.Outcome
}

// Clock is the caller's monotonic clock in milliseconds.
type Clock func() uint64

// Operator is the reconcile loop around one engine: watch events in,
// planned writes out, outcomes back.
type Operator struct {
	Engine *sliceplane.Engine
	API    KubeAPI
	Now    Clock
	// Logf receives rejected events and failed writes; nil discards them.
	Logf func(format string, args ...any)
}

func (o *Operator) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Sync applies the initial list (JSON lines of watch events) and ends the
// initial sync.
func (o *Operator) Sync(initial []byte) error {
	if err := o.ingest(initial); err != nil {
		return err
	}
	return o.Engine.InitialSyncDone(o.Now())
}

func (o *Operator) ingest(lines []byte) error {
	rejected, err := o.Engine.ApplyJSONLines(lines, o.Now())
	if err != nil {
		return err
	}
	for _, r := range rejected {
		o.logf("rejected event %d: %v", r.Index, r.Err())
	}
	return nil
}

// Step applies a batch of watch events, then sends every write due now and
// reports its outcome. It returns the number of writes sent.
func (o *Operator) Step(ctx context.Context, batch []byte) (int, error) {
	if len(batch) > 0 {
		if err := o.ingest(batch); err != nil {
			return 0, err
		}
	}
	ops, err := o.Engine.Flush(o.Now())
	if err != nil {
		return 0, err
	}
	for _, op := range ops {
		out := o.API.Write(ctx, op)
		if out.Outcome != sliceplane.OutcomeSuccess {
			o.logf("%s %s %s: %s %s", op.Op, op.Kind, op.Name, out.Outcome, out.Message)
		}
		if err := o.Engine.Report(op.ID, out, o.Now()); err != nil {
			return 0, fmt.Errorf("report %d: %w", op.ID, err)
		}
	}
	return len(ops), nil
}

// Run consumes batches until events closes or ctx ends, flushing after
// every batch and whenever tick fires (the caller's timer, e.g. a ticker
// reset to the engine's NextDue).
func (o *Operator) Run(ctx context.Context, events <-chan []byte, tick <-chan struct{}) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case batch, ok := <-events:
			if !ok {
				return nil
			}
			if _, err := o.Step(ctx, batch); err != nil {
				return err
			}
		case <-tick:
			if _, err := o.Step(ctx, nil); err != nil {
				return err
			}
		}
	}
}

// MetricsHandler serves the engine's metrics in the Prometheus text format
// (mount it at /metrics on a loopback or cluster-internal listener).
func (o *Operator) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		text, err := o.Engine.Metrics()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", sliceplane.MetricsContentType)
		_, _ = w.Write(text)
	})
}

// HealthHandler answers 200 with the engine's health while the write path
// is healthy and 503 when it is degraded.
func (o *Operator) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h, err := o.Engine.Health()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if h.Degraded() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
}
