package integration

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

type leaseRecord struct {
	holder         string
	acquire, renew time.Time
	transitions    int64
}

func getLease(t testing.TB, c dynamic.Interface) (leaseRecord, bool) {
	t.Helper()
	u, err := c.Resource(gvrLease).Namespace("kube-system").Get(context.Background(), "sliceplane-operator", metav1.GetOptions{})
	if err != nil {
		return leaseRecord{}, false
	}
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	parse := func(k string) time.Time {
		s, _ := spec[k].(string)
		tm, _ := time.Parse(metav1.RFC3339Micro, s)
		return tm
	}
	holder, _ := spec["holderIdentity"].(string)
	tr, _, _ := unstructured.NestedInt64(u.Object, "spec", "leaseTransitions")
	return leaseRecord{holder: holder, acquire: parse("acquireTime"), renew: parse("renewTime"), transitions: tr}, true
}

func waitLeader(t testing.TB, c dynamic.Interface, want func(string) bool, timeout time.Duration) leaseRecord {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if l, ok := getLease(t, c); ok && want(l.holder) {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	l, _ := getLease(t, c)
	t.Fatalf("no wanted lease holder within %v; lease holder %q", timeout, l.holder)
	return l
}

// TestLeaderFailover runs two replicas of the operator under leader
// election. Only the leader writes; the standby is ready and writes
// nothing. The leader is killed (SIGKILL: no release): the standby takes
// the lease within the lease duration plus the renew deadline after the
// leader's last renew (both instants as the API server recorded them in the
// Lease), adopts what the leader wrote with zero writes, and keeps the
// cluster converged when endpoints change afterwards.
func TestLeaderFailover(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, "/sliceplane-leader", true)
	lease := failoverLease
	a := startOperator(t, c.proxy, "replica-a", 0, lease)
	first := waitLeader(t, c.client, func(h string) bool { return h == "replica-a" }, 30*time.Second)
	b := startOperator(t, c.proxy, "replica-b", 0, lease)
	defer func() {
		for _, r := range []*runningOperator{a, b} {
			if r.running() {
				r.stop(t)
			}
		}
	}()
	if err := createCEPs(ctx, c.client, genCEPs(0, 300, 3, "lf"), nil); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c.client, a, 60*time.Second)
	aWrites, _ := a.writes(t)
	mb := b.scrape(t)
	bWrites, _ := b.writes(t)
	if v, _ := metric(mb, "sliceplane_operator_leader"); v != 0 || bWrites != 0 {
		t.Fatalf("standby: leader gauge %v, %d writes; want 0 and 0", v, bWrites)
	}
	if v, _ := metric(mb, "sliceplane_operator_ready"); v != 1 {
		t.Errorf("standby not ready (a Deployment rollout would wait on it)")
	}
	if v, _ := metric(a.scrape(t), "sliceplane_operator_leader"); v != 1 || aWrites == 0 {
		t.Fatalf("leader: leader gauge %v, %d writes", v, aWrites)
	}

	// SIGKILL the leader; the Lease keeps its last renew.
	a.kill()
	last, _ := getLease(t, c.client)
	if last.holder != "replica-a" {
		t.Fatalf("lease holder after the kill: %q", last.holder)
	}
	took := waitLeader(t, c.client, func(h string) bool { return h == "replica-b" }, 30*time.Second)
	gap := took.acquire.Sub(last.renew)
	bound := lease.duration + lease.renew
	t.Logf("leader killed: replica-b acquired the lease %v after replica-a's last renew (lease %v, renew deadline %v, retry %v); transitions %d -> %d",
		gap.Round(time.Millisecond), lease.duration, lease.renew, lease.retry, first.transitions, took.transitions)
	// No lower bound here: client-go compares lease records at whole
	// seconds, so a candidate may take over up to 1 s before lease duration
	// after the last renew; the operator's write guard allows for that
	// (operator/internal/leader).
	if gap > bound {
		t.Errorf("takeover took %v after the last renew, more than lease duration + renew deadline (%v)", gap, bound)
	}

	// The new leader adopts what exists: zero writes on an unchanged cluster.
	b.waitSynced(t, 60*time.Second)
	time.Sleep(time.Second) // past the sync delay and the flush after adoption
	waitConverged(t, c.client, b, 30*time.Second)
	if n, by := b.writes(t); n != 0 {
		t.Errorf("the new leader wrote %d times over an unchanged cluster: %v", n, by)
	}
	// And it keeps the slices right from then on.
	if err := createCEPs(ctx, c.client, genCEPs(300, 50, 3, "lf"), nil); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c.client, b, 60*time.Second)
	n, by := b.writes(t)
	t.Logf("new leader placed 50 new endpoints with %d writes %v", n, by)
	if n == 0 {
		t.Errorf("the new leader wrote nothing for 50 new endpoints")
	}
}

// deployRules reads the ClusterRole and Role of deploy/manifests/20-rbac.yaml.
func deployRules(t testing.TB) []rbacv1.PolicyRule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "manifests", "20-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			rules = append(rules, r.Rules...)
		case "Role":
			var r rbacv1.Role
			if err := yaml.UnmarshalStrict([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			rules = append(rules, r.Rules...)
		}
	}
	return rules
}

// TestRBACMatchesOperatorRequests runs the operator through a whole life
// (leader election, initial list and watches, slice creates, updates and
// deletes, graceful shutdown releasing the lease), records every request it
// makes at the proxy, and compares them with deploy/'s rules both ways:
// every request is allowed, and every granted verb was used.
func TestRBACMatchesOperatorRequests(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, "/sliceplane-rbac", true)
	r := startOperator(t, c.proxy, "rbac", 0, failoverLease)
	ceps := genCEPs(0, 150, 1, "rbac")
	if err := createCEPs(ctx, c.client, ceps, nil); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c.client, r, 60*time.Second)
	for i := range ceps[:10] {
		ceps[i].ip = ipOf(70000 + i)
	}
	if err := updateCEPs(ctx, c.client, ceps[:10]); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c.client, r, 60*time.Second)
	if err := deleteCEPs(ctx, c.client, ceps); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c.client, r, 60*time.Second)
	r.stop(t)

	granted := map[apiRequest]bool{}
	for _, rule := range deployRules(t) {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					if g == "*" || res == "*" || v == "*" {
						t.Errorf("wildcard in rule %+v", rule)
					}
					granted[apiRequest{Group: g, Resource: res, Verb: v}] = true
				}
			}
		}
	}
	made := c.proxy.recorded()
	var denied, unused []string
	for req, n := range made {
		if !granted[req] {
			denied = append(denied, req.String()+" ×"+strconv.Itoa(n))
		}
	}
	for req := range granted {
		if _, ok := made[req]; !ok {
			unused = append(unused, req.String())
		}
	}
	sort.Strings(denied)
	sort.Strings(unused)
	var seen []string
	for req, n := range made {
		seen = append(seen, req.String()+" ×"+strconv.Itoa(n))
	}
	sort.Strings(seen)
	t.Logf("operator requests: %s", strings.Join(seen, ", "))
	if len(denied) > 0 {
		t.Errorf("requests the ClusterRole/Role do not allow: %v", denied)
	}
	if len(unused) > 0 {
		t.Errorf("granted but never used (not least privilege): %v", unused)
	}
}

// TestLeaderPartition cuts the leader's Lease requests (its renewals fail;
// its watches and slice writes still go through, and endpoints keep
// changing, so it keeps wanting to write): it must send its last slice
// write before the standby acquires the lease, then exit (lost lease).
func TestLeaderPartition(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCluster(t, "/sliceplane-partition", true)
	lease := failoverLease
	a := startOperator(t, c.proxy, "replica-a", 0, lease)
	waitLeader(t, c.client, func(h string) bool { return h == "replica-a" }, 30*time.Second)
	b := startOperator(t, c.proxy, "replica-b", 0, lease)
	defer func() {
		if b.running() {
			b.stop(t)
		}
	}()
	if err := createCEPs(ctx, c.client, genCEPs(0, 100, 2, "pt"), nil); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c.client, a, 60*time.Second)

	// Endpoints keep coming, 20 per second, while the leader is cut off.
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		next := 100
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = createCEPs(ctx, c.client, genCEPs(next, 1, 2, "pt"), nil)
				next++
			}
		}
	}()
	c.proxy.cutLeaseOf("replica-a")
	took := waitLeader(t, c.client, func(h string) bool { return h == "replica-b" }, 30*time.Second)
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the cut-off leader did not stop")
	}
	cancel()
	<-churnDone
	if a.exitErr == nil || !strings.Contains(a.log(), "lost the leader lease") {
		t.Errorf("the cut-off leader exited with %v; want a non-zero exit after losing the lease", a.exitErr)
	}
	var lastA time.Time
	aWrites, bEarly := 0, 0
	for _, w := range c.proxy.forwardedWrites() {
		switch w.Replica {
		case "replica-a":
			aWrites++
			if w.Sent.After(lastA) {
				lastA = w.Sent
			}
		case "replica-b":
			if w.Sent.Before(took.acquire) {
				bEarly++
			}
		}
	}
	t.Logf("leader cut off: its last slice write arrived %v before the standby acquired the lease (%d writes by it in all)", took.acquire.Sub(lastA).Round(time.Millisecond), aWrites)
	if !lastA.Before(took.acquire) {
		t.Errorf("the cut-off leader wrote at %v, after the new leader acquired the lease at %v", lastA, took.acquire)
	}
	if bEarly > 0 {
		t.Errorf("the standby wrote %d times before it held the lease", bEarly)
	}
	b.waitSynced(t, 60*time.Second)
	waitConverged(t, c.client, b, 60*time.Second)
}

// TestRollingRestart replaces both replicas one by one, as a Deployment
// rollout does (new pod first, then SIGTERM to an old one): the lease moves
// on release, and on an unchanged cluster no leader after the first writes.
func TestRollingRestart(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, "/sliceplane-rolling", true)
	lease := failoverLease
	a := startOperator(t, c.proxy, "replica-a", 0, lease)
	waitLeader(t, c.client, func(h string) bool { return h == "replica-a" }, 30*time.Second)
	b := startOperator(t, c.proxy, "replica-b", 0, lease)
	if err := createCEPs(ctx, c.client, genCEPs(0, 200, 2, "rr"), nil); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c.client, a, 60*time.Second)
	live := map[string]*runningOperator{"replica-b": b}
	handover := func(old *runningOperator, newName string) {
		t.Helper()
		n := startOperator(t, c.proxy, newName, 0, lease)
		live[newName] = n
		delete(live, old.name)
		stopped := time.Now()
		old.stop(t) // SIGTERM: releases the lease
		l := waitLeader(t, c.client, func(h string) bool { return live[h] != nil }, 30*time.Second)
		leader := live[l.holder]
		leader.waitSynced(t, 60*time.Second)
		time.Sleep(time.Second) // past the sync delay
		waitConverged(t, c.client, leader, 30*time.Second)
		n2, by := leader.writes(t)
		t.Logf("%s stopped (SIGTERM): %s acquired the lease %v after the stop began, was synced and converged %v after it, with %d writes",
			old.name, l.holder, l.acquire.Sub(stopped).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond), n2)
		if n2 != 0 {
			t.Errorf("%s wrote %d times over an unchanged cluster: %v", l.holder, n2, by)
		}
	}
	handover(a, "replica-a2")
	handover(b, "replica-b2")
	for _, r := range live {
		r.stop(t)
	}
}
