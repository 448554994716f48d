"""Typed use of the public API; checked by `mypy --strict` (not a test module)."""

from __future__ import annotations

from typing import List, Optional, Tuple

import sliceplane
from sliceplane import Config, Engine, SliceplaneError


def usage() -> None:
    cfg: Config = Config.from_yaml("write:\n  syncDelayMs: 0\n")
    cfg2: Config = Config.from_dict(cfg.to_dict())
    assert cfg == cfg2 and Config.from_json(cfg.to_json()) == Config()
    engine = Engine(cfg)
    engine.apply({"type": "ADDED", "object": {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "a"}}}, 0)
    errs: List[Tuple[int, SliceplaneError]] = engine.apply_many([b"{}", {"type": "ADDED"}], 0)
    for index, err in errs:
        code: str = err.code
        number: int = err.number
        print(index, code, number, err.object, err.field, err.message)
    engine.apply_json_lines(b"", 0)
    engine.initial_sync_done(0)
    try:
        engine.report(1, {"outcome": "conflict"}, 0)
    except sliceplane.WritePathError as wp:
        print(wp.code)
    for op in engine.flush(0):
        op_id: int = op["id"]
        plural: str = op["plural"]
        name: str = op["object"]["metadata"]["name"]
        print(plural, name)
        engine.report_success(op_id, "1", "uid", 0)
    endpoints: int = engine.stats()["endpoints"]
    due: Optional[int] = engine.next_due()
    print(endpoints, due, engine.desired_slices(), engine.desired_identities(), engine.counters())
    for e in engine.drain_events():
        print(e["kind"], e["severity"])
    loc = engine.endpoint("a", "b")
    if loc is not None:
        slice_name, identity = loc
        print(slice_name, identity)
    labels = engine.identity_labels(256)
    print(labels, engine.in_flight(), engine.synced, engine.config, sliceplane.__version__)
    pc = sliceplane.PolicyCluster([], [])
    print(pc.truth_table(80), pc.identity_of("a", "b"))
    for c, n, cls in sliceplane.error_codes():
        print(c, n, cls)
