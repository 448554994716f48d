#!/usr/bin/env python3
"""Writes N CiliumEndpoint ADDED watch events as JSON lines (stdout), for
timing `sliceplane run` on a large input (issue 15's CLI-streaming figure).

    python3 scripts/gen-cep-events.py 100000 > /tmp/cep-100k.jsonl
    /usr/bin/time -v target/release/sliceplane run --source ciliumendpoints \\
        /tmp/cep-100k.jsonl > /dev/null

Endpoint i follows the shared Cilium workload (../shared/tools/cilium-bench/
README.md): `ep-<i>` in `ns-<i mod (N/100)>`, identity 1000 + (i mod (N/20)),
IPv4 10.(128 + i>>16).((i>>8) & 255).(i & 255), node IP from m = i mod (N/10):
10.(m>>16).((m>>8) & 255).(m & 255). Each object also carries what a real
CiliumEndpoint does (pod labels, the owning Pod reference, uid,
resourceVersion, encryption key, a named port, service account), about 600
bytes a line, so the file's size per event is that of a live cluster's watch
stream. Deterministic: the same N gives the same bytes. Do not commit the
output.
"""

import json
import sys


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    n = int(sys.argv[1])
    if n < 100 or n % 100 != 0:
        print("N must be a positive multiple of 100 (N/100 namespaces)", file=sys.stderr)
        return 2
    out = sys.stdout
    for i in range(n):
        m = i % (n // 10)
        app = f"app-{i % (n // 20)}"
        name = f"ep-{i}"
        event = {
            "type": "ADDED",
            "object": {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumEndpoint",
                "metadata": {
                    "name": name,
                    "namespace": f"ns-{i % (n // 100)}",
                    "uid": f"00000000-0000-4000-8000-{i:012d}",
                    "resourceVersion": str(1000 + i),
                    "labels": {
                        "app": app,
                        "pod-template-hash": f"{(i * 2654435761) % 4294967296:08x}"[:10],
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Pod",
                            "name": name,
                            "uid": f"00000000-0000-4000-9000-{i:012d}",
                        }
                    ],
                },
                "status": {
                    "identity": {"id": 1000 + i % (n // 20)},
                    "networking": {
                        "addressing": [
                            {"ipv4": f"10.{128 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"}
                        ],
                        "node": f"10.{m >> 16}.{(m >> 8) & 255}.{m & 255}",
                    },
                    "encryption": {"key": 0},
                    "named-ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                    "service-account": app,
                },
            },
        }
        out.write(json.dumps(event, separators=(",", ":")))
        out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
