"""Bulk-ingest benchmark for the Python binding (DESIGN.md §12 target:
>= 1,000,000 events/s).

Generates N CiliumEndpoint ADDED events in Python (not timed), then times
  * Engine.apply_json_lines(bytes)  - one crossing, GIL released
  * Engine.apply_many(list of dicts) - dict -> JSON in Rust, batched crossings
  * Engine.apply_many(list of bytes)
each on a fresh engine, best of --repeat runs. Then the same bytes go
through the core's own batch ingest in Rust (the `ingest_file` example of
benches/, built with cargo if needed) in the same run, and the ratio of
`apply_json_lines` to it is printed (issue 15: within 10%). Build in
release (`pip install ./bindings-python`) before measuring.

    python bench_ingest.py [--events 1000000] [--repeat 3] [--no-core]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from typing import Any, Callable, Dict, List

import sliceplane


def cep_event(i: int, namespaces: int) -> Dict[str, Any]:
    ns = f"ns-{i % namespaces}"
    return {
        "type": "ADDED",
        "object": {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumEndpoint",
            "metadata": {"name": f"pod-{i}", "namespace": ns, "uid": f"00000000-0000-0000-0000-{i:012d}"},
            "status": {
                "identity": {"id": 256 + (i // 20) % 60000},
                "networking": {
                    "addressing": [{"ipv4": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"}],
                    "node": f"172.16.{(i // 50 >> 8) & 255}.{(i // 50) & 255}",
                },
                "encryption": {"key": 0},
                "named-ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "service-account": "default",
            },
        },
    }


def best(repeat: int, f: Callable[[sliceplane.Engine], int]) -> float:
    times = []
    for _ in range(repeat):
        e = sliceplane.Engine()
        t0 = time.perf_counter()
        rejected = f(e)
        times.append(time.perf_counter() - t0)
        assert rejected == 0, f"{rejected} events rejected"
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-core", action="store_true", help="skip the core's figure on the same bytes")
    args = ap.parse_args()
    n = args.events
    t0 = time.perf_counter()
    events: List[Dict[str, Any]] = [cep_event(i, max(1, n // 100)) for i in range(n)]
    lines_list = [json.dumps(e, separators=(",", ":")).encode() for e in events]
    blob = b"\n".join(lines_list) + b"\n"
    print(f"generated {n:,} CiliumEndpoint events ({len(blob) / n:.0f} bytes each) in {time.perf_counter() - t0:.1f} s")

    results = {
        "apply_json_lines(bytes)": best(args.repeat, lambda e: len(e.apply_json_lines(blob, 0))),
        "apply_many(dicts)": best(args.repeat, lambda e: len(e.apply_many(events, 0))),
        "apply_many(bytes)": best(args.repeat, lambda e: len(e.apply_many(lines_list, 0))),
    }
    for name, secs in results.items():
        print(f"{name:26s} {n / secs:>12,.0f} events/s  ({secs:.2f} s)")
    if not args.no_core:
        core = core_batch_seconds(blob, args.repeat)
        ratio = results["apply_json_lines(bytes)"] / core
        print(f"{'core batch (same bytes)':26s} {n / core:>12,.0f} events/s  ({core:.2f} s)")
        print(f"apply_json_lines / core: {ratio:.2f} (target <= 1.10)")


def core_batch_seconds(blob: bytes, repeat: int) -> float:
    """The core's batch ingest of `blob` (fastest of `repeat`), timed in Rust."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "-q", "-p", "sliceplane-workload", "--example", "ingest_file"],
        cwd=repo,
        check=True,
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(repo, "target"))
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
        f.write(blob)
        f.flush()
        out = subprocess.run(
            [os.path.join(target, "release", "examples", "ingest_file"), f.name, "ciliumendpoints", str(repeat)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    for line in out.splitlines():
        name, *rest = line.split()
        if name == "batch":
            return float(rest[0])
    raise RuntimeError(f"no batch figure in {out!r}")


if __name__ == "__main__":
    main()
