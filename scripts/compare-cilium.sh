#!/usr/bin/env bash
# Cilium's CES manager against sliceplane on the same workload, back to back on
# this machine, with the ratios (issue 15).
#
# Cilium's side: ../shared/tools/cilium-bench/run.sh (Cilium v1.20.2's real
# operator/pkg/ciliumendpointslice: newDefaultManager(100), UpdateCEPMapping /
# RemoveCEPMapping, reconcileCES over in-memory stores; medians of CES_REPS runs).
# sliceplane's side: `cargo bench -p sliceplane-workload --bench cilium_workload`
# (benches/benches/cilium_workload.rs: the same endpoints as typed CiliumEndpoint
# events; criterion medians, read from target/criterion/cilium_workload/<figure>/<N>/
# new/estimates.json, and the heap line the bench prints to stderr).
#
#   bash scripts/compare-cilium.sh                       # N = 5,000, 100,000, 300,000; 3 reps
#   N=5000 CES_REPS=1 bash scripts/compare-cilium.sh     # a quick check
#   CILIUM_LOG=/tmp/c.log bash scripts/compare-cilium.sh # reuse a finished Cilium run's output
#
# Environment:
#   N                   comma-separated endpoint counts (each a multiple of 100)
#   CES_REPS            repetitions on Cilium's side (median taken); default 3
#   CILIUM_BENCH_DIR    where run.sh keeps its copy of Cilium (default: a new temp dir;
#                       point it at a kept folder to skip the copy next time)
#   CILIUM_LOG          a file holding an earlier run.sh output for these N: not rerun
#   SLICEPLANE_BENCH_ARGS extra criterion arguments (e.g. "--measurement-time 3")
#   OUT                 folder for both raw outputs (default: a new temp dir)
#
# Prints one table per N: Cilium's figure, sliceplane's, and Cilium / sliceplane
# (above 1: sliceplane is faster or smaller), plus the load average of each run.
# The first Cilium build downloads and compiles Cilium's operator package (minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
ns="${N:-5000,100000,300000}"
reps="${CES_REPS:-3}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
cilium_log="$out/cilium.log"
sp_log="$out/sliceplane.log"

if [ -n "${CILIUM_LOG:-}" ]; then
  cp "$CILIUM_LOG" "$cilium_log"
  echo "cilium: reusing $CILIUM_LOG"
else
  echo "cilium: N=$ns reps=$reps (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
  CES_N="$ns" CES_REPS="$reps" CES_RECONCILE=1 \
    bash "$root/../shared/tools/cilium-bench/run.sh" > "$cilium_log" 2>&1 || {
      tail -30 "$cilium_log" >&2
      echo "cilium side failed; full output in $cilium_log" >&2
      exit 1
    }
fi

target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
marker="$out/sliceplane.start"
touch "$marker"
echo "sliceplane: N=$ns (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
# shellcheck disable=SC2086
SLICEPLANE_CILIUM_N="$ns" cargo bench -p sliceplane-workload --bench cilium_workload --locked \
  -- ${SLICEPLANE_BENCH_ARGS:-} > "$sp_log" 2>&1 || {
    tail -30 "$sp_log" >&2
    echo "sliceplane side failed; full output in $sp_log" >&2
    exit 1
  }
echo "sliceplane: done (load after: $(cut -d' ' -f1-3 /proc/loadavg)); raw outputs in $out"

python3 - "$cilium_log" "$sp_log" "$target_dir/criterion/cilium_workload" "$marker" "$ns" <<'PY'
import json, os, re, sys

cilium_log, sp_log, crit, marker, ns = sys.argv[1:6]
since = os.path.getmtime(marker)

cil, loads = {}, {}
for line in open(cilium_log, errors="replace"):
    m = re.search(r"^RAW N=(\d+) rep=\d+ loadavg=\[([^\]]*)\]", line)
    if m:
        loads.setdefault(int(m.group(1)), []).append(" ".join(m.group(2).split()[:3]))
    m = re.search(
        r"^MEDIAN N=(\d+) C=(\d+) cold=\S+ ([\d.]+)us/ep \| churn ([\d.]+)us/ev \| idchg ([\d.]+)us/ev"
        r" \| heap ([\d.]+) B/ep \| reconcile cold=([\d.]+)s churn=([\d.]+)s idchg=([\d.]+)s", line)
    if m:
        n = int(m.group(1))
        cil[n] = dict(c=int(m.group(2)), cold=float(m.group(3)), churn=float(m.group(4)),
                      idchg=float(m.group(5)), heap=float(m.group(6)),
                      render=float(m.group(7)) * 1e3, render_churn=float(m.group(8)) * 1e3,
                      render_idchg=float(m.group(9)) * 1e3)

sp = {}
for line in open(sp_log, errors="replace"):
    m = re.search(r"^CILIUM_WORKLOAD N=(\d+) C=(\d+) slices=(\d+) heap_cold_B_per_ep=([\d.]+)"
                  r" heap_settled_B_per_ep=([\d.]+) loadavg=\[([^\]]*)\]", line)
    if m:
        sp[int(m.group(1))] = dict(c=int(m.group(2)), heap=float(m.group(4)),
                                   heap_settled=float(m.group(5)),
                                   load=" ".join(m.group(6).split()[:3]))

def median_ns(fig, n):
    p = os.path.join(crit, fig, str(n), "new", "estimates.json")
    if not os.path.exists(p) or os.path.getmtime(p) < since:
        return None
    return json.load(open(p))["median"]["point_estimate"]

def fmt(v, unit):
    return "—" if v is None else f"{v:.3f} {unit}" if v < 10 else f"{v:.1f} {unit}"

def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.1f}×"

status = 0
for n in [int(x) for x in ns.split(",")]:
    c, s = cil.get(n), sp.get(n)
    if c is None or s is None:
        print(f"\nN={n}: missing {'Cilium' if c is None else 'sliceplane'} figures", file=sys.stderr)
        status = 1
        continue
    cc = s["c"]
    def per(fig, div, scale=1e3):
        v = median_ns(fig, n)
        return None if v is None else v / scale / div
    rows = [
        ("cold build (placement)", c["cold"], per("cold_build", n), "µs/endpoint"),
        ("churn (remove + re-add)", c["churn"], per("churn", cc), "µs/event"),
        ("identity churn", c["idchg"], per("identity_churn", cc), "µs/event"),
        ("rendering after cold build", c["render"], per("render", 1, 1e6), "ms"),
        ("rendering after churn", c["render_churn"], per("render_churn", 1, 1e6), "ms"),
        ("rendering after identity churn", c["render_idchg"], per("render_identity_churn", 1, 1e6), "ms"),
        ("heap after cold build", c["heap"], s["heap"], "B/endpoint"),
    ]
    print(f"\nN={n} C={cc}  load: Cilium {' | '.join(loads.get(n, ['?']))}; sliceplane {s['load']}")
    print(f"| figure | Cilium v1.20.2 | sliceplane | Cilium / sliceplane |")
    print(f"|---|---|---|---|")
    for name, a, b, unit in rows:
        print(f"| {name} | {fmt(a, unit)} | {fmt(b, unit)} | {ratio(a, b)} |")
    print(f"| (sliceplane all-in after its first plan is applied) | | {fmt(s['heap_settled'], 'B/endpoint')} | |")
sys.exit(status)
PY
