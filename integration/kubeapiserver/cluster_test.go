// Package kubeapiserver runs the shipped sliceplane-operator binary, the
// sliceplane CLI and a real kubectl against a real kube-apiserver started
// in-process (k8s.io/kubernetes/cmd/kube-apiserver/app/testing) over an
// embedded etcd, everything on 127.0.0.1. See README.md.
package kubeapiserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	kastesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"sigs.k8s.io/yaml"
)

// The binaries under test, found by TestMain.
var (
	operatorBinary string // sliceplane-operator (operator/build.sh)
	cliBinary      string // sliceplane (cargo build --release -p sliceplane-cli)
	kubectlBinary  string // kubectl built from k8s.io/kubernetes/cmd/kubectl of this module
)

// schemaDir holds the Cilium v1.20.2 CRDs, unchanged.
const schemaDir = "../../../shared/schemas/cilium-v1.20"

// TestMain keeps the API server's klog output out of the test log unless
// SLICEPLANE_KLOG is set, and finds the binaries under test:
// SLICEPLANE_OPERATOR_BIN, SLICEPLANE_CLI_BIN and KUBECTL_BIN (test.sh
// builds all three), or else builds each of them here.
func TestMain(m *testing.M) {
	if os.Getenv("SLICEPLANE_KLOG") == "" {
		klog.LogToStderr(false)
		klog.SetOutput(io.Discard)
		klog.SetLogger(logr.Discard())
	}
	dir, err := os.MkdirTemp("", "sliceplane-kas-bin-")
	if err != nil {
		panic(err)
	}
	build := func(env, out string, cmd *exec.Cmd) string {
		if bin := os.Getenv(env); bin != "" {
			return bin
		}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s (%s unset): %v\n", out, env, err)
			os.Exit(1)
		}
		return out
	}
	op := exec.Command("go", "build", "-o", filepath.Join(dir, "sliceplane-operator"), "./cmd/sliceplane-operator")
	op.Dir = filepath.Join("..", "..", "operator")
	operatorBinary = build("SLICEPLANE_OPERATOR_BIN", filepath.Join(dir, "sliceplane-operator"), op)
	cli := exec.Command("cargo", "build", "--release", "-p", "sliceplane-cli", "--locked", "--quiet")
	cli.Dir = filepath.Join("..", "..")
	cliBinary = build("SLICEPLANE_CLI_BIN", filepath.Join("..", "..", "target", "release", "sliceplane"), cli)
	kubectlBinary = build("KUBECTL_BIN", filepath.Join(dir, "kubectl"),
		exec.Command("go", "build", "-o", filepath.Join(dir, "kubectl"), "k8s.io/kubernetes/cmd/kubectl"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeLoopbackPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcd starts an embedded single-member etcd on 127.0.0.1 and returns
// its client URL; it stops when t ends.
func startEtcd(t testing.TB) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.UnsafeNoFsync = true
	client := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.Dir = filepath.Join(t.TempDir(), "etcd")
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		t.Fatal("etcd did not start within 60 s")
	}
	t.Cleanup(e.Close)
	return client.String()
}

// cluster is a real kube-apiserver (the test server of
// k8s.io/kubernetes v1.37.2) over an embedded etcd, with the Cilium CRDs
// installed and Established.
type cluster struct {
	config     *rest.Config
	kubeconfig string // a kubeconfig file for the operator and kubectl
	client     dynamic.Interface
	kube       kubernetes.Interface
}

// newCluster starts etcd and the kube-apiserver (secure port on a free
// loopback port, plus flags) and installs the CRDs; both stop when t ends.
func newCluster(t *testing.T, flags ...string) *cluster {
	t.Helper()
	started := time.Now()
	etcdURL := startEtcd(t)
	storage := storagebackend.NewDefaultConfig("/registry", nil)
	storage.Transport.ServerList = []string{etcdURL}
	server := kastesting.StartTestServerOrDie(t, nil, append([]string{"--bind-address=127.0.0.1"}, flags...), storage)
	t.Cleanup(server.TearDownFn)
	cfg := rest.CopyConfig(server.ClientConfig)
	cfg.QPS, cfg.Burst = 5000, 5000
	c := &cluster{config: cfg, kubeconfig: writeKubeconfig(t, cfg)}
	var err error
	if c.client, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if c.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range []string{"ciliumendpoints.yaml", "ciliumendpointslices.yaml", "ciliumidentities.yaml", "ciliumnodes.yaml"} {
		crds = append(crds, loadCRD(t, filepath.Join(schemaDir, f)))
	}
	installCRDs(t, cfg, crds)
	t.Logf("kube-apiserver %s up with the Cilium CRDs Established in %v", cfg.Host, time.Since(started).Round(time.Millisecond))
	return c
}

// writeKubeconfig writes the test server's loopback client config (its
// host, serving CA, TLS server name and bearer token) as a kubeconfig file.
func writeKubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.TLSClientConfig.CAData,
		TLSServerName:            cfg.TLSClientConfig.ServerName,
	}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadCRD reads one CRD file (the file may hold a leading comment and a `---`).
func loadCRD(t testing.TB, path string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(raw, crd); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return crd
}

func installCRDs(t testing.TB, cfg *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	cs, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, crd := range crds {
		_, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd.DeepCopy(), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create CRD %s: %v", crd.Name, err)
		}
	}
	for _, crd := range crds {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established: %v", crd.Name, err)
		}
	}
}
