#!/usr/bin/env bash
# sliceplane-operator and deploy/: gofmt, go vet, go test -race (flags and
# config validation, admin endpoints, readiness, the lease check before every
# flush, the manifests decoded strictly into k8s.io/api types), and the
# alerting rules' unit tests with promtool (Debian's `prometheus` package,
# installed with apt-get when promtool is missing: about 25 s).
# The operator against a real API server runs in integration/test.sh.
#   bash operator/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

echo "==> cargo build -p sliceplane-c --release --locked"
cargo build -p sliceplane-c --release --locked

cd "$root/operator"
export CGO_ENABLED=1
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
echo "==> go vet (operator)"
go vet ./...
echo "==> go test -race (operator, deploy manifests)"
go test -race -count=1 ./...

echo "==> promtool check rules / test rules (deploy/prometheus)"
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool missing: apt-get install prometheus (Debian's package ships promtool)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
cd "$root/deploy/prometheus"
promtool check rules sliceplane-operator-rules.yaml
promtool test rules sliceplane-operator-rules.test.yaml
echo "operator: all checks passed"
