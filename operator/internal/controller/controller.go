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
//     engine has writes due (NextDue) and a writer is idle, check the lease
//     (Guard), FlushAtMost (no more slice writes than idle writers), and
//     queue the planned writes; Report each outcome as it arrives, drain
//     health events.
//
// Writes are asynchronous: up to Parallelism are in flight at once, sent by
// a fixed pool of workers, and the loop does not wait for them. It keeps
// applying watch events and planning further writes while earlier ones are
// in flight (the engine plans nothing for a slice whose write is still in
// flight, so writes in flight always touch distinct objects). An endpoint
// change therefore waits for the sync delay and the rate limit only, never
// for an unrelated slow write of an earlier flush.
//
// Shutdown (context cancelled): no further flush is planned; planned writes
// not yet sent are abandoned (reported as failed to the engine, counted),
// writes in flight get ShutdownGrace to finish and are then cancelled. Run
// returns only when no write is in flight, so the caller may release the
// lease afterwards.
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
	// Parallelism bounds the writes sent at once (default 2, as the flag).
	Parallelism int
	// ShutdownGrace is how long in-flight writes may take after the context
	// ends before they are cancelled (default 10 s).
	ShutdownGrace time.Duration
	// Trace, when set, receives the propagation trace (trace.go): one line
	// per watch event and per write. Nil (the default): no trace.
	Trace *slog.Logger

	start  time.Time
	events chan queuedEvent
	// The write path, owned by the Run goroutine except the channels.
	queue    []*plannedWrite // planned, not yet handed to a worker
	inFlight int             // handed to a worker, outcome not yet reported
	work     chan *plannedWrite
	results  chan *plannedWrite
	stopped  chan struct{}
	resync   chan struct{}
	synced   atomic.Bool
	degraded atomic.Bool
	initOnce sync.Once

	// Where the loop's time goes (trace only; Run goroutine): cumulative
	// time with every writer busy, and with a writer idle but the engine's
	// next write due later (sync delay, rate limit, backoff) or the guard
	// holding writes back, up to stateSince, and the state since then.
	state      loopState
	stateSince time.Time
	cum        [loopStates]time.Duration
}

// loopState is what the loop waits for while it blocks.
type loopState int

const (
	stateOther loopState = iota // nothing due, or working
	stateBusy                   // every writer busy
	stateHeld                   // a writer idle, the next write due later (or the guard says no)
	loopStates
)

// markState accounts the time since the last mark to the state then and
// enters s.
func (c *Controller) markState(now time.Time, s loopState) {
	if !c.stateSince.IsZero() {
		c.cum[c.state] += now.Sub(c.stateSince)
	}
	c.state, c.stateSince = s, now
}

// cumAt is the cumulative busy and held time up to now.
func (c *Controller) cumAt(now time.Time) (busy, held time.Duration) {
	busy, held = c.cum[stateBusy], c.cum[stateHeld]
	if !c.stateSince.IsZero() {
		switch c.state {
		case stateBusy:
			busy += now.Sub(c.stateSince)
		case stateHeld:
			held += now.Sub(c.stateSince)
		}
	}
	return busy, held
}

type queuedEvent struct {
	line  []byte
	at    time.Time
	typ   string
	trace traceKey // only when tracing
}

func (c *Controller) init() {
	c.initOnce.Do(func() {
		if c.MaxBatch <= 0 {
			c.MaxBatch = 1000
		}
		if c.Parallelism <= 0 {
			c.Parallelism = 2
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
	ev := queuedEvent{line: line, at: time.Now(), typ: typ}
	if c.Trace != nil {
		ev.trace = traceKeyOf(u)
	}
	select {
	case c.events <- ev:
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
	if c.Trace != nil {
		c.traceEvents(batch, applied)
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

// plannedWrite is one op of a flush on its way to the API server.
type plannedWrite struct {
	op      sliceplane.Op
	flush   *flushCtx
	planned time.Time
	// Set by the worker.
	out            sliceplane.Outcome
	sent, answered time.Time
	// throttled is how long client-go's rate limiter held the request
	// (inside sent → answered).
	throttled time.Duration
}

// flushCtx is the context of the writes of one flush (the lease deadline);
// it is released when the last of them is reported.
type flushCtx struct {
	ctx     context.Context
	cancel  context.CancelFunc
	pending int
	// The trace's view of the flush: when FlushAtMost was called, and the
	// loop's cumulative busy and held time then.
	start      time.Time
	busy, held time.Duration
}

// step plans the writes due now and queues them, unless the guard says this
// replica may not write. writeCtx ends ShutdownGrace after a shutdown began.
// force flushes even when NextDue says nothing is due (after a resync).
func (c *Controller) step(writeCtx context.Context, force bool) error {
	due, ok, err := c.Engine.NextDue()
	if err != nil {
		return err
	}
	if !force && (!ok || due > c.Now()) {
		return nil
	}
	fc := &flushCtx{ctx: writeCtx, cancel: func() {}}
	if c.Guard != nil {
		deadline, ok := c.Guard.WriteDeadline(time.Now())
		if !ok {
			c.Metrics.LeaseHeldBack()
			return nil
		}
		fc.ctx, fc.cancel = context.WithDeadline(writeCtx, deadline)
	}
	// As many slice writes as there are idle writers: a slice left dirty
	// gets every change that arrives before a writer frees up into its one
	// write, instead of a queued write per change (identity writes are not
	// counted; they are few and slices reference them).
	idle := c.Parallelism - c.inFlight - len(c.queue)
	if idle < 0 {
		idle = 0
	}
	if c.Trace != nil {
		fc.start = time.Now()
		fc.busy, fc.held = c.cumAt(fc.start)
	}
	ops, err := c.Engine.FlushAtMost(c.Now(), uint32(idle))
	if err != nil {
		fc.cancel()
		return err
	}
	if len(ops) == 0 {
		fc.cancel()
		return c.drainHealth()
	}
	planned := time.Now()
	fc.pending = len(ops)
	for _, op := range ops {
		c.queue = append(c.queue, &plannedWrite{op: op, flush: fc, planned: planned})
	}
	c.dispatch()
	return c.drainHealth()
}

// dispatch hands queued writes to idle workers (never blocks: a worker is
// idle whenever fewer than Parallelism writes are in flight).
func (c *Controller) dispatch() {
	for len(c.queue) > 0 && c.inFlight < c.Parallelism {
		w := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.inFlight++
		c.work <- w
	}
	if len(c.queue) == 0 {
		c.queue = nil // let the backing array go
	}
}

// worker sends writes until work is closed.
func (c *Controller) worker() {
	for w := range c.work {
		w.sent = time.Now()
		ctx := w.flush.ctx
		if c.Trace != nil {
			ctx = WithThrottleRecord(ctx, &w.throttled)
		}
		w.out = c.API.Write(ctx, w.op)
		w.answered = time.Now()
		c.results <- w
	}
}

// finish reports a write's outcome to the engine (on the Run goroutine).
func (c *Controller) finish(w *plannedWrite) error {
	c.inFlight--
	op, out := w.op, w.out
	if c.Trace != nil {
		c.traceWrite(w, out.Outcome)
	}
	if out.Outcome != sliceplane.OutcomeSuccess {
		c.Log.Info("write not accepted", "op", op.Op, "kind", op.Kind, "name", op.Name, "outcome", out.Outcome, "message", out.Message)
	} else {
		c.Log.Debug("write accepted", "op", op.Op, "kind", op.Kind, "name", op.Name)
	}
	c.Metrics.WriteDone(op.Op, out.Outcome)
	c.release(w)
	if err := c.Engine.Report(op.ID, out, c.Now()); err != nil {
		return fmt.Errorf("report %d: %w", op.ID, err)
	}
	return nil
}

func (c *Controller) release(w *plannedWrite) {
	w.flush.pending--
	if w.flush.pending == 0 {
		w.flush.cancel()
	}
}

// shutdown abandons the queued writes (reported as failed), waits for the
// writes in flight (cancelled ShutdownGrace after ctx ended) and stops the
// workers.
func (c *Controller) shutdown() error {
	var firstErr error
	abandoned := 0
	for _, w := range c.queue {
		c.release(w)
		if err := c.Engine.Report(w.op.ID, sliceplane.Failed("abandoned: operator shutting down"), c.Now()); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("report %d: %w", w.op.ID, err)
		}
		abandoned++
	}
	c.queue = nil
	if abandoned > 0 {
		c.Metrics.Abandoned(abandoned)
		c.Log.Info("shutdown: planned writes abandoned", "count", abandoned)
	}
	for c.inFlight > 0 {
		if err := c.finish(<-c.results); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	close(c.work)
	return firstErr
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

	c.work = make(chan *plannedWrite)
	c.results = make(chan *plannedWrite, c.Parallelism)
	for range c.Parallelism {
		go c.worker()
	}
	err := c.loop(ctx, writeCtx)
	if serr := c.shutdown(); err == nil {
		err = serr
	}
	if err == nil {
		err = c.drainHealth()
	}
	return err
}

// loop applies events, plans and reports until ctx ends or the engine
// refuses a call.
func (c *Controller) loop(ctx, writeCtx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	force := true
	for {
		if ctx.Err() != nil {
			return nil
		}
		// Plan only when a writer is idle, and no more than the idle writers
		// take (step): a slice left dirty while the writers are busy gets the
		// changes that arrive meanwhile into its one write.
		if len(c.queue) == 0 && (c.inFlight < c.Parallelism || force) {
			if err := c.step(writeCtx, force); err != nil {
				return err
			}
			force = false
		}
		wait := time.Second
		dueLater := false
		if due, ok, err := c.Engine.NextDue(); err != nil {
			return err
		} else if ok {
			now := c.Now()
			if due <= now {
				wait = 0
			} else {
				dueLater = true
				if d := time.Duration(due-now) * time.Millisecond; d < wait {
					wait = d
				}
			}
		}
		if len(c.queue) > 0 || c.inFlight >= c.Parallelism {
			wait = time.Second // every worker is busy: the next outcome wakes the loop
		}
		held := false
		if c.Guard != nil && wait == 0 {
			if _, ok := c.Guard.WriteDeadline(time.Now()); !ok {
				wait = 100 * time.Millisecond // held back: poll the guard, do not spin
				held = true
			}
		}
		if c.Trace != nil {
			s := stateOther
			switch {
			case c.inFlight >= c.Parallelism:
				s = stateBusy
			case held || dueLater:
				// A writer is idle and a write is due, but later.
				s = stateHeld
			}
			c.markState(time.Now(), s)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case ev := <-c.events:
			if err := c.ingest(ev); err != nil {
				return err
			}
		case w := <-c.results:
			if err := c.finish(w); err != nil {
				return err
			}
			c.dispatch()
			if err := c.drainHealth(); err != nil {
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
