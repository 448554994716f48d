package kubeapiserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ---- CiliumEndpoints ----

type cepSpec struct {
	ns, name, ip string
	identity     int64
}

func genCEPs(from, n, namespaces int) []cepSpec {
	out := make([]cepSpec, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, cepSpec{
			ns:       fmt.Sprintf("lf-%02d", i%namespaces),
			name:     fmt.Sprintf("ep-%05d", i),
			ip:       fmt.Sprintf("10.%d.%d.%d", 1+(i>>16)&0xff, (i>>8)&0xff, i&0xff),
			identity: int64(1000 + i%40),
		})
	}
	return out
}

func cepObject(c cepSpec) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v2",
		"kind":       "CiliumEndpoint",
		"metadata":   map[string]any{"name": c.name, "namespace": c.ns},
		"status": map[string]any{
			"id":       int64(1),
			"state":    "ready",
			"identity": map[string]any{"id": c.identity, "labels": []any{"k8s:app=" + c.name[:4]}},
			"networking": map[string]any{
				"addressing": []any{map[string]any{"ipv4": c.ip}},
				"node":       "192.168.0.1",
			},
			"encryption":      map[string]any{"key": int64(0)},
			"named-ports":     []any{map[string]any{"name": "http", "port": int64(8080), "protocol": "TCP"}},
			"service-account": "sa-" + c.ns,
		},
	}}
}

func createCEPs(ctx context.Context, c *cluster, ceps []cepSpec) error {
	for _, s := range ceps {
		if _, err := c.client.Resource(gvrCiliumEndpoint).Namespace(s.ns).Create(ctx, cepObject(s), metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// cepDivergence compares the slices the server holds with its
// CiliumEndpoints: every endpoint exactly once, in a slice of its
// namespace, with its identity, IP and service account; no stale entries,
// no empty or oversized slices.
func cepDivergence(ctx context.Context, c *cluster) ([]string, error) {
	l, err := c.client.Resource(gvrCiliumEndpoint).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	ceps := map[string]cepSpec{}
	for _, it := range l.Items {
		id, _, _ := unstructured.NestedInt64(it.Object, "status", "identity", "id")
		addrs, _, _ := unstructured.NestedSlice(it.Object, "status", "networking", "addressing")
		ip := ""
		if len(addrs) > 0 {
			ip, _ = addrs[0].(map[string]any)["ipv4"].(string)
		}
		ceps[it.GetNamespace()+"/"+it.GetName()] = cepSpec{ns: it.GetNamespace(), name: it.GetName(), ip: ip, identity: id}
	}
	slices, err := listSlices(ctx, c)
	if err != nil {
		return nil, err
	}
	var probs []string
	add := func(f string, a ...any) {
		if len(probs) < 5 {
			probs = append(probs, fmt.Sprintf(f, a...))
		}
	}
	seen := map[string]string{}
	for _, s := range slices {
		if len(s.Endpoints) == 0 {
			add("slice %s is empty", s.Metadata.Name)
		}
		if len(s.Endpoints) > 100 {
			add("slice %s holds %d endpoints", s.Metadata.Name, len(s.Endpoints))
		}
		for _, e := range s.Endpoints {
			k := s.Namespace + "/" + e.Name
			if prev, dup := seen[k]; dup {
				add("%s in %s and %s", k, prev, s.Metadata.Name)
			}
			seen[k] = s.Metadata.Name
			want, ok := ceps[k]
			if !ok {
				add("stale entry %s in %s", k, s.Metadata.Name)
				continue
			}
			ip := ""
			if len(e.Networking.Addressing) > 0 {
				ip = e.Networking.Addressing[0].IPv4
			}
			if e.ID != want.identity || ip != want.ip || e.ServiceAccount != "sa-"+want.ns {
				add("%s in %s: id %d ip %s sa %q, want id %d ip %s", k, s.Metadata.Name, e.ID, ip, e.ServiceAccount, want.identity, want.ip)
			}
		}
	}
	for k := range ceps {
		if _, ok := seen[k]; !ok {
			add("endpoint %s is in no slice", k)
		}
	}
	return probs, nil
}

// ---- the built-in Lease ----

type leaseRecord struct {
	holder         string
	acquire, renew time.Time
	transitions    int32
}

func getLease(c *cluster) (leaseRecord, bool) {
	l, err := c.kube.CoordinationV1().Leases("kube-system").Get(context.Background(), "sliceplane-operator", metav1.GetOptions{})
	if err != nil {
		return leaseRecord{}, false
	}
	var r leaseRecord
	if l.Spec.HolderIdentity != nil {
		r.holder = *l.Spec.HolderIdentity
	}
	if l.Spec.AcquireTime != nil {
		r.acquire = l.Spec.AcquireTime.Time
	}
	if l.Spec.RenewTime != nil {
		r.renew = l.Spec.RenewTime.Time
	}
	if l.Spec.LeaseTransitions != nil {
		r.transitions = *l.Spec.LeaseTransitions
	}
	return r, true
}

func waitLeader(t testing.TB, c *cluster, holder string, timeout time.Duration) leaseRecord {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if l, ok := getLease(c); ok && l.holder == holder {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	l, _ := getLease(c)
	t.Fatalf("%s did not hold the lease within %v; holder %q", holder, timeout, l.holder)
	return l
}

// TestLeaderFailoverOnBuiltinLease runs two replicas (source
// ciliumendpoints) under leader election on the kube-apiserver's own
// coordination.k8s.io/v1 Lease. The standby writes nothing; the leader is
// SIGKILLed; the standby acquires the lease within the lease duration plus
// the renew deadline after the dead leader's last renew (both as the API
// server recorded them), adopts what exists with zero writes, and places
// new endpoints; a third replica takes over from it on SIGTERM (lease
// released), again with zero writes. Then real kubectl exports the
// CiliumEndpoints and slices: `sliceplane run` plans zero writes and
// `sliceplane inspect` agrees.
func TestLeaderFailoverOnBuiltinLease(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	const namespaces = 3
	for i := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("lf-%02d", i)}}
		if _, err := c.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	lease := failoverLease
	a := startOperator(t, c, "replica-a", "ciliumendpoints", lease)
	first := waitLeader(t, c, "replica-a", 30*time.Second)
	b := startOperator(t, c, "replica-b", "ciliumendpoints", lease)
	defer func() {
		for _, r := range []*runningOperator{a, b} {
			if r.running() {
				r.stop(t)
			}
		}
	}()
	if err := createCEPs(ctx, c, genCEPs(0, 300, namespaces)); err != nil {
		t.Fatal(err)
	}
	check := func() ([]string, error) { return cepDivergence(ctx, c) }
	waitConverged(t, a, 60*time.Second, check)
	aWrites, _ := a.writes(t)
	bWrites, _ := b.writes(t)
	mb := b.scrape(t)
	if v, _ := metric(mb, "sliceplane_operator_leader"); v != 0 || bWrites != 0 {
		t.Fatalf("standby: leader gauge %v, %d writes; want 0 and 0", v, bWrites)
	}
	if v, _ := metric(a.scrape(t), "sliceplane_operator_leader"); v != 1 || aWrites == 0 {
		t.Fatalf("leader: leader gauge %v, %d writes", v, aWrites)
	}

	a.kill()
	last, _ := getLease(c)
	if last.holder != "replica-a" {
		t.Fatalf("lease holder after the kill: %q", last.holder)
	}
	took := waitLeader(t, c, "replica-b", 30*time.Second)
	gap := took.acquire.Sub(last.renew)
	bound := lease.duration + lease.renew
	t.Logf("leader killed: replica-b acquired the built-in Lease %v after replica-a's last renew (lease %v, renew deadline %v, retry %v); transitions %d -> %d",
		gap.Round(time.Millisecond), lease.duration, lease.renew, lease.retry, first.transitions, took.transitions)
	// No lower bound: client-go compares lease records at whole seconds
	// (see integration/README.md and operator/internal/leader).
	if gap > bound {
		t.Errorf("takeover took %v after the last renew, more than lease duration + renew deadline (%v)", gap, bound)
	}
	if took.transitions != first.transitions+1 {
		t.Errorf("leaseTransitions %d -> %d, want one transition", first.transitions, took.transitions)
	}

	b.waitSynced(t, 60*time.Second)
	time.Sleep(time.Second) // past the sync delay and the flush after adoption
	waitConverged(t, b, 30*time.Second, check)
	if n, by := b.writes(t); n != 0 {
		t.Errorf("the new leader wrote %d times over an unchanged cluster: %v", n, by)
	}
	if err := createCEPs(ctx, c, genCEPs(300, 50, namespaces)); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, b, 60*time.Second, check)
	n, by := b.writes(t)
	t.Logf("new leader placed 50 new endpoints with %d writes %v", n, by)
	if n == 0 {
		t.Errorf("the new leader wrote nothing for 50 new endpoints")
	}

	// A graceful handover: a third replica starts, the leader gets SIGTERM
	// and releases the Lease; the new leader adopts with zero writes.
	c3 := startOperator(t, c, "replica-c", "ciliumendpoints", lease)
	stopped := time.Now()
	b.stop(t)
	handover := waitLeader(t, c, "replica-c", 30*time.Second)
	t.Logf("replica-b stopped (SIGTERM, lease released): replica-c acquired the Lease %v after the stop began; transitions %d",
		handover.acquire.Sub(stopped).Round(time.Millisecond), handover.transitions)
	c3.waitSynced(t, 60*time.Second)
	time.Sleep(time.Second) // past the sync delay
	waitConverged(t, c3, 30*time.Second, check)
	if n, by := c3.writes(t); n != 0 {
		t.Errorf("replica-c wrote %d times over an unchanged cluster after the handover: %v", n, by)
	}
	defer c3.stop(t)

	// Real kubectl as a client, exactly the README's pipeline.
	cfgPath := writeConfig(t, "ciliumendpoints")
	export := kubectl(t, c, "get", "ciliumendpoints,ciliumendpointslices", "-A", "-o", "json")
	if out := sliceplane(t, export, "run", "--config", cfgPath, "-"); len(out) != 0 {
		t.Errorf("kubectl get ciliumendpoints,ciliumendpointslices -A -o json | sliceplane run - plans writes:\n%s", out)
	}
	slices, _ := listSlices(ctx, c)
	creates := plannedCreates(t, sliceplane(t, kubectl(t, c, "get", "ciliumendpoints", "-A", "-o", "json"), "run", "--config", cfgPath, "-"))
	if creates["CiliumEndpointSlice"] != len(slices) || len(creates) != 1 {
		t.Errorf("from the CiliumEndpoints alone the engine plans %v; the server holds %d slices", creates, len(slices))
	}
	rep := inspect(t, export, cfgPath)
	t.Logf("kubectl export | sliceplane run: 0 writes; inspect: %d endpoints in %d slices, adoption ops %v", rep.Endpoints, rep.Slices, rep.AdoptionOps)
	if rep.Endpoints != 350 || rep.Slices != len(slices) || len(rep.Duplicates) != 0 || len(rep.EmptySlices) != 0 || len(rep.WrongNamespace) != 0 || !rep.CEPsGiven {
		t.Errorf("inspect disagrees with the server: %+v", rep)
	}
	for k, v := range rep.AdoptionOps {
		if n, ok := v.(float64); !ok || n != 0 {
			t.Errorf("inspect estimates adoption op %s = %v on the converged cluster", k, v)
		}
	}
}
