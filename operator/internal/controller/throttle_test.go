package controller

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/util/flowcontrol"
)

// TestTimedRateLimiter: a request that waits for client-go's limiter has
// that wait added to its context's record (and to the total); one that
// does not wait records about nothing.
func TestTimedRateLimiter(t *testing.T) {
	l := &TimedRateLimiter{RateLimiter: flowcontrol.NewTokenBucketRateLimiter(20, 1)}
	var first, second time.Duration
	if err := l.Wait(WithThrottleRecord(context.Background(), &first)); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(WithThrottleRecord(context.Background(), &second)); err != nil {
		t.Fatal(err)
	}
	if first > 20*time.Millisecond {
		t.Errorf("first request (a token was there) waited %v", first)
	}
	if second < 30*time.Millisecond {
		t.Errorf("second request (burst 1, 20/s) waited %v, want about 50 ms", second)
	}
	if got := l.Waited(); got != first+second {
		t.Errorf("Waited %v, want %v", got, first+second)
	}
	// No record in the context: counted in the total only.
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.Waited() <= first+second {
		t.Errorf("Waited %v did not grow", l.Waited())
	}
}
