package leader

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// fakeLock is a resource lock whose writes succeed or fail on demand; it
// records whether the guard still allowed writes when each was sent.
type fakeLock struct {
	fail          bool
	guard         *TrackingLock
	allowedAtSend []bool
	now           *time.Time
	took          time.Duration // how long a write "takes"
}

func (f *fakeLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	return nil, nil, errors.New("not used")
}
func (f *fakeLock) send() error {
	_, ok := f.guard.WriteDeadline(*f.now)
	f.allowedAtSend = append(f.allowedAtSend, ok)
	*f.now = f.now.Add(f.took)
	if f.fail {
		return errors.New("connection refused")
	}
	return nil
}
func (f *fakeLock) Create(context.Context, resourcelock.LeaderElectionRecord) error { return f.send() }
func (f *fakeLock) Update(context.Context, resourcelock.LeaderElectionRecord) error { return f.send() }
func (f *fakeLock) RecordEvent(string)                                              {}
func (f *fakeLock) Identity() string                                                { return "me" }
func (f *fakeLock) Describe() string                                                { return "fake" }

func TestWriteDeadlineFollowsRenews(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 10, 400_000_000, time.UTC) // 10.4 s
	inner := &fakeLock{now: &now, took: 300 * time.Millisecond}
	l := &TrackingLock{Interface: inner, LeaseDuration: 15 * time.Second, WriteMargin: 2 * time.Second, Clock: func() time.Time { return now }}
	inner.guard = l
	ctx := context.Background()
	mine := resourcelock.LeaderElectionRecord{HolderIdentity: "me"}

	if _, ok := l.WriteDeadline(now); ok {
		t.Fatal("writes allowed before any acquire")
	}
	if err := l.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	// Sent at 10.4 s: counted from 10 s (the record holds whole seconds),
	// plus 15 s, minus the 2 s margin.
	want := time.Date(2026, 1, 1, 0, 0, 23, 0, time.UTC)
	if until, ok := l.WriteDeadline(now); !ok || !until.Equal(want) {
		t.Fatalf("after acquire: until %v ok %v, want %v", until, ok, want)
	}
	if _, ok := l.WriteDeadline(want); ok {
		t.Errorf("writes allowed at the deadline itself")
	}

	// A failed renew does not extend the window; the old one stands.
	now = time.Date(2026, 1, 1, 0, 0, 15, 0, time.UTC)
	inner.fail = true
	if err := l.Update(ctx, mine); err == nil {
		t.Fatal("want the renew to fail")
	}
	if until, ok := l.WriteDeadline(now); !ok || !until.Equal(want) {
		t.Errorf("after a failed renew: until %v ok %v, want the old %v", until, ok, want)
	}
	// Cut off: no renew succeeds; past the deadline nothing may be written,
	// two seconds before another replica could hold the lease.
	if _, ok := l.WriteDeadline(want.Add(-time.Millisecond)); !ok {
		t.Errorf("writes refused before the deadline")
	}
	if _, ok := l.WriteDeadline(want.Add(time.Millisecond)); ok {
		t.Errorf("writes allowed after the deadline")
	}

	// A successful renew moves it on.
	inner.fail = false
	if err := l.Update(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if until, _ := l.WriteDeadline(now); !until.Equal(time.Date(2026, 1, 1, 0, 0, 28, 0, time.UTC)) {
		t.Errorf("after renew at 15 s: until %v, want 28 s", until)
	}

	// Release (holder cleared): writes stop before the release is sent.
	if err := l.Update(ctx, resourcelock.LeaderElectionRecord{}); err != nil {
		t.Fatal(err)
	}
	if last := inner.allowedAtSend[len(inner.allowedAtSend)-1]; last {
		t.Errorf("writes were still allowed while the release was being sent")
	}
	if _, ok := l.WriteDeadline(now); ok {
		t.Errorf("writes allowed after release")
	}
}

func TestSafeUntilIsBeforeAnyTakeover(t *testing.T) {
	// A candidate can take over at the earliest one lease duration (whole
	// seconds) after it first saw a record with the renew's second.
	for _, sent := range []time.Time{
		time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 10, 999_999_999, time.UTC),
	} {
		for _, ld := range []time.Duration{2 * time.Second, 2500 * time.Millisecond, 15 * time.Second} {
			earliestTakeover := sent.Truncate(time.Second).Add(time.Duration(int64(ld/time.Second)) * time.Second)
			if until := SafeUntil(sent, ld, 0); until.After(earliestTakeover) {
				t.Errorf("sent %v lease %v: writes until %v, after the earliest takeover %v", sent, ld, until, earliestTakeover)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Namespace: "ns", Name: "l", Identity: "me", LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second, WriteMargin: 2 * time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"lease <= renew":     func(c *Config) { c.LeaseDuration = c.RenewDeadline },
		"renew <= 1.2 retry": func(c *Config) { c.RenewDeadline = 2400 * time.Millisecond },
		"margin too large":   func(c *Config) { c.WriteMargin = 5 * time.Second },
		"negative margin":    func(c *Config) { c.WriteMargin = -1 },
		"no identity":        func(c *Config) { c.Identity = "" },
		"sub-2s lease": func(c *Config) {
			c.LeaseDuration, c.RenewDeadline, c.RetryPeriod, c.WriteMargin = 1500*time.Millisecond, time.Second, 100*time.Millisecond, 0
		},
		"zero retry":          func(c *Config) { c.RetryPeriod = 0 },
		"no lease name/space": func(c *Config) { c.Name = "" },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
}
