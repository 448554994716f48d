"""Smoke tests of every Engine/Config method, bad input, schemas, threads."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

import sliceplane as sp
from conftest import cep, cep_events, crd_schema, ev, jsonl, namespace, node, pod

FAST = {"write": {"syncDelayMs": 0, "rateLimits": [{"nodes": 0, "limit": 1e9, "burst": 1000000}]}}


def fast_engine(**extra: Any) -> sp.Engine:
    cfg = copy.deepcopy(FAST)
    cfg.update(extra)
    return sp.Engine(sp.Config.from_dict(cfg))


def settle(e: sp.Engine, now: int = 0) -> List[sp.WriteOp]:
    """Flushes and reports every op as successful until nothing is due."""
    done: List[sp.WriteOp] = []
    for _ in range(100):
        ops = e.flush(now)
        if not ops:
            return done
        for op in ops:
            e.report_success(op["id"], str(op["id"]), f"uid-{op['name']}", now)
        done += ops
    raise AssertionError("plan never settled")


# ---------------------------------------------------------------- module


def test_module_surface() -> None:
    for name in ["Config", "Engine", "PolicyCluster", "WriteOp", "Stats", "Event", "SliceplaneError", "ParseError", "ValidationError",
                 "ConfigError", "WritePathError", "PolicyError", "error_codes", "__version__", "Snapshot", "SnapshotReader",
                 "Consumer", "Endpoint", "NamedPort", "SliceInfo", "NamespaceInfo", "Counts", "Fragmentation",
                 "EndpointChange", "Copies", "ConsumerCounters", "Health"]:
        assert hasattr(sp, name), name
        if name != "__version__":
            assert getattr(sp, name).__doc__, f"{name} has no docstring"
    for sub in [sp.ParseError, sp.ValidationError, sp.ConfigError, sp.WritePathError, sp.PolicyError]:
        assert issubclass(sub, sp.SliceplaneError)
    assert issubclass(sp.SliceplaneError, Exception)
    codes = sp.error_codes()
    assert ("invalid_ip", 205, "ValidationError") in codes
    assert len({c for c, _, _ in codes}) == len(codes)


def test_public_methods_have_docstrings() -> None:
    for cls in [sp.Config, sp.Engine, sp.PolicyCluster, sp.Snapshot, sp.SnapshotReader, sp.Consumer]:
        for name in dir(cls):
            if not name.startswith("_"):
                assert getattr(cls, name).__doc__, f"{cls.__name__}.{name}"


# ---------------------------------------------------------------- config


def test_config_round_trips() -> None:
    c = sp.Config()
    assert c == sp.Config.from_yaml("")
    d = c.to_dict()
    assert d["slicing"]["maxEndpointsPerSlice"] == 100
    assert sp.Config.from_dict(d) == c
    assert sp.Config.from_json(c.to_json()) == c
    assert sp.Config.from_json(c.to_json().encode()) == c
    y = sp.Config.from_yaml("slicing:\n  maxEndpointsPerSlice: 7\nseed: 3\n")
    assert y.to_dict()["slicing"]["maxEndpointsPerSlice"] == 7
    assert y != c
    assert "Config" in repr(y)
    assert sp.Engine(y).config == y


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: sp.Config.from_dict({"slicing": {"maxEndpointsPerSlice": 0}}), "slicing.maxEndpointsPerSlice"),
        (lambda: sp.Config.from_dict({"bogus": 1}), ""),
        (lambda: sp.Config.from_dict({"seed": {1, 2}}), "seed"),
        (lambda: sp.Config.from_yaml("slicing: [1"), ""),
        (lambda: sp.Config.from_json("{"), ""),
    ],
)
def test_config_errors(make: Callable[[], sp.Config], field: str) -> None:
    with pytest.raises(sp.ConfigError) as ei:
        make()
    assert ei.value.code == "invalid_config"
    assert ei.value.number == 301
    assert ei.value.field == field
    assert ei.value.message


# ---------------------------------------------------------------- engine


def test_engine_full_cycle() -> None:
    e = fast_engine()
    assert not e.synced
    e.apply(ev(cep("shop", "web-0", "10.1.0.1")), 0)
    e.apply_json(json.dumps(ev(cep("shop", "web-1", "10.1.0.2"))).encode(), 0)
    e.apply_json(json.dumps(ev(cep("shop", "web-2", "10.1.0.3"))), 0)
    assert e.flush(0) == []  # nothing before the initial sync
    e.initial_sync_done(0)
    assert e.synced
    assert e.next_due() == 0
    ops = e.flush(0)
    assert [(o["op"], o["kind"], o["group"], o["version"], o["plural"]) for o in ops] == [
        ("create", "CiliumEndpointSlice", "cilium.io", "v2alpha1", "ciliumendpointslices")
    ]
    op = ops[0]
    assert op["name"] == op["object"]["metadata"]["name"]
    assert [x["name"] for x in op["object"]["endpoints"]] == ["web-0", "web-1", "web-2"]
    assert e.in_flight() == 1
    assert e.stats()["in_flight"] == 1
    e.report_success(op["id"], "100", "uid-1", 1)
    assert e.in_flight() == 0
    slice_name, ident = e.endpoint("shop", "web-1") or (None, None)
    assert slice_name == op["name"] and ident == 1000
    assert e.endpoint("shop", "nope") is None
    assert e.identity_labels(1000) == {"k8s:app": "web"}
    assert e.identity_labels(4242) is None
    st = e.stats()
    assert st["endpoints"] == 3 and st["slices"] == 1 and st["namespaces"] == 1
    assert e.counters()["events_applied"] == 3
    assert e.counters()["writes_succeeded"] == 1
    events = e.drain_events()
    assert events and {"time", "category", "kind", "severity", "subject", "message"} <= set(events[0])
    assert e.drain_events() == []
    desired = e.desired_slices()
    assert len(desired) == 1 and desired[0]["metadata"]["name"] == op["name"]
    assert e.desired_identities() == []
    assert "Engine" in repr(e)

    # Update, then delete of the last endpoints.
    e.apply(ev(cep("shop", "web-1", "10.1.0.2"), "DELETED"), 2)
    (upd,) = e.flush(2)
    assert upd["op"] == "update" and upd["object"]["metadata"]["resourceVersion"] == "100"
    e.report(upd["id"], {"outcome": "success", "resourceVersion": "101", "uid": "uid-1"}, 3)
    for name in ["web-0", "web-2"]:
        e.apply(ev(cep("shop", name, "10.1.0.1"), "DELETED"), 4)
    (dele,) = e.flush(4)
    assert dele["op"] == "delete"
    assert dele["object"]["metadata"] == {"name": op["name"], "uid": "uid-1", "resourceVersion": "101"}
    e.report_success(dele["id"], None, None, 5)
    assert e.stats()["slices"] == 0


def test_report_outcomes() -> None:
    e = fast_engine()
    e.apply_many(cep_events(3), 0)
    e.initial_sync_done(0)
    (op,) = e.flush(0)
    e.report_error(op["id"], "503 from the API server", 1)
    assert e.in_flight() == 0
    assert e.flush(2) == []  # backing off (base 1 s)
    due = 5_000
    (op,) = e.flush(due)
    e.report_already_exists(op["id"], due)
    ops = e.flush(due + 200_000)
    for o in ops:
        e.report_not_found(o["id"], due + 200_000)
    ops = e.flush(due + 400_000)
    for o in ops:
        e.report_conflict(o["id"], due + 400_000)
    for o in e.flush(due + 600_000):
        e.report(o["id"], {"outcome": "error", "message": "boom"}, due + 600_000)
    assert e.in_flight() == 0


def test_pods_source_plans_identities() -> None:
    e = fast_engine(source="pods")
    errs = e.apply_many(
        [namespace("shop", {"team": "a"}), node("node-1", "172.16.0.1"),
         pod("shop", "web-1", "10.2.0.1", {"app": "web"}), pod("shop", "db-1", "10.2.0.2", {"app": "db"})],
        0,
    )
    assert errs == []
    e.initial_sync_done(0)
    ops = settle(e)
    kinds = sorted({(o["op"], o["kind"], o["plural"], o["version"]) for o in ops})
    assert ("create", "CiliumIdentity", "ciliumidentities", "v2") in kinds
    ids = e.desired_identities()
    assert len(ids) == 2
    assert all(i["kind"] == "CiliumIdentity" for i in ids)
    assert e.stats()["identities"] == 2


def test_flush_at_most_bounds_slice_writes_only() -> None:
    e = fast_engine(source="pods")
    assert e.apply_many(
        [namespace("shop"), node("node-1", "172.16.0.1"), pod("shop", "web-1", "10.2.0.1", {"app": "web"})], 0
    ) == []
    e.initial_sync_done(0)
    # No idle writer for slices: the identity only; the slice stays dirty.
    ops = e.flush_at_most(0, 0)
    assert [o["kind"] for o in ops] == ["CiliumIdentity"]
    ops = e.flush_at_most(0, 1)
    assert [(o["op"], o["kind"]) for o in ops] == [("create", "CiliumEndpointSlice")]
    assert e.flush_at_most(0, 5) == []
    with pytest.raises(OverflowError):
        e.flush_at_most(0, -1)


def test_flush_is_the_core_encoding_of_the_plan() -> None:
    """flush's dicts are the JSON the C ABI and the CLI print, read back."""
    e = fast_engine(source="pods")
    e.apply_many([namespace("shop"), pod("shop", "web-1", "10.2.0.1", {"app": "web"})], 0)
    e.initial_sync_done(0)
    ops = e.flush(0)
    assert {o["kind"] for o in ops} == {"CiliumIdentity", "CiliumEndpointSlice"}
    for o in ops:
        assert list(o) == ["id", "op", "group", "version", "plural", "kind", "name", "object", "preconditions"]
        assert isinstance(o["id"], int) and o["preconditions"] is None
        assert json.loads(json.dumps(o)) == o


def test_dicts_are_encoded_as_json_dumps_would() -> None:
    """Strings with and without characters JSON escapes: a dict and its
    json.dumps text give the same outcome, event by event (the rejections
    quote the strings as the engine read them)."""
    texts = ["web", 'a"b', "a\\b", "a\nb", "\x00", "\x1f", "\x7f", "é", "\u2028", "日本", "", "x" * 300]
    events = [ev(cep("shop", f"web-{i}", f"10.1.0.{i + 1}")) for i in range(len(texts))]
    for e_, t in zip(events, texts):
        e_["object"]["status"]["service-account"] = t
    events.append(ev({**cep("shop", "bad", "10.1.1.1"), "metadata": {"name": 'a"\n\\é'}}))
    a, b = fast_engine(), fast_engine()
    ra = [(r["index"], r["code"], r["field"], r["message"]) for r in a.apply_many(events, 0)]
    rb = [(r["index"], r["code"], r["field"], r["message"]) for r in b.apply_many([json.dumps(x) for x in events], 0)]
    assert ra == rb
    a.initial_sync_done(0)
    b.initial_sync_done(0)
    # The messages quote the decoded strings: the same on both paths.
    assert 0 not in {i for i, *_ in ra} and len(ra) >= len(texts) - 2
    plan = a.flush(0)
    assert plan and [o["object"] for o in plan] == [o["object"] for o in b.flush(0)]


def test_apply_many_accepts_dicts_bytes_and_str() -> None:
    e = fast_engine()
    items: List[Any] = [ev(cep("a", "p-1", "10.0.0.1")), json.dumps(ev(cep("a", "p-2", "10.0.0.2"))).encode(),
                        json.dumps(ev(cep("a", "p-3", "10.0.0.3"))), bytearray(json.dumps(ev(cep("a", "p-4", "10.0.0.4"))).encode())]
    assert e.apply_many(iter(items), 0) == []
    assert e.stats()["endpoints"] == 4


def test_apply_many_reports_bad_events_by_index() -> None:
    e = fast_engine()
    good = cep_events(4)
    bad_ip = ev(cep("shop", "bad", "999.1.1.1"))
    items: List[Any] = [good[0], bad_ip, good[1], {"type": "ADDED", "object": {"x": {1, 2}}}, b"{nope", good[2], 7, good[3]]
    errs = e.apply_many(items, 0)
    assert [(r["index"], r["line"], type(r["error"]), r["code"]) for r in errs] == [
        (1, 2, sp.ValidationError, "invalid_ip"),
        (3, 4, sp.ParseError, "malformed_input"),
        (4, 5, sp.ParseError, "malformed_input"),
        (6, 7, sp.ParseError, "malformed_input"),
    ]
    assert errs[0]["field"] == errs[0]["error"].field == "status.networking.addressing[0].ipv4"
    assert errs[0]["object"] == errs[0]["error"].object == "CiliumEndpoint shop/bad"
    assert errs[0]["number"] == 205 and errs[0]["message"] == errs[0]["error"].message
    assert errs[1]["field"] == "object.x"
    assert e.stats()["endpoints"] == 4


def test_apply_many_large_batch_crosses_chunks() -> None:
    e = fast_engine()
    assert e.apply_many(cep_events(40_000), 0) == []
    assert e.stats()["endpoints"] == 40_000


def test_apply_json_lines() -> None:
    e = fast_engine()
    data = jsonl(cep_events(10)) + b"\n   \n" + b'{"type": "NOPE", "object": {}}\n' + b"\r\n"
    errs = e.apply_json_lines(data, 0)
    # index: among the events (blank lines are not events); line: 1-based.
    assert [(r["index"], r["line"], r["code"]) for r in errs] == [(10, 13, "unknown_event_type")]
    assert isinstance(errs[0]["error"], sp.ParseError)
    assert e.stats()["endpoints"] == 10
    assert fast_engine().apply_json_lines(bytearray(data), 0)[0]["index"] == 10
    e2 = fast_engine()
    e2.apply_json_lines(data.decode(), 0)
    assert e2.stats()["endpoints"] == 10


def test_iteration_error_propagates() -> None:
    def gen() -> Any:
        yield ev(cep("a", "p-1", "10.0.0.1"))
        raise RuntimeError("source broke")

    e = fast_engine()
    with pytest.raises(RuntimeError):
        e.apply_many(gen(), 0)


def test_wrong_argument_types() -> None:
    e = fast_engine()
    with pytest.raises(TypeError):
        e.apply_json(12, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        e.apply_many(5, 0)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        e.flush(-1)
    with pytest.raises(TypeError):
        sp.Config.from_json(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- bad input changes nothing


def _ready_engine() -> Tuple[sp.Engine, int]:
    e = fast_engine()
    e.apply_many(cep_events(5), 0)
    e.initial_sync_done(0)
    settle(e)
    e.drain_events()
    return e, 1


def _with(path: List[Any], value: Any) -> Dict[str, Any]:
    obj = cep("shop", "web-1", "10.1.0.2")
    cur: Any = obj
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return ev(obj)


def _deep() -> Dict[str, Any]:
    d: Dict[str, Any] = {}
    cur = d
    for _ in range(500):
        cur["a"] = {}
        cur = cur["a"]
    return d


BAD: List[Tuple[str, Any, type, str, Optional[str]]] = [
    ("bad ip", _with(["status", "networking", "addressing", 0, "ipv4"], "10.0.0.300"), sp.ValidationError, "invalid_ip", "status.networking.addressing[0].ipv4"),
    ("bad name", _with(["metadata", "name"], "Web_1"), sp.ValidationError, "invalid_name", "metadata.name"),
    ("bad port", _with(["status", "named-ports", 0, "port"], 70000), sp.ValidationError, "invalid_port", "status.named-ports[0].port"),
    ("bad protocol", _with(["status", "named-ports", 0, "protocol"], "XTP"), sp.ValidationError, "invalid_protocol", "status.named-ports[0].protocol"),
    ("no namespace", _with(["metadata", "namespace"], None), sp.ValidationError, "missing_field", "metadata.namespace"),
    ("event type", {"type": "BOOKMARK", "object": cep("shop", "web-1", "10.1.0.2")}, sp.ParseError, "unknown_event_type", "type"),
    ("unknown kind", ev({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}), sp.ParseError, "unknown_kind", "kind"),
    ("no object", {"type": "ADDED"}, sp.ValidationError, "missing_field", "object"),
    ("set value", _with(["status", "service-account"], {"a"}), sp.ParseError, "malformed_input", "object.status.service-account"),
    ("int key", {"type": "ADDED", "object": {1: "x"}}, sp.ParseError, "malformed_input", "object"),
    ("nan", _with(["status", "encryption", "key"], float("nan")), sp.ParseError, "malformed_input", "object.status.encryption.key"),
    ("huge int", _with(["status", "identity", "id"], 2**80), sp.ParseError, "malformed_input", "object.status.identity.id"),
    ("deep", _deep(), sp.ParseError, "malformed_input", None),
    ("not json", b"{not json", sp.ParseError, "malformed_input", ""),
    ("wrong type", _with(["status", "networking", "addressing"], "x"), sp.ParseError, "malformed_input", None),
]


@pytest.mark.parametrize("label, event, cls, code, field", BAD, ids=[b[0] for b in BAD])
def test_bad_input_changes_nothing(label: str, event: Any, cls: type, code: str, field: Any) -> None:
    e, now = _ready_engine()
    before = (e.stats(), e.desired_slices(), e.desired_identities(), e.endpoint("shop", "web-1"))
    with pytest.raises(cls) as ei:
        e.apply(event, now)
    err = ei.value
    assert isinstance(err, sp.SliceplaneError)
    assert err.code == code
    assert err.number == dict((c, n) for c, n, _ in sp.error_codes())[code]
    if field is not None:
        assert err.field == field
    assert err.message and code in str(err)
    assert (e.stats(), e.desired_slices(), e.desired_identities(), e.endpoint("shop", "web-1")) == before
    assert e.flush(now + 10_000) == []
    # The same through the bulk paths: reported, not raised, and nothing changes.
    errs = e.apply_many([event], now)
    assert [(r["index"], r["code"], r["error"].code) for r in errs] == [(0, code, code)]
    if isinstance(event, dict) and code != "malformed_input":  # json.dumps would change these
        try:
            line = json.dumps(event).encode()
        except (TypeError, ValueError):
            line = None
        if line is not None and b"NaN" not in line:
            errs = e.apply_json_lines(line, now)
            assert [(r["index"], r["line"], r["code"]) for r in errs] == [(0, 1, code)]
    assert (e.stats(), e.desired_slices()) == before[:2]


def test_bad_reports() -> None:
    e, now = _ready_engine()
    before = (e.stats(), e.desired_slices())
    with pytest.raises(sp.WritePathError) as ei:
        e.report_success(12345, "1", "u", now)
    assert (ei.value.code, ei.value.number, ei.value.field) == ("unknown_op", 401, "op")
    with pytest.raises(sp.ParseError) as pe:
        e.report(1, {"outcome": "bogus"}, now)
    assert pe.value.field == "outcome"
    with pytest.raises(sp.ParseError):
        e.report(1, {"outcome": "success", "uid": object()}, now)
    for f in (e.report_conflict, e.report_not_found, e.report_already_exists):
        with pytest.raises(sp.WritePathError):
            f(777, now)
    with pytest.raises(sp.WritePathError):
        e.report_error(777, "x", now)
    assert (e.stats(), e.desired_slices()) == before


# ---------------------------------------------------------------- schemas


def test_emitted_objects_match_crd_schemas() -> None:
    ces = crd_schema("ciliumendpointslices.yaml")
    cid = crd_schema("ciliumidentities.yaml")
    e = fast_engine(source="pods")
    objs: List[Any] = [namespace("shop", {"team": "a"}), node("node-1", "172.16.0.1")]
    objs += [pod("shop", f"web-{i}", f"10.2.0.{i + 1}", {"app": "web" if i % 2 else "api"}) for i in range(30)]
    assert e.apply_many(objs, 0) == []
    e.initial_sync_done(0)
    ops = settle(e)
    assert ops
    for op in ops:
        if op["op"] == "delete":
            continue
        schema = ces if op["kind"] == "CiliumEndpointSlice" else cid
        jsonschema.validate(op["object"], schema)
    for s in e.desired_slices():
        jsonschema.validate(s, ces)
    for i in e.desired_identities():
        jsonschema.validate(i, cid)
    cep_schema = crd_schema("ciliumendpoints.yaml")
    jsonschema.validate(cep("shop", "web-1", "10.1.0.2"), cep_schema)


# ---------------------------------------------------------------- threads


def test_threads_share_an_engine() -> None:
    """Writers behind a lock, a flusher in another thread; the GIL is released
    inside the engine, so the Python threads interleave. (Readers take
    snapshots instead: see test_snapshot.py.)"""
    e = fast_engine()
    e.initial_sync_done(0)
    lock = threading.Lock()
    errors: List[BaseException] = []
    stop = threading.Event()
    flushed: List[int] = []

    def writer(t: int) -> None:
        try:
            for k in range(20):
                batch = [ev(cep(f"ns-{t}", f"p-{k}-{i}", f"10.{t}.{k}.{i + 1}")) for i in range(50)]
                with lock:
                    assert e.apply_many(batch, k) == []
                data = jsonl([ev(cep(f"ns-{t}", f"q-{k}-{i}", f"10.{t + 10}.{k}.{i + 1}")) for i in range(50)])
                assert e.apply_json_lines(data, k) == []  # engine's own lock, GIL released
        except BaseException as x:  # noqa: BLE001
            errors.append(x)

    def flusher() -> None:
        try:
            now = 0
            while not stop.is_set() or e.stats()["dirty_slices"]:
                now += 1
                for op in e.flush(now):
                    e.report_success(op["id"], str(now), "u", now)
                    flushed.append(op["id"])
                e.stats()
                e.desired_slices()
        except BaseException as x:  # noqa: BLE001
            errors.append(x)

    writers = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    f = threading.Thread(target=flusher)
    f.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    f.join(timeout=120)
    assert not f.is_alive()
    assert errors == []
    assert e.stats()["endpoints"] == 4 * 20 * 100
    assert sum(len(s["endpoints"]) for s in e.desired_slices()) == 8000
    assert flushed
    assert e.in_flight() == 0


# ---------------------------------------------------------------- metrics


def test_metrics_text_parses_with_prometheus_client() -> None:
    """Engine.metrics() is Prometheus text with the Cilium-compatible families (DESIGN.md §8)."""
    e = fast_engine()
    assert e.apply_many(cep_events(250) + cep_events(30, ns="other"), 0) == []
    e.initial_sync_done(0)
    plan = e.flush(0)
    slice_writes = [op for op in plan if op["kind"] == "CiliumEndpointSlice"]
    assert len(slice_writes) >= 3
    failed = slice_writes[0]
    e.report_error(failed["id"], "timeout", 1)
    succeeded = 0
    for op in plan[1:]:
        e.report_success(op["id"], "1", f"uid-{op['name']}", 1)
        succeeded += op["kind"] == "CiliumEndpointSlice"
    e.observe_apply_seconds(0.002)
    e.observe_apply_seconds(0.5)
    e.observe_publish_seconds(0.0001)
    e.publish()
    text = e.metrics()
    assert isinstance(text, str) and text.endswith("\n")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in [
        "cilium_operator_number_of_ceps_per_ces",
        "cilium_operator_number_of_cep_changes_per_ces",
        "cilium_operator_ces_sync",  # counter family: samples are ..._total
        "cilium_operator_ces_queueing_delay_seconds",
        "sliceplane_endpoints",
        "sliceplane_slices",
        "sliceplane_dirty_slices",
        "sliceplane_pending_writes",
        "sliceplane_apply_duration_seconds",
        "sliceplane_snapshot_publish_duration_seconds",
    ]:
        assert name in families, f"{name} not in {sorted(families)}"
    assert families["cilium_operator_number_of_ceps_per_ces"].type == "histogram"
    assert families["cilium_operator_ces_sync"].type == "counter"
    sync = families["cilium_operator_ces_sync"].samples
    ok = sum(s.value for s in sync if s.name == "cilium_operator_ces_sync_total" and s.labels.get("outcome") == "success")
    assert ok == succeeded
    fails = sum(s.value for s in sync if s.name == "cilium_operator_ces_sync_total" and s.labels.get("outcome") == "fail")
    assert fails == 1

    def count(family: str) -> float:
        return sum(s.value for s in families[family].samples if s.name == family + "_count")

    assert count("sliceplane_apply_duration_seconds") == 2
    assert count("sliceplane_snapshot_publish_duration_seconds") == 1
    endpoints = [s.value for s in families["sliceplane_endpoints"].samples]
    assert endpoints == [280]


@pytest.mark.parametrize("bad", [-1.0, -0.0001, float("nan"), float("inf"), float("-inf")])
def test_observe_seconds_rejects_bad_values(bad: float) -> None:
    e = sp.Engine()
    for observe in (e.observe_apply_seconds, e.observe_publish_seconds):
        with pytest.raises(sp.ValidationError) as ex:
            observe(bad)
        assert ex.value.code == "invalid_value" and ex.value.field == "seconds"
    e.observe_apply_seconds(0.0)
    e.observe_publish_seconds(3.5)


def test_health_and_resync() -> None:
    e = fast_engine()
    assert e.health() == {"state": "healthy"}
    e.apply_many(cep_events(10), 0)
    e.initial_sync_done(0)
    settle(e)
    assert e.flush(1) == []
    e.resync(2)
    # Every slice is compared again; equal slices cost no write.
    assert e.flush(3) == []
    assert e.stats()["dirty_slices"] == 0
    assert e.health()["state"] == "healthy"


def test_health_degrades_after_failures() -> None:
    e = fast_engine(write={"syncDelayMs": 0, "rateLimits": [{"nodes": 0, "limit": 1e9, "burst": 1000000}],
                           "errorThreshold": {"consecutiveFailures": 2}})
    e.apply_many(cep_events(10), 0)
    e.initial_sync_done(0)
    now = 0
    for _ in range(50):
        now += 60_000
        for op in e.flush(now):
            e.report_error(op["id"], "boom", now)
        if e.health()["state"] == "degraded":
            break
    h = e.health()
    assert h["state"] == "degraded" and h.get("reason")
