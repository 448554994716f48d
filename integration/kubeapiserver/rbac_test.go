package kubeapiserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// deployManifests are the files of deploy/ these tests apply.
var deployManifests = []string{"manifests/00-namespace.yaml", "manifests/10-serviceaccount.yaml", "manifests/20-rbac.yaml"}

// podsSourceManifests add the rules of --source pods (deploy/pods-source).
var podsSourceManifests = append(append([]string{}, deployManifests...), "pods-source/25-rbac-pods-source.yaml")

var manifestGVR = map[string]schema.GroupVersionResource{
	"Namespace":          {Version: "v1", Resource: "namespaces"},
	"ServiceAccount":     {Version: "v1", Resource: "serviceaccounts"},
	"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"Role":               {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"RoleBinding":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
}

// applyManifests creates every object of the given deploy/ files.
func applyManifests(t *testing.T, c *cluster, files []string) {
	t.Helper()
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(raw, []byte("\n---")) {
			obj := map[string]any{}
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(obj) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: obj}
			gvr, ok := manifestGVR[u.GetKind()]
			if !ok {
				t.Fatalf("%s: kind %s not expected here", f, u.GetKind())
			}
			res := c.client.Resource(gvr)
			var err2 error
			if ns := u.GetNamespace(); ns != "" {
				_, err2 = res.Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{})
			} else {
				_, err2 = res.Create(context.Background(), u, metav1.CreateOptions{})
			}
			if err2 != nil {
				t.Fatalf("%s: create %s %s: %v", f, u.GetKind(), u.GetName(), err2)
			}
		}
	}
}

// TestShippedRBACEnforced runs the operator (source ciliumendpoints, the
// manifests' default) as the ServiceAccount sliceplane/sliceplane-operator
// of deploy/manifests, on a kube-apiserver that enforces RBAC
// (--authorization-mode=RBAC), with a token from the TokenRequest API: with
// nothing but the shipped ClusterRole and leader-election Role it must take
// the Lease in its namespace, list and watch, create, update and delete
// slices, converge, and release the Lease on SIGTERM (exit status 0). A
// missing verb is a 403 the test sees as a lease never taken, an informer
// never synced, a write error (sliceplane_operator_api_errors_total) or a
// non-zero exit.
func TestShippedRBACEnforced(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, "--authorization-mode=RBAC")
	applyManifests(t, c, deployManifests)
	for i := range 2 {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("lf-%02d", i)}}
		if _, err := c.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sa := serviceAccountConfig(t, c)
	// The ServiceAccount may not touch what the shipped rules leave out.
	if err := listPodsAs(sa); err == nil {
		t.Fatalf("the ServiceAccount can list pods: RBAC is not enforced")
	}

	r := startOperatorAs(t, writeKubeconfig(t, sa), "sliceplane", "rbac-op", "ciliumendpoints", steadyLease)
	lease, err := c.kube.CoordinationV1().Leases("sliceplane").Get(ctx, "sliceplane-operator", metav1.GetOptions{})
	for deadline := time.Now().Add(30 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		lease, err = c.kube.CoordinationV1().Leases("sliceplane").Get(ctx, "sliceplane-operator", metav1.GetOptions{})
	}
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "rbac-op" {
		t.Fatalf("the operator did not take the Lease sliceplane/sliceplane-operator: %v\n%s", err, r.logTail(20))
	}
	r.waitSynced(t, 60*time.Second)
	check := func() ([]string, error) { return cepDivergence(ctx, c) }
	ceps := genCEPs(0, 240, 2)
	if err := createCEPs(ctx, c, ceps); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, r, 60*time.Second, check)
	// Empty one namespace: its slices are deleted.
	for _, s := range ceps {
		if s.ns == "lf-01" {
			if err := c.client.Resource(gvrCiliumEndpoint).Namespace(s.ns).Delete(ctx, s.name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitConverged(t, r, 60*time.Second, check)
	n, by := r.writes(t)
	errs, _ := metric(r.scrape(t), "sliceplane_operator_api_errors_total")
	t.Logf("operator as ServiceAccount sliceplane/sliceplane-operator under the shipped RBAC: converged with %d writes %v, %v API errors", n, by, errs)
	if by["create/success"] == 0 || by["update/success"] == 0 || by["delete/success"] == 0 {
		t.Errorf("want creates, updates and deletes all accepted, got %v", by)
	}
	if errs != 0 || len(by) != 3 {
		t.Errorf("API errors %v, write outcomes %v: the shipped RBAC refused something", errs, by)
	}
	r.stop(t) // SIGTERM: releases the Lease (get + update on it)
	lease, err = c.kube.CoordinationV1().Leases("sliceplane").Get(ctx, "sliceplane-operator", metav1.GetOptions{})
	if err != nil || (lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "") {
		t.Errorf("the Lease was not released on SIGTERM: %v %v", err, lease.Spec.HolderIdentity)
	}
}

// serviceAccountConfig is the cluster's client config with a token of the
// ServiceAccount sliceplane/sliceplane-operator (TokenRequest API).
func serviceAccountConfig(t *testing.T, c *cluster) *rest.Config {
	t.Helper()
	expiry := int64(3600)
	tok, err := c.kube.CoreV1().ServiceAccounts("sliceplane").CreateToken(context.Background(), "sliceplane-operator",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa := rest.CopyConfig(c.config)
	sa.BearerToken = tok.Status.Token
	return sa
}

// TestShippedPodsSourceRBACEnforced runs the operator with --source pods as
// the ServiceAccount, on a server enforcing RBAC, with deploy/manifests plus
// deploy/pods-source and nothing else: it must list and watch Pods,
// Namespaces, Nodes, CiliumNodes and CiliumIdentities, create the
// identities it allocates and delete the ones no pod uses any more (a pod
// relabelled away from a label set only it had), and write slices, with no
// API error. Without deploy/pods-source the same ServiceAccount cannot list
// pods (checked first), so each rule there is exercised.
func TestShippedPodsSourceRBACEnforced(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, "--authorization-mode=RBAC")
	applyManifests(t, c, deployManifests)
	createPodCluster(t, c)
	sa := serviceAccountConfig(t, c)
	if err := listPodsAs(sa); err == nil {
		t.Fatalf("the ServiceAccount can list pods with deploy/manifests alone: RBAC is not enforced")
	}
	applyManifests(t, c, podsSourceManifests[len(deployManifests):])
	deadline := time.Now().Add(10 * time.Second)
	for listPodsAs(sa) != nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if err := listPodsAs(sa); err != nil {
		t.Fatalf("deploy/pods-source applied, the ServiceAccount still cannot list pods: %v", err)
	}
	r := startOperatorAs(t, writeKubeconfig(t, sa), "sliceplane", "rbac-pods-op", "pods", steadyLease)
	defer r.stop(t)
	r.waitSynced(t, 60*time.Second)
	for ns := range podNamespaces {
		for i := range podsPerNS {
			idx := ns*podsPerNS + i
			name := fmt.Sprintf("%s-%02d", podApps[i%len(podApps)], i)
			if err := createPod(ctx, c.kube, podNS(ns), name, podApps[i%len(podApps)], idx%podNodes, idx+1); err != nil {
				t.Fatalf("pod %s/%s: %v", podNS(ns), name, err)
			}
		}
	}
	check := func() ([]string, error) {
		probs, _, err := podDivergence(ctx, c)
		return probs, err
	}
	waitConverged(t, r, 120*time.Second, check)
	before, err := identities(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// Every pod of one label set in one namespace moves to another set: its
	// identity is no longer used and is deleted (after the engine's
	// identity GC), a write the base rules do not grant.
	pods, err := c.kube.CoreV1().Pods(podNS(0)).List(ctx, metav1.ListOptions{LabelSelector: "app=" + podApps[0]})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods app=%s in %s: %d, %v", podApps[0], podNS(0), len(pods.Items), err)
	}
	for _, p := range pods.Items {
		p.Labels["app"] = podApps[1]
		if _, err := c.kube.CoreV1().Pods(podNS(0)).Update(ctx, &p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, r, 60*time.Second, check)
	var after map[int64]map[string]string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if after, err = identities(ctx, c); err == nil && len(after) == len(before)-1 {
			break
		}
	}
	n, by := r.writes(t)
	errs, _ := metric(r.scrape(t), "sliceplane_operator_api_errors_total")
	t.Logf("pods source as the ServiceAccount under deploy/manifests + deploy/pods-source: %d identities, then %d after a label set emptied; %d writes %v, %v API errors",
		len(before), len(after), n, by, errs)
	if len(after) != len(before)-1 {
		t.Errorf("%d CiliumIdentities after a label set emptied, want %d (the unused one deleted)", len(after), len(before)-1)
	}
	if errs != 0 {
		t.Errorf("%v API errors: the shipped pods-source RBAC refused something (writes %v)", errs, by)
	}
}

// listPodsAs lists all pods with cfg's identity; an error when refused.
func listPodsAs(cfg *rest.Config) error {
	cl, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	resp, err := cl.Get(cfg.Host + "/api/v1/pods")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}
