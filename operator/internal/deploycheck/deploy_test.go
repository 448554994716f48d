// Package deploycheck holds the tests of ../deploy: every manifest decodes
// strictly into its k8s.io/api type, and what it says agrees with the
// operator (flags that exist, a config the engine accepts, RBAC without
// wildcards, a Deployment that is safe to run).
package deploycheck

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"sliceplane.example/operator/internal/controller"
	"sliceplane.example/operator/internal/options"
	"sliceplane.example/sliceplane"
)

var manifestDir = filepath.Join("..", "..", "..", "deploy", "manifests")

// podsSourceDir holds the extra rules of --source pods.
var podsSourceDir = filepath.Join("..", "..", "..", "deploy", "pods-source")

type objects struct {
	namespaces      []corev1.Namespace
	serviceAccounts []corev1.ServiceAccount
	clusterRoles    []rbacv1.ClusterRole
	clusterBindings []rbacv1.ClusterRoleBinding
	roles           []rbacv1.Role
	roleBindings    []rbacv1.RoleBinding
	configMaps      []corev1.ConfigMap
	deployments     []appsv1.Deployment
}

func strict[T any](t *testing.T, where string, doc []byte) T {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return v
}

// load strictly decodes every document of every manifest.
func load(t *testing.T) objects {
	t.Helper()
	return loadDir(t, manifestDir)
}

// loadDir strictly decodes every document of every manifest in dir.
func loadDir(t *testing.T, dir string) objects {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	var o objects
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(raw), "\n---\n") {
			where := filepath.Base(f) + " document " + strconv.Itoa(i)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			b := []byte(doc)
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 Namespace":
				o.namespaces = append(o.namespaces, strict[corev1.Namespace](t, where, b))
			case "v1 ServiceAccount":
				o.serviceAccounts = append(o.serviceAccounts, strict[corev1.ServiceAccount](t, where, b))
			case "rbac.authorization.k8s.io/v1 ClusterRole":
				o.clusterRoles = append(o.clusterRoles, strict[rbacv1.ClusterRole](t, where, b))
			case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
				o.clusterBindings = append(o.clusterBindings, strict[rbacv1.ClusterRoleBinding](t, where, b))
			case "rbac.authorization.k8s.io/v1 Role":
				o.roles = append(o.roles, strict[rbacv1.Role](t, where, b))
			case "rbac.authorization.k8s.io/v1 RoleBinding":
				o.roleBindings = append(o.roleBindings, strict[rbacv1.RoleBinding](t, where, b))
			case "v1 ConfigMap":
				o.configMaps = append(o.configMaps, strict[corev1.ConfigMap](t, where, b))
			case "apps/v1 Deployment":
				o.deployments = append(o.deployments, strict[appsv1.Deployment](t, where, b))
			default:
				t.Fatalf("%s: unexpected %q", where, tm.APIVersion+" "+tm.Kind)
			}
		}
	}
	return o
}

func TestManifestsDecodeStrictly(t *testing.T) {
	o := load(t)
	if len(o.namespaces) != 1 || len(o.serviceAccounts) != 1 || len(o.clusterRoles) != 1 || len(o.clusterBindings) != 1 ||
		len(o.roles) != 1 || len(o.roleBindings) != 1 || len(o.configMaps) != 1 || len(o.deployments) != 1 {
		t.Fatalf("want one of each object, got %d namespaces, %d service accounts, %d cluster roles, %d bindings, %d roles, %d role bindings, %d config maps, %d deployments",
			len(o.namespaces), len(o.serviceAccounts), len(o.clusterRoles), len(o.clusterBindings), len(o.roles), len(o.roleBindings), len(o.configMaps), len(o.deployments))
	}
	ns := o.namespaces[0].Name
	for what, got := range map[string]string{
		"ServiceAccount": o.serviceAccounts[0].Namespace, "Role": o.roles[0].Namespace,
		"RoleBinding": o.roleBindings[0].Namespace, "ConfigMap": o.configMaps[0].Namespace, "Deployment": o.deployments[0].Namespace,
	} {
		if got != ns {
			t.Errorf("%s in namespace %q, want %q", what, got, ns)
		}
	}
	sa := o.serviceAccounts[0].Name
	for _, b := range []struct {
		what     string
		subjects []rbacv1.Subject
		ref      rbacv1.RoleRef
		wantRef  string
	}{
		{"ClusterRoleBinding", o.clusterBindings[0].Subjects, o.clusterBindings[0].RoleRef, "ClusterRole/" + o.clusterRoles[0].Name},
		{"RoleBinding", o.roleBindings[0].Subjects, o.roleBindings[0].RoleRef, "Role/" + o.roles[0].Name},
	} {
		if len(b.subjects) != 1 || b.subjects[0].Kind != "ServiceAccount" || b.subjects[0].Name != sa || b.subjects[0].Namespace != ns {
			t.Errorf("%s subjects %+v, want the ServiceAccount %s/%s", b.what, b.subjects, ns, sa)
		}
		if b.ref.Kind+"/"+b.ref.Name != b.wantRef {
			t.Errorf("%s refers to %s/%s, want %s", b.what, b.ref.Kind, b.ref.Name, b.wantRef)
		}
	}
}

// TestRBACLeastPrivilege: no wildcard, and exactly the verbs the operator's
// watches and writes need (integration/leader_test.go checks the same rules
// against every request of a real run).
func TestRBACLeastPrivilege(t *testing.T) {
	o := load(t)
	var got []string
	rules := append(append([]rbacv1.PolicyRule{}, o.clusterRoles[0].Rules...), o.roles[0].Rules...)
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("non-resource rule %+v", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if g == "*" || res == "*" || v == "*" {
						t.Errorf("wildcard in %+v", r)
					}
					got = append(got, v+" "+g+"/"+res)
				}
			}
		}
	}
	sort.Strings(got)
	want := []string{
		"create cilium.io/ciliumendpointslices", "create coordination.k8s.io/leases",
		"delete cilium.io/ciliumendpointslices",
		"get coordination.k8s.io/leases",
		"list cilium.io/ciliumendpoints", "list cilium.io/ciliumendpointslices", "list cilium.io/ciliumnodes",
		"update cilium.io/ciliumendpointslices", "update coordination.k8s.io/leases",
		"watch cilium.io/ciliumendpoints", "watch cilium.io/ciliumendpointslices", "watch cilium.io/ciliumnodes",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("granted:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// list and watch are granted on exactly what the operator watches with
	// the default source (controller.WatchedResources).
	watched, err := controller.WatchedResources("ciliumendpoints")
	if err != nil {
		t.Fatal(err)
	}
	var watchedVerbs, grantedListWatch []string
	for _, gvr := range watched {
		watchedVerbs = append(watchedVerbs, "list "+gvr.Group+"/"+gvr.Resource, "watch "+gvr.Group+"/"+gvr.Resource)
	}
	for _, g := range got {
		if strings.HasPrefix(g, "list ") || strings.HasPrefix(g, "watch ") {
			grantedListWatch = append(grantedListWatch, g)
		}
	}
	sort.Strings(watchedVerbs)
	if strings.Join(grantedListWatch, "\n") != strings.Join(watchedVerbs, "\n") {
		t.Errorf("list/watch granted:\n  %s\nWatchedResources(\"ciliumendpoints\") needs:\n  %s", strings.Join(grantedListWatch, "\n  "), strings.Join(watchedVerbs, "\n  "))
	}
	for _, r := range o.roles[0].Rules {
		for _, v := range r.Verbs {
			if (v == "get" || v == "update") && (len(r.ResourceNames) != 1 || r.ResourceNames[0] != "sliceplane-operator") {
				t.Errorf("lease %s not limited to the operator's Lease: %+v", v, r)
			}
		}
	}
}

// grants lists "verb group/resource" for every rule, failing on wildcards
// and non-resource rules.
func grants(t *testing.T, rules []rbacv1.PolicyRule) []string {
	t.Helper()
	var got []string
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
			t.Errorf("non-resource or named rule %+v", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if g == "*" || res == "*" || v == "*" {
						t.Errorf("wildcard in %+v", r)
					}
					got = append(got, v+" "+g+"/"+res)
				}
			}
		}
	}
	sort.Strings(got)
	return got
}

// TestPodsSourceRBAC: deploy/pods-source adds exactly what --source pods
// needs beyond deploy/manifests: list/watch on every resource
// WatchedResources("pods") names that the base role does not grant, and
// create/delete on ciliumidentities (the engine's CreateIdentity and
// DeleteIdentity writes), bound to the same ServiceAccount.
func TestPodsSourceRBAC(t *testing.T) {
	base, extra := load(t), loadDir(t, podsSourceDir)
	if len(extra.clusterRoles) != 1 || len(extra.clusterBindings) != 1 || len(extra.roles)+len(extra.roleBindings)+len(extra.deployments)+len(extra.configMaps) != 0 {
		t.Fatalf("deploy/pods-source: want one ClusterRole and its binding, got %+v", extra)
	}
	granted := map[string]bool{}
	for _, g := range grants(t, base.clusterRoles[0].Rules) {
		granted[g] = true
	}
	got := grants(t, extra.clusterRoles[0].Rules)
	for _, g := range got {
		if granted[g] {
			t.Errorf("%s is already granted by deploy/manifests", g)
		}
	}
	watched, err := controller.WatchedResources("pods")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"create cilium.io/ciliumidentities", "delete cilium.io/ciliumidentities"}
	for _, gvr := range watched {
		for _, v := range []string{"list", "watch"} {
			if g := v + " " + gvr.Group + "/" + gvr.Resource; !granted[g] {
				want = append(want, g)
			}
		}
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("deploy/pods-source grants:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	b := extra.clusterBindings[0]
	if b.RoleRef.Name != extra.clusterRoles[0].Name || b.RoleRef.Kind != "ClusterRole" || len(b.Subjects) != 1 ||
		b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != base.serviceAccounts[0].Name || b.Subjects[0].Namespace != base.serviceAccounts[0].Namespace {
		t.Errorf("binding %+v does not bind %s to the operator's ServiceAccount", b, extra.clusterRoles[0].Name)
	}
}

// TestDeploymentAgreesWithOperator: 2 replicas, probes on the admin
// endpoints, resources, a non-root read-only security context, flags the
// operator accepts, and the ConfigMap's config accepted by the engine.
func TestDeploymentAgreesWithOperator(t *testing.T) {
	o := load(t)
	d := o.deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != o.serviceAccounts[0].Name {
		t.Errorf("service account %q", pod.ServiceAccountName)
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want non-root", psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context %+v: want read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v: want GET /healthz", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v: want GET /readyz", c.ReadinessProbe)
	}
	if len(c.Command) != 0 {
		t.Errorf("command %v overrides the image's entrypoint", c.Command)
	}

	// The operator accepts the args; the admin address is reachable from
	// the kubelet (not loopback) on the probed port; the config file is the
	// mounted ConfigMap.
	opts, err := options.Parse(c.Args, io.Discard)
	if err != nil {
		t.Fatalf("the operator refuses the Deployment's args %v: %v", c.Args, err)
	}
	if !opts.LeaderElect {
		t.Errorf("leader election off with 2 replicas")
	}
	if !strings.HasPrefix(opts.AdminAddress, ":") || len(c.Ports) != 1 || ":"+strconv.Itoa(int(c.Ports[0].ContainerPort)) != opts.AdminAddress ||
		c.LivenessProbe.HTTPGet.Port.StrVal != c.Ports[0].Name || c.ReadinessProbe.HTTPGet.Port.StrVal != c.Ports[0].Name {
		t.Errorf("admin address %q, ports %+v: probes must reach the admin server", opts.AdminAddress, c.Ports)
	}
	if d.Spec.Template.Spec.TerminationGracePeriodSeconds == nil || float64(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) <= opts.Shutdown.Seconds()+opts.Lease.RenewDeadline.Seconds() {
		t.Errorf("terminationGracePeriodSeconds must exceed the shutdown grace plus the lease release")
	}
	var mountPath, volume string
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(opts.ConfigPath, m.MountPath+"/") {
			mountPath, volume = m.MountPath, m.Name
		}
	}
	cmName := ""
	for _, v := range pod.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	cm := o.configMaps[0]
	key := strings.TrimPrefix(opts.ConfigPath, mountPath+"/")
	text, ok := cm.Data[key]
	if cmName != cm.Name || !ok {
		t.Fatalf("--config %s is not the ConfigMap %s key (mounted %q from %q)", opts.ConfigPath, cm.Name, mountPath, cmName)
	}
	cfg, err := sliceplane.NewConfigFromYAML([]byte(text))
	if err != nil {
		t.Fatalf("the engine refuses the ConfigMap's config: %v", err)
	}
	cfg.Close()
}

// TestDashboardIsGrafanaJSON: the dashboard parses, has a unique uid and
// every panel queries the templated Prometheus data source.
func TestDashboardIsGrafanaJSON(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "grafana", "sliceplane-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID         int    `json:"id"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || len(d.Panels) < 8 {
		t.Fatalf("uid %q, %d panels", d.UID, len(d.Panels))
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: duplicate id, data source %q or no query", p.ID, p.Title, p.Datasource.UID)
		}
		ids[p.ID] = true
		for _, tg := range p.Targets {
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || tg.Expr == "" {
				t.Errorf("panel %q: bad expression %q", p.Title, tg.Expr)
			}
		}
	}
}
