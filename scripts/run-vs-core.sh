#!/usr/bin/env bash
# `sliceplane run` against the core's JSON ingest of the same bytes, on the
# same machine, back to back (issue 15's CLI-streaming target):
#   time:   run's wall time / the core's batch apply of the file
#   memory: run's peak RSS / the engine's heap after that batch, and the
#           same less run's peak RSS on the first 1,000 events of the file
#           (the constant: code pages, the allocator's first pages, the
#           engine's fixed tables; the target is 1.5x plus a constant)
#
#   scripts/run-vs-core.sh [N]   (default 100000 CiliumEndpoint ADDED events)
#
# The input is scripts/gen-cep-events.py N (written to $TMPDIR, not kept).
# The core's figure comes from the ingest_file example (benches/), fastest
# of 3; run's is the fastest of 3 wall times, its peak RSS from
# /usr/bin/time -v. Needs /usr/bin/time (Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
input="$tmp/cep-$n.jsonl"
python3 scripts/gen-cep-events.py "$n" > "$input"
cargo build --release --locked -q -p sliceplane-cli
cargo build --release --locked -q -p sliceplane-workload --example ingest_file
echo "input: $n events, $(( $(stat -c %s "$input") / 1048576 )) MiB"

core="$(target/release/examples/ingest_file "$input" ciliumendpoints 3)"
echo "$core" | sed 's/^/core: /'
core_s="$(echo "$core" | awk '$1 == "batch" {print $2}')"
heap="$(echo "$core" | awk '$1 == "engine_heap_bytes" {print $2}')"

best_s=""
best_rss=0
for _ in 1 2 3; do
    /usr/bin/time -v -o "$tmp/time" target/release/sliceplane run --source ciliumendpoints \
        "$input" > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    s="$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); t = 0; for (i = 1; i <= n; i++) t = t * 60 + p[i]; print t}' "$tmp/time")"
    rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time")"
    if [ -z "$best_s" ] || awk -v a="$s" -v b="$best_s" 'BEGIN {exit !(a < b)}'; then best_s="$s"; fi
    if [ "$rss" -gt "$best_rss" ]; then best_rss="$rss"; fi
done
head -n 1000 "$input" > "$tmp/first-1000.jsonl"
/usr/bin/time -v -o "$tmp/time" target/release/sliceplane run --source ciliumendpoints \
    "$tmp/first-1000.jsonl" > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
base_rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time")"
awk -v s="$best_s" -v c="$core_s" -v rss="$best_rss" -v heap="$heap" -v base="$base_rss" 'BEGIN {
    printf "run:  %.3f s, peak RSS %.1f MiB\n", s, rss / 1024
    printf "core: %.3f s, engine heap %.1f MiB\n", c, heap / 1048576
    printf "ratio time run/core: %.2f (target <= 1.2)\n", s / c
    printf "ratio memory run peak RSS / engine heap: %.2f (target <= 1.5 plus a constant)\n", rss * 1024 / heap
    printf "constant: run on the first 1000 events, peak RSS %.1f MiB\n", base / 1024
    printf "ratio memory (run peak RSS - constant) / engine heap: %.2f (target <= 1.5)\n", (rss - base) * 1024 / heap
}'
