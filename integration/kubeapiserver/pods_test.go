package kubeapiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
)

var (
	gvrCiliumEndpoint      = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumendpoints"}
	gvrCiliumEndpointSlice = schema.GroupVersionResource{Group: "cilium.io", Version: "v2alpha1", Resource: "ciliumendpointslices"}
	gvrCiliumIdentity      = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumidentities"}
	gvrCiliumNode          = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnodes"}
)

// The pods scenario's cluster shape.
const (
	podNamespaces = 2
	podNodes      = 4
	podsPerNS     = 60
)

var podApps = []string{"web", "api", "db"}

func podNS(i int) string    { return fmt.Sprintf("shop-%d", i) }
func nodeName(i int) string { return fmt.Sprintf("node-%d", i) }
func nodeIP(i int) string   { return fmt.Sprintf("192.168.0.%d", 10+i) }

// createPodCluster creates the Namespaces (labelled), their ServiceAccount
// "app" (the ServiceAccount admission plugin is on), the Nodes (InternalIP
// through the status subresource) and their CiliumNodes.
func createPodCluster(t *testing.T, c *cluster) {
	t.Helper()
	ctx := context.Background()
	for i := range podNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: podNS(i), Labels: map[string]string{"team": fmt.Sprintf("t%d", i)}}}
		if _, err := c.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: podNS(i)}}
		if _, err := c.kube.CoreV1().ServiceAccounts(podNS(i)).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range podNodes {
		n, err := c.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName(i)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP(i)}}
		if _, err := c.kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cn := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cilium.io/v2", "kind": "CiliumNode",
			"metadata": map[string]any{"name": nodeName(i)},
			"spec":     map[string]any{"addresses": []any{map[string]any{"type": "InternalIP", "ip": nodeIP(i)}}},
		}}
		if _, err := c.client.Resource(gvrCiliumNode).Create(ctx, cn, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// createPod creates a running pod: spec (node, service account, a named
// port), then its status (phase, pod IP, host IP) through the status
// subresource, as the kubelet would.
func createPod(ctx context.Context, kube kubernetes.Interface, ns, name, app string, node, ipIndex int) error {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": app, "tier": "backend"}},
		Spec: corev1.PodSpec{
			NodeName:           nodeName(node),
			ServiceAccountName: "app",
			Containers: []corev1.Container{{
				Name: "main", Image: "registry.example/app:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			}},
		},
	}
	p, err := kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	ip := fmt.Sprintf("10.%d.%d.%d", 10+ipIndex>>16, (ipIndex>>8)&0xff, ipIndex&0xff)
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.HostIP = nodeIP(node)
	p.Status.HostIPs = []corev1.HostIP{{IP: nodeIP(node)}}
	_, err = kube.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

// ---- what the server holds ----

type sliceEntry struct {
	Name       string `json:"name"`
	ID         int64  `json:"id"`
	Networking struct {
		Addressing []struct {
			IPv4 string `json:"ipv4"`
		} `json:"addressing"`
		Node string `json:"node"`
	} `json:"networking"`
	ServiceAccount string `json:"service-account"`
	NamedPorts     []struct {
		Name string `json:"name"`
		Port int    `json:"port"`
	} `json:"named-ports"`
}

type sliceObj struct {
	Metadata  struct{ Name string } `json:"metadata"`
	Namespace string                `json:"namespace"`
	Endpoints []sliceEntry          `json:"endpoints"`
}

func listSlices(ctx context.Context, c *cluster) ([]sliceObj, error) {
	l, err := c.client.Resource(gvrCiliumEndpointSlice).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]sliceObj, 0, len(l.Items))
	for _, it := range l.Items {
		raw, err := it.MarshalJSON()
		if err != nil {
			return nil, err
		}
		var s sliceObj
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// identities maps each CiliumIdentity's number to its security-labels.
func identities(ctx context.Context, c *cluster) (map[int64]map[string]string, error) {
	l, err := c.client.Resource(gvrCiliumIdentity).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[int64]map[string]string{}
	for _, it := range l.Items {
		id, err := strconv.ParseInt(it.GetName(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("CiliumIdentity %q: name is not a number", it.GetName())
		}
		labels, _, _ := unstructured.NestedStringMap(it.Object, "security-labels")
		out[id] = labels
	}
	return out, nil
}

// identityProblems: the security-labels of an identity a pod's entry names
// must be the pod's: its own labels (k8s:app, k8s:tier, exactly), its
// namespace, its namespace's labels and its service account.
func identityProblems(p corev1.Pod, team string, sec map[string]string) []string {
	var probs []string
	want := map[string]string{
		"k8s:io.kubernetes.pod.namespace":                                p.Namespace,
		"k8s:io.cilium.k8s.policy.serviceaccount":                        p.Spec.ServiceAccountName,
		"k8s:io.cilium.k8s.namespace.labels.team":                        team,
		"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": p.Namespace,
	}
	for k, v := range p.Labels {
		want["k8s:"+k] = v
	}
	for k, v := range want {
		if sec[k] != v {
			probs = append(probs, fmt.Sprintf("%s=%q (want %q)", k, sec[k], v))
		}
	}
	for k := range sec {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, "k8s:") && !strings.HasPrefix(k, "k8s:io.") {
			probs = append(probs, fmt.Sprintf("%s is not a label of the pod", k))
		}
	}
	return probs
}

// podDivergence compares the slices and identities the server holds with
// its Pods: every running pod exactly once, in a slice of its namespace,
// with its IP, node IP, service account and named port, and an identity
// whose CiliumIdentity carries the pod's labels; pods with the same labels
// share one identity, different labels get different ones; no stale
// entries, no empty or oversized slices. It returns the identity of each pod.
func podDivergence(ctx context.Context, c *cluster) ([]string, map[string]int64, error) {
	pods, err := c.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	nss, err := c.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	team := map[string]string{}
	for _, ns := range nss.Items {
		team[ns.Name] = ns.Labels["team"]
	}
	ids, err := identities(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	slices, err := listSlices(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	byKey := map[string]corev1.Pod{}
	for _, p := range pods.Items {
		byKey[p.Namespace+"/"+p.Name] = p
	}
	var probs []string
	add := func(f string, a ...any) {
		if len(probs) < 8 {
			probs = append(probs, fmt.Sprintf(f, a...))
		}
	}
	seen := map[string]string{}
	idOf := map[string]int64{}
	idOfLabels := map[string]int64{} // namespace + labels -> identity
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
			p, ok := byKey[k]
			if !ok {
				add("stale entry %s in %s", k, s.Metadata.Name)
				continue
			}
			idOf[k] = e.ID
			ip := ""
			if len(e.Networking.Addressing) > 0 {
				ip = e.Networking.Addressing[0].IPv4
			}
			if ip != p.Status.PodIP || e.Networking.Node != p.Status.HostIP || e.ServiceAccount != p.Spec.ServiceAccountName ||
				len(e.NamedPorts) != 1 || e.NamedPorts[0].Name != "http" || e.NamedPorts[0].Port != 8080 {
				add("%s in %s: ip %s node %s sa %q ports %v; want ip %s node %s sa %q http:8080", k, s.Metadata.Name,
					ip, e.Networking.Node, e.ServiceAccount, e.NamedPorts, p.Status.PodIP, p.Status.HostIP, p.Spec.ServiceAccountName)
			}
			sec, ok := ids[e.ID]
			if !ok {
				add("%s: identity %d has no CiliumIdentity", k, e.ID)
				continue
			}
			if bad := identityProblems(p, team[p.Namespace], sec); len(bad) > 0 {
				add("%s: CiliumIdentity %d: %s", k, e.ID, strings.Join(bad, ", "))
			}
			lk := p.Namespace + "|" + labelsKey(p.Labels)
			if prev, ok := idOfLabels[lk]; ok && prev != e.ID {
				add("pods with the same labels %s have identities %d and %d", lk, prev, e.ID)
			}
			idOfLabels[lk] = e.ID
		}
	}
	for k, p := range byKey {
		if p.Status.PodIP == "" {
			continue
		}
		if _, ok := seen[k]; !ok {
			add("pod %s is in no slice", k)
		}
	}
	byID := map[int64]string{}
	for lk, id := range idOfLabels {
		if prev, ok := byID[id]; ok {
			add("label sets %s and %s share identity %d", prev, lk, id)
		}
		byID[id] = lk
	}
	return probs, idOf, nil
}

func labelsKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k, v := range l {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// TestPodsSource runs the operator with --source pods against the real
// kube-apiserver: Pods (status set through the status subresource, as the
// kubelet does), Namespaces, Nodes and CiliumNodes in, CiliumIdentities
// and CiliumEndpointSlices out, accepted by the server's CRD validation.
// Then a pod's labels change (new identity) and a pod is deleted (its entry
// goes). On the converged cluster, kubectl's export of the inputs and of
// what the operator wrote is fed to `sliceplane run`, which must plan zero
// writes, and the slices to `sliceplane inspect`.
func TestPodsSource(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	createPodCluster(t, c)
	r := startOperator(t, c, "pods-op", "pods", steadyLease)
	defer r.stop(t)
	r.waitSynced(t, 60*time.Second)

	started := time.Now()
	for ns := range podNamespaces {
		for i := range podsPerNS {
			idx := ns*podsPerNS + i
			name := fmt.Sprintf("%s-%02d", podApps[i%len(podApps)], i)
			if err := createPod(ctx, c.kube, podNS(ns), name, podApps[i%len(podApps)], idx%podNodes, idx+1); err != nil {
				t.Fatalf("pod %s/%s: %v", podNS(ns), name, err)
			}
		}
	}
	var idOf map[string]int64
	check := func() ([]string, error) {
		probs, ids, err := podDivergence(ctx, c)
		idOf = ids
		return probs, err
	}
	waitConverged(t, r, 120*time.Second, check)
	n, by := r.writes(t)
	ids, err := identities(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	slices, _ := listSlices(ctx, c)
	t.Logf("%d pods in %d namespaces converged in %v: %d CiliumIdentities, %d slices, %d writes %v",
		podNamespaces*podsPerNS, podNamespaces, time.Since(started).Round(time.Millisecond), len(ids), len(slices), n, by)
	if want := podNamespaces * len(podApps); len(ids) != want {
		t.Errorf("%d CiliumIdentities, want %d (one per namespace and label set)", len(ids), want)
	}
	if len(idOf) != podNamespaces*podsPerNS {
		t.Errorf("%d pods in slices, want %d", len(idOf), podNamespaces*podsPerNS)
	}

	// A label change: the pod gets a new identity (a new CiliumIdentity
	// with its new labels); its old identity keeps its other pods.
	relabel := podNS(0) + "/web-00"
	old := idOf[relabel]
	p, err := c.kube.CoreV1().Pods(podNS(0)).Get(ctx, "web-00", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels["app"] = "canary"
	if _, err := c.kube.CoreV1().Pods(podNS(0)).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, r, 60*time.Second, check)
	if idOf[relabel] == old || idOf[relabel] == 0 {
		t.Errorf("%s: identity %d after its labels changed, was %d", relabel, idOf[relabel], old)
	}
	ids, _ = identities(ctx, c)
	t.Logf("%s relabelled app=canary: identity %d -> %d (%v)", relabel, old, idOf[relabel], ids[idOf[relabel]])

	// A pod deleted: its entry goes (podDivergence reports stale entries).
	gone := podNS(1) + "/api-01"
	if _, ok := idOf[gone]; !ok {
		t.Fatalf("%s not placed before its delete", gone)
	}
	if err := c.kube.CoreV1().Pods(podNS(1)).Delete(ctx, "api-01", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, r, 60*time.Second, check)
	if _, ok := idOf[gone]; ok {
		t.Errorf("%s still in a slice after its delete", gone)
	}
	if len(idOf) != podNamespaces*podsPerNS-1 {
		t.Errorf("%d pods in slices after one delete, want %d", len(idOf), podNamespaces*podsPerNS-1)
	}

	// Real kubectl as a client: what the operator wrote is what the
	// engine would write from the same inputs.
	cfgPath := writeConfig(t, "pods")
	export := kubectl(t, c, "get", "namespaces,nodes,ciliumnodes,pods,ciliumidentities,ciliumendpointslices", "-A", "-o", "json")
	if out := sliceplane(t, export, "run", "--config", cfgPath, "-"); len(out) != 0 {
		t.Errorf("sliceplane run (pods) plans writes on the converged cluster:\n%s", out)
	}
	// The zero above is not for want of input: the same inputs without
	// what the operator wrote plan exactly what the server holds.
	ids, _ = identities(ctx, c)
	slices, _ = listSlices(ctx, c)
	inputs := kubectl(t, c, "get", "namespaces,nodes,ciliumnodes,pods", "-A", "-o", "json")
	creates := plannedCreates(t, sliceplane(t, inputs, "run", "--config", cfgPath, "-"))
	if creates["CiliumIdentity"] != len(ids) || creates["CiliumEndpointSlice"] != len(slices) {
		t.Errorf("from the inputs alone the engine plans %v; the server holds %d CiliumIdentities and %d slices", creates, len(ids), len(slices))
	}
	rep := inspect(t, kubectl(t, c, "get", "ciliumendpointslices", "-o", "json"), cfgPath)
	t.Logf("kubectl export | sliceplane run --source pods: 0 writes (inputs alone: %v); inspect: %d endpoints in %d slices", creates, rep.Endpoints, rep.Slices)
	if rep.Endpoints != podNamespaces*podsPerNS-1 || rep.Slices != len(slices) || len(rep.Duplicates) != 0 || len(rep.EmptySlices) != 0 || len(rep.WrongNamespace) != 0 {
		t.Errorf("inspect disagrees with the server: %+v", rep)
	}
}
