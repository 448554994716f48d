package controller

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"sliceplane.example/sliceplane"
)

// Propagation trace (--trace-propagation, off by default): per watched
// object event and per slice write, the operator's own timestamps as JSON
// log lines, so that a test can decompose endpoint change → slice entry
// visible into the operator's stages. Times are Unix nanoseconds
// (wall clock, comparable with other processes on the same machine).
//
//	{"msg":"trace event","kind":"CiliumEndpoint","key":"ns/name","rv":"123","type":"MODIFIED","recv":…,"applied":…,"busy":…,"held":…}
//	{"msg":"trace write","op":"update","kind":"CiliumEndpointSlice","name":"…","endpoints":["ns/name",…],"flush":…,"flush_busy":…,"flush_held":…,"plan":…,"sent":…,"answered":…,"throttled":…,"outcome":"success"}
//
// recv: the informer handed the event to the operator; applied: the
// engine applied the batch holding it; flush: FlushAtMost was called for
// the write; plan: that call returned; sent: the write was handed to the
// API client; answered: the API call returned. endpoints are the entries
// the written slice holds (namespace/name). With the trace off none of
// this is computed.
//
// Where the time between applied and plan goes: busy and held (at
// applied) and flush_busy and flush_held (when the flush began) are the
// loop's cumulative nanoseconds so far with every writer busy (busy) and
// with a writer idle but the engine's next write due later: sync delay,
// rate limit or backoff, or the lease guard holding writes back (held).
// Their differences are a change's wait for a writer and for the rate
// limit; plan - flush is the engine planning. throttled is the time
// client-go's rate limiter held the request (part of sent → answered).

// traceKey is what the trace needs of a watched object (set only when tracing).
type traceKey struct {
	kind, key, rv string
}

func traceKeyOf(u *unstructured.Unstructured) traceKey {
	key := u.GetName()
	if ns := u.GetNamespace(); ns != "" {
		key = ns + "/" + key
	}
	return traceKey{kind: u.GetKind(), key: key, rv: u.GetResourceVersion()}
}

func (c *Controller) traceEvents(batch []queuedEvent, applied time.Time) {
	at := applied.UnixNano()
	busy, held := c.cumAt(applied)
	for _, ev := range batch {
		c.Trace.LogAttrs(context.Background(), slog.LevelInfo, "trace event",
			slog.String("kind", ev.trace.kind), slog.String("key", ev.trace.key), slog.String("rv", ev.trace.rv),
			slog.String("type", ev.typ), slog.Int64("recv", ev.at.UnixNano()), slog.Int64("applied", at),
			slog.Int64("busy", int64(busy)), slog.Int64("held", int64(held)))
	}
}

// sliceEndpoints are the namespace/name of the entries of a planned slice.
func sliceEndpoints(op sliceplane.Op) []string {
	if op.Kind != "CiliumEndpointSlice" || op.Op == "delete" {
		return nil
	}
	var s struct {
		Namespace string `json:"namespace"`
		Endpoints []struct {
			Name string `json:"name"`
		} `json:"endpoints"`
	}
	if json.Unmarshal(op.Object, &s) != nil {
		return nil
	}
	out := make([]string, len(s.Endpoints))
	for i, e := range s.Endpoints {
		out[i] = s.Namespace + "/" + e.Name
	}
	return out
}

func (c *Controller) traceWrite(w *plannedWrite, outcome string) {
	op := w.op
	c.Trace.LogAttrs(context.Background(), slog.LevelInfo, "trace write",
		slog.String("op", op.Op), slog.String("kind", op.Kind), slog.String("name", op.Name),
		slog.Any("endpoints", sliceEndpoints(op)),
		slog.Int64("flush", w.flush.start.UnixNano()), slog.Int64("flush_busy", int64(w.flush.busy)), slog.Int64("flush_held", int64(w.flush.held)),
		slog.Int64("plan", w.planned.UnixNano()), slog.Int64("sent", w.sent.UnixNano()), slog.Int64("answered", w.answered.UnixNano()),
		slog.Int64("throttled", int64(w.throttled)),
		slog.String("outcome", outcome))
}
