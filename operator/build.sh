#!/usr/bin/env bash
# Builds sliceplane-operator as one static binary: libsliceplane.a linked
# statically (bindings-go/link_static.go), Go's resolver and user lookup in
# pure Go (netgo, osusergo), and the external linker asked for -static, so
# the binary needs no libc at run time (it runs on distroless/static).
#   bash operator/build.sh [OUTPUT]     default operator/bin/sliceplane-operator
# The Dockerfile runs this same script.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="${1:-$root/operator/bin/sliceplane-operator}"
case "$out" in /*) ;; *) out="$root/$out" ;; esac

if [ "${SLICEPLANE_SKIP_CARGO:-0}" != "1" ]; then
  echo "==> cargo build -p sliceplane-c --release --locked"
  cargo build -p sliceplane-c --release --locked
fi
cd "$root/operator"
echo "==> go build (static) -> $out"
CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo \
  -ldflags "-s -w -linkmode external -extldflags -static" \
  -o "$out" ./cmd/sliceplane-operator
if command -v file >/dev/null 2>&1; then file "$out"; fi
