#!/usr/bin/env bash
# PRD NFR1, measured the way it is meant (issue 16): the shipped operator on a
# 5,000-endpoint cluster (500 node IPs) under endpoint changes paced at 10,
# 50, 100, 200 and 500 per second, sync delay 0 and the default 500 ms, the
# Helm rate-limit step of a 500-node cluster; every change decomposed with
# the operator's own --trace-propagation timestamps; a control client's
# creates with and without the operator. 8–10 minutes.
#   bash integration/nfr1.sh [OUTPUT_DIR]     default ./nfr1-out
# Writes OUTPUT_DIR/nfr1.json (every figure), nfr1.md (the table), nfr1.svg
# (latency percentile vs change rate, ours and end to end) and nfr1.log.
# SLICEPLANE_NFR1_SECONDS (default 20) sets the seconds of changes per rate
# (at most 5,000 changes per rate). SLICEPLANE_SKIP_CARGO=1 uses the
# libsliceplane.a already built (as operator/build.sh does).
set -euo pipefail
out="${1:-nfr1-out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$(dirname "$0")/.."
root="$PWD"

if [ "${SLICEPLANE_SKIP_CARGO:-0}" != "1" ]; then
  echo "==> cargo build -p sliceplane-c --release --locked"
  cargo build -p sliceplane-c --release --locked
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "==> operator/build.sh (static sliceplane-operator)"
SLICEPLANE_SKIP_CARGO=1 bash "$root/operator/build.sh" "$tmp/sliceplane-operator"

cd "$root/integration"
echo "==> go test -run TestNFR1 (load before: $(cat /proc/loadavg))"
set +e
SLICEPLANE_OPERATOR_BIN="$tmp/sliceplane-operator" SLICEPLANE_NFR1=1 SLICEPLANE_NFR1_OUT="$out" CGO_ENABLED=1 \
  go test -count=1 -timeout 30m -run '^TestNFR1$' -v . >"$out/nfr1.log" 2>&1
rc=$?
set -e
grep -E '^\s+nfr1(_ceiling)?_test\.go:[0-9]+:|^(--- |ok |FAIL|PASS)' "$out/nfr1.log" | cut -c1-400 || true
if [ -f "$out/nfr1.md" ]; then cat "$out/nfr1.md"; fi
echo "nfr1: results in $out (nfr1.json, nfr1.md, nfr1.svg, nfr1.log); load after: $(cat /proc/loadavg)"
exit "$rc"
