#!/usr/bin/env bash
# Opt-in integration stage: the shipped sliceplane-operator binary, the
# sliceplane CLI and a real kubectl against a real kube-apiserver started
# in-process (k8s.io/kubernetes v1.37.2 cmd/kube-apiserver/app/testing,
# embedded etcd, all on 127.0.0.1). Not in CI: a cold compile of
# k8s.io/kubernetes takes about 27 min on 2 cores (see README.md).
#   bash integration/kubeapiserver/test.sh
#   SLICEPLANE_KUBE_APISERVER=1 bash integration/test.sh   (after the main stage)
# Downloads nothing but Go modules (pinned in go.sum).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
t0=$(date +%s)
step() { echo "==> [$(($(date +%s) - t0)) s] $*"; }

if [ ! -d "$root/../shared/schemas/cilium-v1.20" ]; then
  echo "kubeapiserver: ../shared/schemas/cilium-v1.20 not found next to the repository" >&2
  exit 1
fi
step "cargo build -p sliceplane-c -p sliceplane-cli --release --locked"
cargo build -p sliceplane-c -p sliceplane-cli --release --locked
export SLICEPLANE_CLI_BIN="$root/target/release/sliceplane"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
step "operator/build.sh (static sliceplane-operator)"
SLICEPLANE_SKIP_CARGO=1 bash "$root/operator/build.sh" "$tmp/sliceplane-operator"
export SLICEPLANE_OPERATOR_BIN="$tmp/sliceplane-operator"

cd "$root/integration/kubeapiserver"
export CGO_ENABLED=1
step "go build k8s.io/kubernetes/cmd/kubectl (v1.37.2, this module)"
v=v1.37.2 # k8s.io/kubernetes in go.mod
go build -ldflags "-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitVersion=$v" \
  -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl
export KUBECTL_BIN="$tmp/kubectl"
"$KUBECTL_BIN" version --client

unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
step "go vet (kubeapiserver)"
go vet ./...
step "go test -c (kubeapiserver)"
go test -c -o "$tmp/kubeapiserver.test" .
step "tests against the real kube-apiserver"
set +e
log="$tmp/go-test.log"
"$tmp/kubeapiserver.test" -test.count=1 -test.timeout=20m -test.v 2>&1 | tee "$log" |
  grep -E '^(=== RUN|--- |\s+\S+_test\.go:[0-9]+:|PASS|FAIL|ok |panic)'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" != 0 ]; then echo "==> test log (tail)"; tail -n 150 "$log"; fi
step "done (exit $rc)"
exit "$rc"
