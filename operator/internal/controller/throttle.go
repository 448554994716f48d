package controller

import (
	"context"
	"sync/atomic"
	"time"

	"k8s.io/client-go/util/flowcontrol"
)

// TimedRateLimiter is client-go's request rate limiter (--kube-api-qps,
// --kube-api-burst) with the time each request waited for it recorded
// where the request's context asks for it (WithThrottleRecord): the
// propagation trace reports it per write, so that the client-side
// throttle is told apart from the API server's time inside a write's
// round trip. It also sums every wait (Waited).
type TimedRateLimiter struct {
	flowcontrol.RateLimiter
	waited atomic.Int64 // nanoseconds
}

type throttleKey struct{}

// WithThrottleRecord returns ctx asking TimedRateLimiter to add the time a
// request made with it waits to *d.
func WithThrottleRecord(ctx context.Context, d *time.Duration) context.Context {
	return context.WithValue(ctx, throttleKey{}, d)
}

// Wait is the wrapped limiter's Wait, timed.
func (l *TimedRateLimiter) Wait(ctx context.Context) error {
	start := time.Now()
	err := l.RateLimiter.Wait(ctx)
	d := time.Since(start)
	l.waited.Add(int64(d))
	if p, ok := ctx.Value(throttleKey{}).(*time.Duration); ok {
		*p += d
	}
	return err
}

// Waited is the time every request so far waited for the limiter.
func (l *TimedRateLimiter) Waited() time.Duration { return time.Duration(l.waited.Load()) }
