package integration

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
	"k8s.io/apiextensions-apiserver/test/integration/fixtures"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"
)

// etcdServer is an embedded single-member etcd bound to 127.0.0.1.
type etcdServer struct {
	e   *embed.Etcd
	url string
}

func freeLoopbackPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startEtcd(t testing.TB) *etcdServer {
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
	return &etcdServer{e: e, url: client.String()}
}

// apiServer is the apiextensions API server (k8s.io/apiextensions-apiserver's
// test server) over the embedded etcd, listening on 127.0.0.1.
type apiServer struct {
	stop   func()
	config *rest.Config
}

func startAPIServer(t testing.TB, etcdURL, prefix string) *apiServer {
	t.Helper()
	os.Setenv("KUBE_INTEGRATION_ETCD_URL", etcdURL)
	stop, cfg, _, err := fixtures.StartDefaultServer(t, "--etcd-prefix", prefix, "--bind-address", "127.0.0.1")
	if err != nil {
		t.Fatalf("apiextensions API server: %v", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 5000, 5000
	return &apiServer{stop: stop, config: cfg}
}

// loadCRD reads one CRD file of ../shared/schemas (the file may hold a
// leading comment and a `---`).
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
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
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

// TestMain keeps the API server's klog output out of the test log unless
// SLICEPLANE_KLOG is set.
//
// It also finds the operator binary under test: SLICEPLANE_OPERATOR_BIN
// (integration/test.sh builds it with operator/build.sh, the script the
// Dockerfile runs), or else it builds ../operator/cmd/sliceplane-operator.
func TestMain(m *testing.M) {
	if os.Getenv("SLICEPLANE_KLOG") == "" {
		klog.LogToStderr(false)
		klog.SetOutput(io.Discard)
		klog.SetLogger(logr.Discard())
	}
	operatorBinary = os.Getenv("SLICEPLANE_OPERATOR_BIN")
	if operatorBinary == "" {
		dir, err := os.MkdirTemp("", "sliceplane-operator-")
		if err != nil {
			panic(err)
		}
		operatorBinary = filepath.Join(dir, "sliceplane-operator")
		build := exec.Command("go", "build", "-o", operatorBinary, "./cmd/sliceplane-operator")
		build.Dir = filepath.Join("..", "operator")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the operator:", err)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}
