package integration

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
)

func schemaCRDs(t testing.TB, patchCES bool) []*apiextensionsv1.CustomResourceDefinition {
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range []string{"ciliumendpoints.yaml", "ciliumendpointslices.yaml", "ciliumidentities.yaml"} {
		crd := loadCRD(t, filepath.Join("..", "..", "shared", "schemas", f))
		if patchCES && crd.Spec.Names.Kind == "CiliumEndpointSlice" {
			crd = cesCRD(crd)
		}
		crds = append(crds, crd)
	}
	// The operator watches CiliumNodes with every source (their count picks
	// the rate-limit step); the CRD is Cilium v1.20's.
	crds = append(crds, loadCRD(t, filepath.Join("..", "..", "shared", "schemas", "cilium-v1.20", "ciliumnodes.yaml")))
	return append(crds, leaseCRD())
}

// cluster is one etcd, one API server over it and the proxy in front.
type cluster struct {
	etcd   *etcdServer
	srv    *apiServer
	proxy  *apiProxy
	prefix string
	client dynamic.Interface // the test's own client (through the proxy, not fault-injected)
}

func newCluster(t testing.TB, prefix string, patchCES bool) *cluster {
	t.Helper()
	c := &cluster{etcd: startEtcd(t), prefix: prefix, proxy: newProxy(t)}
	c.srv = startAPIServer(t, c.etcd.url, prefix)
	t.Cleanup(func() {
		if c.srv != nil {
			c.srv.stop()
		}
	})
	installCRDs(t, c.srv.config, schemaCRDs(t, patchCES))
	c.proxy.setBackend(t, c.srv.config)
	var err error
	c.client, err = dynamic.NewForConfig(c.proxy.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// restartAPIServer stops the API server and starts a new one over the same
// etcd data (same prefix); the proxy keeps the operator's address.
func (c *cluster) restartAPIServer(t testing.TB) time.Duration {
	start := time.Now()
	c.proxy.setBackend(t, nil)
	c.srv.stop()
	c.srv = nil
	c.srv = startAPIServer(t, c.etcd.url, c.prefix)
	installCRDs(t, c.srv.config, schemaCRDs(t, true)) // already there: waits for Established
	c.proxy.setBackend(t, c.srv.config)
	return time.Since(start)
}

func genCEPs(from, n, namespaces int, prefix string) []cepSpec {
	out := make([]cepSpec, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, cepSpec{
			ns:       fmt.Sprintf("%s-%02d", prefix, i%namespaces),
			name:     fmt.Sprintf("ep-%05d", i),
			ip:       ipOf(i),
			identity: int64(1000 + i%40),
		})
	}
	return out
}

// staleArmer makes the next slice update the operator sends stale: right
// before the proxy forwards it, a second writer bumps the slice's
// resourceVersion (an annotation edit).
type staleArmer struct {
	client dynamic.Interface
	armed  atomic.Bool
	forced atomic.Int64
}

func (s *staleArmer) beforeWrite(r *http.Request) {
	if r.Method != http.MethodPut || !s.armed.CompareAndSwap(true, false) {
		return
	}
	name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"sliceplane.test/foreign":"%d"}}}`, time.Now().UnixNano())
	if err := ForeignMergePatch(r.Context(), s.client, GVRCiliumEndpointSlice, name, []byte(patch)); err == nil {
		s.forced.Add(1)
	}
}

func writesDelta(t testing.TB, r *runningOperator, before int) int {
	n, _ := r.writes(t)
	return n - before
}

func TestOperatorAgainstAPIServer(t *testing.T) {
	top := t
	ctx := context.Background()
	c := newCluster(t, "/sliceplane-scenarios", true)
	api := c.client

	stale := &staleArmer{client: api}
	c.proxy.setBeforeWrite(stale.beforeWrite)
	r := startOperator(t, c.proxy, "op-1", 0, scenarioLease)
	defer func() {
		if r.running() {
			r.stop(t)
		}
	}()

	const namespaces = 20
	all := genCEPs(0, 2000, namespaces, "ns")
	next := 2000
	live := map[string]cepSpec{}
	for _, s := range all {
		live[s.key()] = s
	}

	// Each scenario builds on the previous one: stop at the first failure.
	run := func(name string, f func(t *testing.T)) {
		if !t.Failed() {
			t.Run(name, f)
		}
	}

	run("converge-2000", func(t *testing.T) {
		start := time.Now()
		if err := createCEPs(ctx, api, all, nil); err != nil {
			t.Fatal(err)
		}
		created := time.Since(start)
		took := waitConverged(t, api, r, 90*time.Second)
		n, by := r.writes(t)
		_, slices, _ := divergence(ctx, api)
		t.Logf("2000 endpoints in %d namespaces: created in %v, converged %v later into %d slices; %d writes (%.3f per endpoint) %v",
			namespaces, created.Round(time.Millisecond), took.Round(time.Millisecond), slices, n, float64(n)/2000, by)
		if slices < 20 || slices > 40 {
			t.Errorf("%d slices for 2000 endpoints in 20 namespaces", slices)
		}
		m := r.scrape(t)
		checkDeployMetrics(t, m)
		for _, want := range []string{"sliceplane_endpoints 2000", "sliceplane_synced 1", "sliceplane_degraded 0", `cilium_operator_ces_sync_total{outcome="success",failure_type=""}`, "cilium_operator_number_of_ceps_per_ces_bucket", `sliceplane_operator_writes_total{op="create",outcome="success"}`, "sliceplane_operator_leader 1", "sliceplane_operator_ready 1", `sliceplane_operator_api_write_duration_seconds_bucket{op="create",le="0.001"}`} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %q:\n%s", want, m)
			}
		}
	})

	run("rolling-churn", func(t *testing.T) {
		before, _ := r.writes(t)
		changes := 0
		for round := range 3 {
			var del, upd []cepSpec
			i := 0
			for _, s := range all {
				if _, ok := live[s.key()]; !ok {
					continue
				}
				switch {
				case i%20 == round:
					del = append(del, s)
				case i%20 == round+5:
					s.ip = ipOf(50000 + next + i)
					s.identity = 2000 + int64(round)
					upd = append(upd, s)
				}
				i++
			}
			add := genCEPs(next, len(del), namespaces, "ns")
			next += len(del)
			if err := deleteCEPs(ctx, api, del); err != nil {
				t.Fatal(err)
			}
			if err := updateCEPs(ctx, api, upd); err != nil {
				t.Fatal(err)
			}
			if err := createCEPs(ctx, api, add, nil); err != nil {
				t.Fatal(err)
			}
			for _, s := range del {
				delete(live, s.key())
			}
			for _, s := range append(upd, add...) {
				live[s.key()] = s
			}
			all = append(all, add...)
			changes += len(del) + len(upd) + len(add)
		}
		took := waitConverged(t, api, r, 120*time.Second)
		w := writesDelta(t, r, before)
		t.Logf("rolling churn: %d endpoint changes in 3 rounds, converged %v after the last; %d writes (%.3f per change)", changes, took.Round(time.Millisecond), w, float64(w)/float64(changes))
	})

	run("namespace-emptied", func(t *testing.T) {
		before, _ := r.writes(t)
		var del []cepSpec
		for k, s := range live {
			if s.ns == "ns-07" {
				del = append(del, s)
				delete(live, k)
			}
		}
		if err := deleteCEPs(ctx, api, del); err != nil {
			t.Fatal(err)
		}
		waitConverged(t, api, r, 60*time.Second)
		slices, err := listSlices(ctx, api)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range slices {
			if s.Namespace == "ns-07" {
				t.Errorf("slice %s of the emptied namespace is still there", s.Metadata.Name)
			}
		}
		_, by := r.writes(t)
		t.Logf("deleted all %d endpoints of ns-07: %d writes; outcomes so far %v", len(del), writesDelta(t, r, before), by)
	})

	var checkedBefore, prunedBefore float64
	run("operator-restart-zero-writes", func(t *testing.T) {
		m := r.scrape(t)
		checkedBefore, _ = metric(m, "sliceplane_operator_stored_checked_total")
		prunedBefore, _ = metric(m, "sliceplane_operator_pruned_writes_total")
		r.stop(t) // SIGTERM: graceful, releases the lease
		if !strings.Contains(r.log(), "lease released on shutdown") {
			t.Errorf("the stopped operator did not log releasing its lease")
		}
		r = startOperatorOwned(t, top, c.proxy, "op-2", 0, scenarioLease)
		r.waitSynced(t, 60*time.Second)
		time.Sleep(3 * time.Second) // well past the sync delay and the rate limiter
		waitConverged(t, api, r, 30*time.Second)
		n, by := r.writes(t)
		m = r.scrape(t)
		eps, _ := metric(m, "sliceplane_endpoints")
		slices, _ := metric(m, "sliceplane_slices")
		t.Logf("restarted operator adopted %v endpoints in %v slices with %d writes", eps, slices, n)
		if n != 0 {
			t.Errorf("restart over an unchanged cluster cost %d writes: %v", n, by)
		}
	})

	run("second-writer-repaired", func(t *testing.T) {
		before, _ := r.writes(t)
		slices, err := listSlices(ctx, api)
		if err != nil || len(slices) < 3 {
			t.Fatalf("slices: %v (%d)", err, len(slices))
		}
		// Edit one slice (drop half its endpoints, corrupt an IP), empty a
		// second, delete a third.
		a, b, d := slices[0], slices[1], slices[2]
		eps := a.Endpoints[:len(a.Endpoints)/2]
		eps[0].Networking.Addressing[0].IPv4 = "10.250.250.250"
		if err := patchEndpoints(ctx, api, a.Metadata.Name, eps); err != nil {
			t.Fatal(err)
		}
		if err := patchEndpoints(ctx, api, b.Metadata.Name, []sliceEntry{}); err != nil {
			t.Fatal(err)
		}
		if err := api.Resource(GVRCiliumEndpointSlice).Delete(ctx, d.Metadata.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		took := waitConverged(t, api, r, 60*time.Second)
		w := writesDelta(t, r, before)
		t.Logf("second writer edited %s, emptied %s, deleted %s: repaired in %v with %d writes", a.Metadata.Name, b.Metadata.Name, d.Metadata.Name, took.Round(time.Millisecond), w)
		if w == 0 {
			t.Errorf("foreign edits were not repaired")
		}
	})

	run("stale-resourceVersion-conflict", func(t *testing.T) {
		_, before := r.writes(t)
		stale.armed.Store(true)
		var upd []cepSpec
		for _, s := range live {
			s.ip = ipOf(90000 + len(upd))
			upd = append(upd, s)
			live[s.key()] = s
			if len(upd) == 5 {
				break
			}
		}
		if err := updateCEPs(ctx, api, upd); err != nil {
			t.Fatal(err)
		}
		waitConverged(t, api, r, 60*time.Second)
		_, after := r.writes(t)
		conflicts := after["update/conflict"] - before["update/conflict"]
		t.Logf("forced %d stale update(s): %d conflict outcome(s) reported, re-planned and converged", stale.forced.Load(), conflicts)
		if stale.forced.Load() != 1 || conflicts < 1 {
			t.Errorf("want one forced stale update answered with a conflict, got forced=%d conflicts=%d", stale.forced.Load(), conflicts)
		}
	})

	run("apiserver-restart-etcd-kept", func(t *testing.T) {
		down := c.restartAPIServer(t)
		add := genCEPs(next, 100, namespaces, "ns")
		next += 100
		if err := createCEPs(ctx, api, add, nil); err != nil {
			t.Fatal(err)
		}
		for _, s := range add {
			live[s.key()] = s
		}
		took := waitConverged(t, api, r, 120*time.Second)
		if !r.running() {
			t.Fatalf("operator stopped: %v", r.exitErr)
		}
		t.Logf("API server restarted over the same etcd in %v; the same operator placed 100 new endpoints %v later", down.Round(time.Millisecond), took.Round(time.Millisecond))
	})

	run("write-failure-burst", func(t *testing.T) {
		const burst = 12
		m := r.scrape(t)
		degradedBefore, _ := metric(m, "sliceplane_operator_health_transitions_total", `state="degraded"`)
		healthyBefore, _ := metric(m, "sliceplane_operator_health_transitions_total", `state="healthy"`)
		c.proxy.injected.Store(0)
		c.proxy.failNextWrites(burst)
		var upd []cepSpec
		for _, s := range live {
			s.identity = 3000
			upd = append(upd, s)
			live[s.key()] = s
			if len(upd) == 300 {
				break
			}
		}
		if err := updateCEPs(ctx, api, upd); err != nil {
			t.Fatal(err)
		}
		took := waitConverged(t, api, r, 120*time.Second)
		m = r.scrape(t)
		degraded, _ := metric(m, "sliceplane_operator_health_transitions_total", `state="degraded"`)
		healthy, _ := metric(m, "sliceplane_operator_health_transitions_total", `state="healthy"`)
		nowDegraded, _ := metric(m, "sliceplane_degraded")
		_, by := r.writes(t)
		t.Logf("%d injected 503s: %v degraded and %v healthy transitions, converged in %v; outcomes %v", c.proxy.injected.Load(), degraded-degradedBefore, healthy-healthyBefore, took.Round(time.Millisecond), by)
		if c.proxy.injected.Load() != burst {
			t.Errorf("injected %d failures, want %d", c.proxy.injected.Load(), burst)
		}
		// Healthy before the burst and healthy now: at least one transition
		// to degraded, and as many back to healthy.
		if degraded-degradedBefore < 1 || healthy-healthyBefore != degraded-degradedBefore || nowDegraded != 0 {
			t.Errorf("want degraded then healthy, got %v degraded and %v healthy transitions, degraded now %v", degraded-degradedBefore, healthy-healthyBefore, nowDegraded)
		}
		if errs, _ := metric(m, "sliceplane_operator_api_errors_total", `reason="ServiceUnavailable"`); errs < burst {
			t.Errorf("api errors by reason ServiceUnavailable: %v, want >= %d", errs, burst)
		}
	})

	m := r.scrape(t)
	checked, _ := metric(m, "sliceplane_operator_stored_checked_total")
	pruned, _ := metric(m, "sliceplane_operator_pruned_writes_total")
	checked, pruned = checked+checkedBefore, pruned+prunedBefore
	t.Logf("CRD validation: every create/update accepted; %v stored objects compared with what was sent; %v differ (pruned)", checked, pruned)
	if pruned != 0 {
		t.Errorf("the API server changed %v written objects; operator log:\n%s", pruned, r.logTail(20))
	}
	if checked == 0 {
		t.Errorf("no write was compared with what the server stored")
	}
}

func patchEndpoints(ctx context.Context, c dynamic.Interface, name string, eps []sliceEntry) error {
	var b strings.Builder
	b.WriteString(`{"endpoints":[`)
	for i, e := range eps {
		if i > 0 {
			b.WriteByte(',')
		}
		ip := ""
		if len(e.Networking.Addressing) > 0 {
			ip = e.Networking.Addressing[0].IPv4
		}
		fmt.Fprintf(&b, `{"name":%q,"id":%d,"networking":{"addressing":[{"ipv4":%q}],"node":"192.168.0.1"},"service-account":%q}`, e.Name, e.ID, ip, e.ServiceAccount)
	}
	b.WriteString(`]}`)
	return ForeignMergePatch(ctx, c, GVRCiliumEndpointSlice, name, []byte(b.String()))
}

// TestOlderCESSchemaPrunesServiceAccount installs the CiliumEndpointSlice
// CRD of ../shared/schemas as it is (without `service-account`/`pod-uid`)
// and shows the API server pruning `service-account` from what the engine
// writes: the reason the scenarios install it with the two newer fields.
func TestOlderCESSchemaPrunesServiceAccount(t *testing.T) {
	c := newCluster(t, "/sliceplane-older-schema", false)
	r := startOperator(t, c.proxy, "op-old-schema", 0, scenarioLease)
	defer r.stop(t)
	ctx := context.Background()
	if err := createCEPs(ctx, c.client, genCEPs(0, 10, 1, "old"), nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var checked, pruned float64
	for time.Now().Before(deadline) {
		m := r.scrape(t)
		checked, _ = metric(m, "sliceplane_operator_stored_checked_total")
		pruned, _ = metric(m, "sliceplane_operator_pruned_writes_total")
		if checked > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if checked == 0 || pruned == 0 || !strings.Contains(r.log(), "service-account") || !strings.Contains(r.log(), "stored a written object differently") {
		t.Fatalf("expected the older schema to prune service-account: checked %v pruned %v\n%s", checked, pruned, r.logTail(10))
	}
	t.Logf("older CES schema: %v of %v writes pruned (service-account dropped), logged as a warning", pruned, checked)
}
