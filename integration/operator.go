// Package integration runs the sliceplane engine as a Kubernetes operator
// against a real API server: client-go informers on CiliumEndpoints and
// CiliumEndpointSlices feed the engine, its write plan goes out through the
// dynamic client and every outcome is reported back.
//
// It reuses the shape of bindings-go/examples/go-operator (the KubeAPI
// interface, watch events in / planned writes out / outcomes back); it lives
// in its own Go module because client-go and the API server modules are far
// too heavy for the light bindings-go module.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"sliceplane.example/sliceplane"
)

var (
	GVRCiliumEndpoint      = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumendpoints"}
	GVRCiliumEndpointSlice = schema.GroupVersionResource{Group: "cilium.io", Version: "v2alpha1", Resource: "ciliumendpointslices"}
	GVRCiliumIdentity      = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumidentities"}
)

// KubeAPI is the part of the Kubernetes API the operator writes to (the same
// interface as the go-operator example).
type KubeAPI interface {
	Write(ctx context.Context, op sliceplane.Op) sliceplane.Outcome
}

// DynamicAPI sends each planned write with client-go's dynamic client:
// create, update (carrying metadata.resourceVersion), delete with uid /
// resourceVersion preconditions, and maps the answer to an Outcome.
//
// It also checks that the API server stored what was sent: after a
// successful create or update it compares the object the server answered
// with (after its own CRD validation and pruning) with the one sent, outside
// metadata. Any difference is counted in Pruned.
type DynamicAPI struct {
	Client dynamic.Interface

	mu            sync.Mutex
	pruned        int
	prunedExample string
	checked       int
}

func gvrOf(kind string) (schema.GroupVersionResource, bool) {
	switch kind {
	case "CiliumEndpointSlice":
		return GVRCiliumEndpointSlice, true
	case "CiliumIdentity":
		return GVRCiliumIdentity, true
	}
	return schema.GroupVersionResource{}, false
}

// Outcome maps an API error to the engine's outcome.
func Outcome(err error) sliceplane.Outcome {
	switch {
	case err == nil:
		return sliceplane.Success("", "")
	case apierrors.IsConflict(err):
		return sliceplane.Conflict()
	case apierrors.IsNotFound(err):
		return sliceplane.NotFound()
	case apierrors.IsAlreadyExists(err):
		return sliceplane.AlreadyExists()
	}
	return sliceplane.Failed(err.Error())
}

func (d *DynamicAPI) Write(ctx context.Context, op sliceplane.Op) sliceplane.Outcome {
	gvr, ok := gvrOf(op.Kind)
	if !ok {
		return sliceplane.Failed("unknown kind " + op.Kind)
	}
	res := d.Client.Resource(gvr)
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(op.Object); err != nil {
		return sliceplane.Failed("decode planned object: " + err.Error())
	}
	var got *unstructured.Unstructured
	var err error
	switch op.Op {
	case "create":
		got, err = res.Create(ctx, obj, metav1.CreateOptions{})
	case "update":
		got, err = res.Update(ctx, obj, metav1.UpdateOptions{})
	case "delete":
		pre := metav1.Preconditions{}
		if uid := obj.GetUID(); uid != "" {
			pre.UID = &uid
		}
		if rv := obj.GetResourceVersion(); rv != "" {
			pre.ResourceVersion = &rv
		}
		err = res.Delete(ctx, op.Name, metav1.DeleteOptions{Preconditions: &pre})
		return Outcome(err)
	default:
		return sliceplane.Failed("unknown op " + op.Op)
	}
	if err != nil {
		return Outcome(err)
	}
	d.checkStored(op, got)
	return sliceplane.Success(got.GetResourceVersion(), string(got.GetUID()))
}

func withoutMetadata(raw []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "metadata")
	return m, nil
}

func (d *DynamicAPI) checkStored(op sliceplane.Op, got *unstructured.Unstructured) {
	back, err := got.MarshalJSON()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.checked++
	if err != nil {
		d.pruned++
		return
	}
	sent, err1 := withoutMetadata(op.Object)
	stored, err2 := withoutMetadata(back)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(sent, stored) {
		d.pruned++
		if d.prunedExample == "" {
			d.prunedExample = fmt.Sprintf("sent %s\nstored %s", op.Object, back)
		}
	}
}

// PruneReport returns how many written objects were compared with what the
// server stored, how many differed, and the first difference.
func (d *DynamicAPI) PruneReport() (checked, pruned int, example string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.checked, d.pruned, d.prunedExample
}

// MetricsSource is what the metrics endpoint serves (default: MetricsText).
type MetricsSource interface {
	Metrics() (string, error)
}

// Operator is the reconcile loop around one engine.
type Operator struct {
	Engine *sliceplane.Engine
	API    KubeAPI
	Client dynamic.Interface
	// Logf receives rejected events, failed writes and health changes; nil discards them.
	Logf func(format string, args ...any)
	// MaxBatch bounds the watch events applied per engine call (default 1000).
	MaxBatch int
	// Concurrency bounds the writes sent in parallel (default 8).
	Concurrency int
	// Metrics overrides what /metrics serves (default: MetricsText).
	Metrics MetricsSource

	start   time.Time
	events  chan []byte
	stopped chan struct{}
	synced  atomic.Bool
	degrade atomic.Bool

	mu       sync.Mutex
	writes   map[string]int // "op/outcome" -> count
	total    int
	healthEv []sliceplane.Event
}

// Now is the operator's monotonic clock in milliseconds.
func (o *Operator) Now() uint64 { return uint64(time.Since(o.start).Milliseconds()) }

func (o *Operator) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Synced reports whether the initial List was adopted.
func (o *Operator) Synced() bool { return o.synced.Load() }

// Degraded reports the engine's last health event.
func (o *Operator) Degraded() bool { return o.degrade.Load() }

// Writes returns the number of writes sent so far and their outcomes.
func (o *Operator) Writes() (int, map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	cp := make(map[string]int, len(o.writes))
	for k, v := range o.writes {
		cp[k] = v
	}
	return o.total, cp
}

// HealthEvents returns the health events (degraded / healthy) seen so far.
func (o *Operator) HealthEvents() []sliceplane.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]sliceplane.Event(nil), o.healthEv...)
}

func (o *Operator) push(typ string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	raw, err := u.MarshalJSON()
	if err != nil {
		o.logf("encode %s: %v", u.GetName(), err)
		return
	}
	raw = bytes.TrimSpace(raw) // the encoder ends with a newline; a watch event is one line
	line := make([]byte, 0, len(raw)+32)
	line = append(line, `{"type":"`...)
	line = append(line, typ...)
	line = append(line, `","object":`...)
	line = append(line, raw...)
	line = append(line, '}')
	select {
	case o.events <- line:
	case <-o.stopped:
	}
}

func (o *Operator) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.push("ADDED", obj) },
		UpdateFunc: func(_, obj any) { o.push("MODIFIED", obj) },
		DeleteFunc: func(obj any) { o.push("DELETED", obj) },
	}
}

// batch collects the queued watch events (at least one when wait is set)
// into JSON lines.
func (o *Operator) batch(first []byte) []byte {
	var buf bytes.Buffer
	buf.Write(first)
	n := 1
	for n < o.MaxBatch {
		select {
		case line := <-o.events:
			buf.WriteByte('\n')
			buf.Write(line)
			n++
		default:
			return buf.Bytes()
		}
	}
	return buf.Bytes()
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

// step sends every write due now and reports its outcome.
func (o *Operator) step(ctx context.Context) error {
	ops, err := o.Engine.Flush(o.Now())
	if err != nil {
		return err
	}
	// The writes of one flush touch distinct objects: send them in parallel
	// and report each outcome as it comes back.
	workers := max(1, min(o.Concurrency, len(ops)))
	var wg sync.WaitGroup
	var reportErr atomic.Value
	next := make(chan sliceplane.Op)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range next {
				out := o.API.Write(ctx, op)
				if out.Outcome != sliceplane.OutcomeSuccess {
					o.logf("%s %s %s: %s %s", op.Op, op.Kind, op.Name, out.Outcome, out.Message)
				}
				o.mu.Lock()
				o.writes[op.Op+"/"+out.Outcome]++
				o.total++
				o.mu.Unlock()
				if err := o.Engine.Report(op.ID, out, o.Now()); err != nil {
					reportErr.CompareAndSwap(nil, fmt.Errorf("report %d: %w", op.ID, err))
				}
			}
		}()
	}
	for _, op := range ops {
		next <- op
	}
	close(next)
	wg.Wait()
	if err, ok := reportErr.Load().(error); ok {
		return err
	}
	evs, err := o.Engine.DrainEvents()
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.Category != "health" {
			continue
		}
		o.degrade.Store(ev.Kind == "degraded")
		o.logf("health: %s %s", ev.Kind, ev.Message)
		o.mu.Lock()
		o.healthEv = append(o.healthEv, ev)
		o.mu.Unlock()
	}
	return nil
}

// Run starts the informers, adopts what the initial List returned, then
// reconciles until ctx ends. Metrics are served on metricsLn when it is not
// nil.
func (o *Operator) Run(ctx context.Context, metricsLn net.Listener) error {
	o.start = time.Now()
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	o.events = make(chan []byte, 4096)
	o.writes = map[string]int{}
	if metricsLn != nil {
		srv := &http.Server{Handler: o.metricsHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(metricsLn) }()
		defer srv.Close()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o.stopped = make(chan struct{})
	factory := dynamicinformer.NewDynamicSharedInformerFactory(o.Client, 0)
	var regs []cache.ResourceEventHandlerRegistration
	for _, gvr := range []schema.GroupVersionResource{GVRCiliumEndpoint, GVRCiliumEndpointSlice} {
		reg, err := factory.ForResource(gvr).Informer().AddEventHandler(o.handler())
		if err != nil {
			return err
		}
		regs = append(regs, reg)
	}
	factory.Start(ctx.Done())
	defer func() {
		cancel()
		close(o.stopped) // unblocks handlers waiting on a full queue
		factory.Shutdown()
	}()

	// Start-up adoption: feed every object of the initial List, then say
	// the initial sync is done. A registration's HasSynced turns true once
	// its handler was called for every item of the initial List, so when all
	// are synced and the queue is empty the engine has seen them all.
	for !o.synced.Load() {
		allSynced := true
		for _, r := range regs {
			allSynced = allSynced && r.HasSynced()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line := <-o.events:
			if err := o.ingest(o.batch(line)); err != nil {
				return err
			}
			continue
		default:
		}
		if allSynced {
			if err := o.Engine.InitialSyncDone(o.Now()); err != nil {
				return err
			}
			o.synced.Store(true)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line := <-o.events:
			if err := o.ingest(o.batch(line)); err != nil {
				return err
			}
		case <-time.After(10 * time.Millisecond):
		}
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if err := o.step(ctx); err != nil {
			return err
		}
		wait := time.Second
		if due, ok, err := o.Engine.NextDue(); err != nil {
			return err
		} else if ok {
			now := o.Now()
			if due <= now {
				wait = 0
			} else if d := time.Duration(due-now) * time.Millisecond; d < wait {
				wait = d
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case line := <-o.events:
			if err := o.ingest(o.batch(line)); err != nil {
				return err
			}
		case <-timer.C:
		}
	}
}

// MetricsText is the engine's Prometheus text (Cilium's CES metrics and the
// engine's own) followed by the operator's write counter.
func (o *Operator) MetricsText() (string, error) {
	text, err := o.Engine.Metrics()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Write(text)
	_, writes := o.Writes()
	keys := make([]string, 0, len(writes))
	for k := range writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(&b, "# HELP sliceplane_operator_writes_total API writes sent, by verb and outcome.\n# TYPE sliceplane_operator_writes_total counter\n")
	for _, k := range keys {
		verb, outcome, _ := strings.Cut(k, "/")
		fmt.Fprintf(&b, "sliceplane_operator_writes_total{op=%q,outcome=%q} %d\n", verb, outcome, writes[k])
	}
	return b.String(), nil
}

func (o *Operator) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		src := o.Metrics
		if src == nil {
			src = metricsFunc(o.MetricsText)
		}
		text, err := src.Metrics()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(text))
	})
	return mux
}

type metricsFunc func() (string, error)

func (f metricsFunc) Metrics() (string, error) { return f() }

// ForeignMergePatch applies a JSON merge patch as a second writer would.
func ForeignMergePatch(ctx context.Context, c dynamic.Interface, gvr schema.GroupVersionResource, name string, patch []byte) error {
	_, err := c.Resource(gvr).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}
