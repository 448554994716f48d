"""Typed use of the public API; checked by `mypy --strict` (not a test module)."""

from __future__ import annotations

from typing import Dict, List, Optional

import sliceplane
from sliceplane import (
    Config,
    Consumer,
    Endpoint,
    EndpointChange,
    Engine,
    Health,
    ProbeAnswer,
    Rejected,
    SliceplaneError,
    Snapshot,
    SnapshotReader,
)


def usage() -> None:
    cfg: Config = Config.from_yaml("write:\n  syncDelayMs: 0\n")
    cfg2: Config = Config.from_dict(cfg.to_dict())
    assert cfg == cfg2 and Config.from_json(cfg.to_json()) == Config()
    engine = Engine(cfg)
    engine.apply({"type": "ADDED", "object": {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "a"}}}, 0)
    errs: List[Rejected] = engine.apply_many([b"{}", {"type": "ADDED"}], 0)
    for r in errs:
        code: str = r["code"]
        number: int = r["number"]
        err: SliceplaneError = r["error"]
        print(r["index"], r["line"], code, number, r["object"], r["field"], r["message"], err.code)
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
    print(pc.truth_table(80), pc.identity_of("a", "b"), pc.probe("a/b", "a/c", "http", None))
    answers: List[ProbeAnswer] = pc.answer_probes(b'{"from": "a/b", "to": "a/c", "port": 80}\n')
    for a in answers:
        print(a.get("verdict"), a.get("error", {}).get("code"))
    for op in engine.flush(0):
        pre = op["preconditions"]
        if pre is not None:
            print(pre["uid"], pre["resourceVersion"])
    for c, n, cls in sliceplane.error_codes():
        print(c, n, cls)


def snapshots_and_consumer(engine: Engine) -> None:
    snap: Snapshot = engine.publish()
    reader: SnapshotReader = engine.snapshot_reader()
    version: int = snap.version + reader.version + reader.load().version
    ep: Optional[Endpoint] = snap.lookup_ip("10.0.0.1")
    if ep is not None:
        node_ip: Optional[str] = ep["nodeIp"]
        ports: List[int] = [p["port"] for p in ep["namedPorts"]]
        print(ep["namespace"], ep["name"], ep["slice"], ep["identity"], ep["ips"], node_ip, ports)
    ident: Optional[int] = reader.identity_of_ip("10.0.0.1")
    ratio: float = snap.fragmentation()["ratio"] + snap.fragmentation(ns="a")["ratio"]
    counts: int = snap.counts()["ips"] + snap.endpoint_count() + snap.ip_count()
    sl = snap.slice("ces-x")
    names: List[str] = sl["endpoints"] if sl is not None else snap.slices_in_namespace("a")
    labels: Optional[Dict[str, str]] = snap.identity_labels(256)
    print(version, ident, ratio, counts, names, labels, snap.endpoints(), snap.namespaces(), snap.identities())
    metrics: str = engine.metrics()
    health: Health = engine.health()
    if health["state"] == "degraded":
        print(health.get("reason"))
    engine.resync(0)
    engine.observe_apply_seconds(0.001)
    engine.observe_publish_seconds(0.001)
    consumer = Consumer(max_per_slice=100)
    changes: List[EndpointChange] = consumer.apply({"type": "ADDED", "object": {}})
    for c in changes + consumer.apply_json(b"{}"):
        old: Optional[Endpoint] = c["old"]
        if c["op"] == "upsert" and c["new"] is not None:
            print(old, c["new"]["identity"])
    more, rejected = consumer.apply_json_lines("")
    for r in rejected:
        print(r["line"], r["error"].code, len(more), [x["index"] for x in more])
    consumer.set_now(1)
    print(consumer.publish().version, consumer.snapshot_reader().version, consumer.counters()["ip_cache_size"])
    copies = consumer.copies("a", "b")
    if copies is not None:
        current: str = copies["current"]
        print(current, copies["copies"])
    print(consumer.endpoint("a", "b"), consumer.lookup_ip("::1"), consumer.drain_events(), metrics)
