// Package controller is the reconcile loop of sliceplane-operator: client-go
// dynamic informers feed watch events to the engine (as JSON lines, one cgo
// crossing per batch), the engine's write plan goes out through the dynamic
// client, and every outcome is reported back.
//
// The loop, in order:
//
//  1. Start-up adoption: every object of the informers' initial List is
//     applied, then InitialSyncDone (the engine adopts what the server holds;
//     an unchanged cluster costs zero writes).
//  2. Then, until the context ends: apply queued watch events, and when the
//     engine has writes due (NextDue), check the lease (Guard), Flush, send
//     the writes (up to Parallelism at once; the writes of one flush touch
//     distinct objects), Report each outcome, drain health events.
//
// Shutdown (context cancelled): no further flush is planned; writes of the
// current flush not yet sent are abandoned (reported as failed to the engine,
// counted), writes in flight get ShutdownGrace to finish and are then
// cancelled. Run returns only when no write is in flight, so the caller may
// release the lease afterwards.
package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"sliceplane.example/sliceplane"
)

// Guard tells the controller whether this replica may write. WriteDeadline
// returns the time until which writes are safe (another replica cannot have
// taken the lease before it) and false when no write may be sent now.
type Guard interface {
	WriteDeadline(now time.Time) (time.Time, bool)
}

// Controller is the reconcile loop around one engine.
type Controller struct {
	Engine  *sliceplane.Engine
	API     KubeAPI
	Client  dynamic.Interface
	Metrics *Metrics
	Log     *slog.Logger
	// Resources are the watched resources (see WatchedResources).
	Resources []schema.GroupVersionResource
	// Guard, when set, is asked before every flush (leader election).
	Guard Guard
	// MaxBatch bounds the watch events applied per engine call (default 1000).
	MaxBatch int
	// Parallelism bounds the writes sent at once (default 8).
	Parallelism int
	// ShutdownGrace is how long in-flight writes may take after the context
	// ends before they are cancelled (default 10 s).
	ShutdownGrace time.Duration

	start    time.Time
	events   chan queuedEvent
	stopped  chan struct{}
	resync   chan struct{}
	synced   atomic.Bool
	degraded atomic.Bool
	initOnce sync.Once
}

type queuedEvent struct {
	line []byte
	at   time.Time
}

func (c *Controller) init() {
	c.initOnce.Do(func() {
		if c.MaxBatch <= 0 {
			c.MaxBatch = 1000
		}
		if c.Parallelism <= 0 {
			c.Parallelism = 8
		}
		if c.ShutdownGrace <= 0 {
			c.ShutdownGrace = 10 * time.Second
		}
		if c.Log == nil {
			c.Log = slog.New(slog.DiscardHandler)
		}
		if c.Metrics == nil {
			c.Metrics = NewMetrics()
		}
		c.events = make(chan queuedEvent, 4096)
		c.stopped = make(chan struct{})
		c.resync = make(chan struct{}, 1)
		c.Metrics.mu.Lock()
		c.Metrics.queueLen = func() int { return len(c.events) }
		c.Metrics.mu.Unlock()
	})
}

// Now is the controller's monotonic clock in milliseconds.
func (c *Controller) Now() uint64 { return uint64(time.Since(c.start).Milliseconds()) }

// Synced reports whether the initial List was adopted.
func (c *Controller) Synced() bool { return c.synced.Load() }

// Degraded reports the engine's last health state.
func (c *Controller) Degraded() bool { return c.degraded.Load() }

// Resync asks for a level-triggered re-synchronization (every slice compared
// with the server at the next flush). It never blocks.
func (c *Controller) Resync() {
	c.init()
	select {
	case c.resync <- struct{}{}:
	default: // one is already pending
	}
}

func (c *Controller) push(typ string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	raw, err := u.MarshalJSON()
	if err != nil {
		c.Log.Error("encode watched object", "name", u.GetName(), "err", err)
		return
	}
	raw = bytes.TrimSpace(raw) // a watch event is one line
	line := make([]byte, 0, len(raw)+32)
	line = append(line, `{"type":"`...)
	line = append(line, typ...)
	line = append(line, `","object":`...)
	line = append(line, raw...)
	line = append(line, '}')
	select {
	case c.events <- queuedEvent{line: line, at: time.Now()}:
	case <-c.stopped:
	}
}

func (c *Controller) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.push("ADDED", obj) },
		UpdateFunc: func(_, obj any) { c.push("MODIFIED", obj) },
		DeleteFunc: func(obj any) { c.push("DELETED", obj) },
	}
}

// ingest applies first and every event queued behind it (up to MaxBatch) in
// one engine call.
func (c *Controller) ingest(first queuedEvent) error {
	batch := []queuedEvent{first}
	for len(batch) < c.MaxBatch {
		select {
		case ev := <-c.events:
			batch = append(batch, ev)
			continue
		default:
		}
		break
	}
	var buf bytes.Buffer
	for i, ev := range batch {
		if i > 0 {
			buf.WriteByte('\n')
		}
		buf.Write(ev.line)
	}
	rejected, err := c.Engine.ApplyJSONLines(buf.Bytes(), c.Now())
	if err != nil {
		return fmt.Errorf("apply watch events: %w", err)
	}
	applied := time.Now()
	for _, ev := range batch {
		c.Metrics.EventApplied(applied.Sub(ev.at))
	}
	if len(rejected) > 0 {
		c.Metrics.Rejected(len(rejected))
		for _, r := range rejected {
			e := r.Err()
			c.Log.Warn("watch event rejected", "code", e.Code, "object", e.Object, "field", e.Field, "message", e.Message)
		}
	}
	return nil
}

// step plans the writes due now and sends them, unless the guard says this
// replica may not write. writeCtx ends ShutdownGrace after a shutdown began.
// force flushes even when NextDue says nothing is due (after a resync).
func (c *Controller) step(ctx, writeCtx context.Context, force bool) error {
	due, ok, err := c.Engine.NextDue()
	if err != nil {
		return err
	}
	if !force && (!ok || due > c.Now()) {
		return nil
	}
	wctx := writeCtx
	if c.Guard != nil {
		deadline, ok := c.Guard.WriteDeadline(time.Now())
		if !ok {
			c.Metrics.LeaseHeldBack()
			return nil
		}
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(writeCtx, deadline)
		defer cancel()
	}
	ops, err := c.Engine.Flush(c.Now())
	if err != nil {
		return err
	}
	if len(ops) > 0 {
		if err := c.send(ctx, wctx, ops); err != nil {
			return err
		}
	}
	return c.drainHealth()
}

// send writes ops with up to Parallelism workers and reports every outcome.
// Once ctx ends no further op is sent: those left are reported as failed
// ("abandoned") so that the engine's state stays consistent.
func (c *Controller) send(ctx, wctx context.Context, ops []sliceplane.Op) error {
	workers := max(1, min(c.Parallelism, len(ops)))
	var wg sync.WaitGroup
	var reportErr atomic.Value
	next := make(chan sliceplane.Op)
	report := func(op sliceplane.Op, out sliceplane.Outcome) {
		if err := c.Engine.Report(op.ID, out, c.Now()); err != nil {
			reportErr.CompareAndSwap(nil, fmt.Errorf("report %d: %w", op.ID, err))
		}
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range next {
				out := c.API.Write(wctx, op)
				if out.Outcome != sliceplane.OutcomeSuccess {
					c.Log.Info("write not accepted", "op", op.Op, "kind", op.Kind, "name", op.Name, "outcome", out.Outcome, "message", out.Message)
				} else {
					c.Log.Debug("write accepted", "op", op.Op, "kind", op.Kind, "name", op.Name)
				}
				c.Metrics.WriteDone(op.Op, out.Outcome)
				report(op, out)
			}
		}()
	}
	abandoned := 0
	for i, op := range ops {
		if ctx.Err() != nil {
			for _, rest := range ops[i:] {
				report(rest, sliceplane.Failed("abandoned: operator shutting down"))
				abandoned++
			}
			break
		}
		select {
		case next <- op:
		case <-ctx.Done():
			report(op, sliceplane.Failed("abandoned: operator shutting down"))
			abandoned++
		}
	}
	close(next)
	wg.Wait()
	if abandoned > 0 {
		c.Metrics.Abandoned(abandoned)
		c.Log.Info("shutdown: planned writes abandoned", "count", abandoned)
	}
	if err, ok := reportErr.Load().(error); ok {
		return err
	}
	return nil
}

func (c *Controller) drainHealth() error {
	evs, err := c.Engine.DrainEvents()
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.Category != "health" {
			c.Log.Debug("engine event", "category", ev.Category, "kind", ev.Kind, "subject", ev.Subject, "message", ev.Message)
			continue
		}
		c.degraded.Store(ev.Kind == "degraded")
		c.Metrics.HealthChanged(ev.Kind)
		c.Log.Warn("health", "state", ev.Kind, "message", ev.Message)
	}
	return nil
}

// Run starts the informers, adopts what the initial List returned, then
// reconciles until ctx ends (see the package documentation for shutdown).
// It returns nil when ctx ended, an error when the engine refused a call.
func (c *Controller) Run(ctx context.Context) error {
	c.init()
	if c.Engine == nil || c.API == nil || c.Client == nil || len(c.Resources) == 0 {
		return errors.New("controller: Engine, API, Client and Resources are required")
	}
	c.start = time.Now()

	// writeCtx outlives ctx by ShutdownGrace: writes in flight at shutdown
	// may finish, then are cancelled.
	writeCtx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(c.ShutdownGrace, cancelWrites)
		context.AfterFunc(writeCtx, func() { t.Stop() })
	})
	defer stopGrace()

	informCtx, stopInformers := context.WithCancel(ctx)
	factory := dynamicinformer.NewDynamicSharedInformerFactory(c.Client, 0)
	var regs []cache.ResourceEventHandlerRegistration
	for _, gvr := range c.Resources {
		reg, err := factory.ForResource(gvr).Informer().AddEventHandler(c.handler())
		if err != nil {
			stopInformers()
			return err
		}
		regs = append(regs, reg)
	}
	factory.Start(informCtx.Done())
	defer func() {
		stopInformers()
		close(c.stopped) // unblocks handlers waiting on a full queue
		factory.Shutdown()
	}()

	// Start-up adoption: a registration's HasSynced turns true once its
	// handler was called for every item of the initial List, so when all are
	// synced and the queue is empty the engine has seen them all.
	c.Log.Info("waiting for the initial list", "resources", len(c.Resources))
	for !c.synced.Load() {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-c.events:
			if err := c.ingest(ev); err != nil {
				return err
			}
			continue
		default:
		}
		allSynced := true
		for _, r := range regs {
			allSynced = allSynced && r.HasSynced()
		}
		if allSynced && len(c.events) == 0 {
			if err := c.Engine.InitialSyncDone(c.Now()); err != nil {
				return err
			}
			c.synced.Store(true)
			st, _ := c.Engine.Stats()
			c.Log.Info("initial sync done", "endpoints", st.Endpoints, "slices", st.Slices, "identities", st.Identities, "took", time.Since(c.start).String())
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case ev := <-c.events:
			if err := c.ingest(ev); err != nil {
				return err
			}
		case <-time.After(10 * time.Millisecond):
		}
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	force := true
	for {
		if err := c.step(ctx, writeCtx, force); err != nil {
			return err
		}
		force = false
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Second
		if due, ok, err := c.Engine.NextDue(); err != nil {
			return err
		} else if ok {
			now := c.Now()
			if due <= now {
				wait = 0
			} else if d := time.Duration(due-now) * time.Millisecond; d < wait {
				wait = d
			}
		}
		if c.Guard != nil && wait == 0 {
			if _, ok := c.Guard.WriteDeadline(time.Now()); !ok {
				wait = 100 * time.Millisecond // held back: poll the guard, do not spin
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case ev := <-c.events:
			if err := c.ingest(ev); err != nil {
				return err
			}
		case <-c.resync:
			if err := c.Engine.Resync(c.Now()); err != nil {
				return err
			}
			c.Metrics.Resynced()
			force = true
			c.Log.Info("resync requested: every slice compared with the server")
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}
