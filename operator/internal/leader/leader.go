// Package leader runs the operator under leader election on a
// coordination.k8s.io Lease (client-go leaderelection) and tells the
// controller, before every flush, whether this replica may still write.
//
// Why a write deadline: another candidate takes the lease once it has seen
// the lease record unchanged for the lease's leaseDurationSeconds, counted
// from when it first read that record. client-go compares records in their
// JSON form with metav1.Time, which has whole seconds: two renews within
// the same second look unchanged, so a candidate may count from a renew up
// to one second older than the last, and the duration is whole seconds too.
// So writes are safe until
//
//	(renew sent, truncated to the second) + whole seconds of LeaseDuration
//
// and the guard stops them WriteMargin earlier (a write's own round trip)
// and gives every write a context deadline at that time. A replica whose API connection is cut
// cannot renew, so its deadline passes and it stops writing before another
// replica may acquire the lease, whatever client-go's renew loop is doing.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Config are the lease and its timings.
type Config struct {
	Namespace string
	Name      string
	Identity  string
	// LeaseDuration, RenewDeadline, RetryPeriod as in client-go
	// leaderelection (defaults there: 15 s, 10 s, 2 s).
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	// WriteMargin: writes stop this long before the lease could be taken.
	WriteMargin time.Duration
}

// Validate checks the timings as client-go does, plus the write margin.
func (c Config) Validate() error {
	switch {
	case c.Namespace == "" || c.Name == "":
		return errors.New("lease namespace and name are required")
	case c.Identity == "":
		return errors.New("identity is required")
	case c.RetryPeriod <= 0:
		return errors.New("retry period must be > 0")
	case float64(c.RenewDeadline) <= leaderelection.JitterFactor*float64(c.RetryPeriod):
		return fmt.Errorf("renew deadline (%v) must be greater than %.1f × retry period (%v)", c.RenewDeadline, leaderelection.JitterFactor, c.RetryPeriod)
	case c.LeaseDuration <= c.RenewDeadline:
		return fmt.Errorf("lease duration (%v) must be greater than renew deadline (%v)", c.LeaseDuration, c.RenewDeadline)
	case c.LeaseDuration < 2*time.Second:
		return fmt.Errorf("lease duration (%v) must be at least 2s (the Lease holds whole seconds)", c.LeaseDuration)
	case c.WriteMargin < 0 || c.WriteMargin >= c.LeaseDuration-c.RenewDeadline:
		// The window between a renew and the write deadline must outlast
		// the renew deadline, or a slow renew would stop writes needlessly.
		return fmt.Errorf("write margin (%v) must be >= 0 and below lease duration - renew deadline (%v)", c.WriteMargin, c.LeaseDuration-c.RenewDeadline)
	}
	return nil
}

// TrackingLock wraps a resource lock and records when each of this
// identity's successful acquires/renews was sent: the base of the write
// deadline. It implements resourcelock.Interface and controller.Guard.
type TrackingLock struct {
	resourcelock.Interface
	LeaseDuration time.Duration
	WriteMargin   time.Duration
	// Clock defaults to time.Now.
	Clock func() time.Time

	mu         sync.Mutex
	validUntil time.Time
}

func (l *TrackingLock) now() time.Time {
	if l.Clock != nil {
		return l.Clock()
	}
	return time.Now()
}

func (l *TrackingLock) track(ler resourcelock.LeaderElectionRecord, send func() error) error {
	if ler.HolderIdentity != l.Identity() {
		// Releasing (or writing someone else's record): stop writing first.
		l.mu.Lock()
		l.validUntil = time.Time{}
		l.mu.Unlock()
		return send()
	}
	sent := l.now()
	err := send()
	if err == nil {
		l.mu.Lock()
		if until := SafeUntil(sent, l.LeaseDuration, l.WriteMargin); until.After(l.validUntil) {
			l.validUntil = until
		}
		l.mu.Unlock()
	}
	return err
}

// SafeUntil is when writes must stop after a renew sent at sent (see the
// package documentation): sent truncated to the second, plus the lease
// duration in whole seconds, minus margin.
func SafeUntil(sent time.Time, leaseDuration, margin time.Duration) time.Time {
	whole := time.Duration(int64(leaseDuration/time.Second)) * time.Second
	return sent.Truncate(time.Second).Add(whole - margin)
}

// Create records an acquire.
func (l *TrackingLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.track(ler, func() error { return l.Interface.Create(ctx, ler) })
}

// Update records a renew (or a release, which ends the write window first).
func (l *TrackingLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.track(ler, func() error { return l.Interface.Update(ctx, ler) })
}

// WriteDeadline implements controller.Guard.
func (l *TrackingLock) WriteDeadline(now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.validUntil, now.Before(l.validUntil)
}

// Invalidate ends the write window (lost leadership).
func (l *TrackingLock) Invalidate() {
	l.mu.Lock()
	l.validUntil = time.Time{}
	l.mu.Unlock()
}

// ErrLostLease is returned by Run when this replica stopped holding the
// lease while leading (it must restart to compete again with a fresh engine).
var ErrLostLease = errors.New("lost the leader lease")

// Elector runs lead while this replica holds the lease.
type Elector struct {
	Config Config
	Client coordinationv1client.LeasesGetter
	Log    *slog.Logger

	leading atomic.Bool
	leader  atomic.Value // string: last observed leader
}

// Leading reports whether this replica currently holds the lease.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Leader is the identity of the last observed leader ("" when none yet).
func (e *Elector) Leader() string {
	s, _ := e.leader.Load().(string)
	return s
}

// Run competes for the lease until ctx ends. While it holds the lease it
// runs lead with a context that ends on shutdown or lost lease, and the
// guard to check before every write. On shutdown it waits for lead to
// return (its writes finished or abandoned), then releases the lease.
// It returns nil after a shutdown, ErrLostLease when the lease was lost,
// or lead's error.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context, guard *TrackingLock) error) error {
	if err := e.Config.Validate(); err != nil {
		return err
	}
	log := e.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lock := &TrackingLock{
		Interface: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: e.Config.Namespace, Name: e.Config.Name},
			Client:     e.Client,
			LockConfig: resourcelock.ResourceLockConfig{Identity: e.Config.Identity},
		},
		LeaseDuration: e.Config.LeaseDuration,
		WriteMargin:   e.Config.WriteMargin,
	}
	// The elector's context is not ctx: on shutdown the lease is released
	// only after lead has returned.
	electCtx, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()
	leadDone := make(chan error, 1)
	started := make(chan struct{})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   e.Config.LeaseDuration,
		RenewDeadline:   e.Config.RenewDeadline,
		RetryPeriod:     e.Config.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            e.Config.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaseCtx context.Context) {
				e.leading.Store(true)
				close(started)
				log.Info("leading", "lease", e.Config.Namespace+"/"+e.Config.Name, "identity", e.Config.Identity)
				runCtx, cancel := context.WithCancel(ctx)
				defer cancel()
				stop := context.AfterFunc(leaseCtx, cancel)
				defer stop()
				leadDone <- lead(runCtx, lock)
			},
			OnStoppedLeading: func() {
				lock.Invalidate()
				if e.leading.Swap(false) {
					log.Info("stopped leading", "identity", e.Config.Identity)
				}
			},
			OnNewLeader: func(identity string) {
				e.leader.Store(identity)
				log.Info("leader observed", "leader", identity, "self", identity == e.Config.Identity)
			},
		},
	})
	if err != nil {
		return err
	}
	electorDone := make(chan struct{})
	go func() {
		defer close(electorDone)
		le.Run(electCtx)
	}()

	select {
	case <-ctx.Done():
	case <-started:
	}
	if ctx.Err() != nil {
		select {
		case <-started:
		default:
			// Never led: nothing to finish, nothing to release.
			stopElecting()
			<-electorDone
			return nil
		}
	}
	// Leading: wait until lead returns (shutdown, lost lease or error).
	leadErr := <-leadDone
	stopElecting() // releases the lease (ReleaseOnCancel) if still held
	<-electorDone
	switch {
	case leadErr != nil:
		return leadErr
	case ctx.Err() != nil:
		log.Info("lease released on shutdown")
		return nil
	}
	return ErrLostLease
}
