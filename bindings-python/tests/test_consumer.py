"""The Consumer (agent side, DESIGN.md §7): every method, fed with the
engine's own slice writes as CiliumEndpointSlice watch events."""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, List, Tuple

import pytest

import sliceplane as sp
from conftest import cep, cep_events, ev, jsonl, pod
from test_engine import fast_engine

WATCH_TYPE = {"create": "ADDED", "update": "MODIFIED", "delete": "DELETED"}


def ces(name: str, ns: str, endpoints: List[Dict[str, Any]], rv: str = "1") -> Dict[str, Any]:
    return {"apiVersion": "cilium.io/v2alpha1", "kind": "CiliumEndpointSlice",
            "metadata": {"name": name, "resourceVersion": rv}, "namespace": ns, "endpoints": endpoints}


def core_cep(name: str, ip: str, identity: int = 1000) -> Dict[str, Any]:
    return {"name": name, "id": identity, "networking": {"addressing": [{"ipv4": ip}], "node": "10.0.0.1"},
            "encryption": {"key": 0}, "named-ports": [], "service-account": "default"}


def other_events(n: int) -> List[Dict[str, Any]]:
    """Endpoints of namespace "other", on IPs of their own."""
    return [ev(cep("other", f"api-{i}", f"10.2.0.{i + 1}")) for i in range(n)]


def flush_as_watch(e: sp.Engine, c: sp.Consumer, now: int) -> int:
    """Flushes the engine until nothing is due; each successful slice write
    goes to the consumer as the watch event the API server would send."""
    sent = 0
    for _ in range(100):
        ops = e.flush(now)
        if not ops:
            return sent
        for op in ops:
            rv = f"{now}-{op['id']}"
            e.report_success(op["id"], None if op["op"] == "delete" else rv, f"uid-{op['name']}", now)
            if op["kind"] != "CiliumEndpointSlice":
                continue
            obj = copy.deepcopy(op["object"])
            obj["metadata"]["resourceVersion"] = rv
            c.set_now(now)
            c.apply({"type": WATCH_TYPE[op["op"]], "object": obj})
            sent += 1
    raise AssertionError("plan never settled")


def assert_same_view(e: sp.Engine, c: sp.Consumer) -> None:
    """The consumer's IP cache and snapshot agree with the engine's snapshot."""
    want = e.publish()
    got = c.publish()
    assert got.endpoint_count() == want.endpoint_count()
    assert got.ip_count() == want.ip_count()
    assert got.slice_count() == want.slice_count()
    for x in want.endpoints():
        for ip in x["ips"]:
            assert c.lookup_ip(ip) == want.lookup_ip(ip), ip
            assert got.lookup_ip(ip) == want.lookup_ip(ip), ip
            assert got.identity_of_ip(ip) == want.identity_of_ip(ip)
        assert c.endpoint(x["namespace"], x["name"]) == x
        copies = c.copies(x["namespace"], x["name"])
        assert copies is not None and copies["current"] == x["slice"]


def test_consumer_follows_the_engine() -> None:
    e = fast_engine(slicing={"maxEndpointsPerSlice": 20})
    c = sp.Consumer(max_per_slice=20)
    assert e.apply_many(cep_events(100) + other_events(30), 0) == []
    e.initial_sync_done(0)
    assert flush_as_watch(e, c, 0) >= 7
    assert_same_view(e, c)
    # Churn: deletes, IP changes, new endpoints.
    churn = [ev(cep("shop", f"web-{i}", "10.1.0.1"), "DELETED") for i in range(0, 100, 3)]
    churn += [ev(cep("shop", f"web-{i}", f"10.50.0.{i + 1}"), "MODIFIED") for i in range(1, 100, 3)]
    churn += [ev(cep("other", f"new-{i}", f"10.60.0.{i + 1}")) for i in range(25)]
    assert e.apply_many(churn, 10) == []
    assert flush_as_watch(e, c, 10) > 0
    assert_same_view(e, c)
    assert c.lookup_ip("10.1.0.1") is None  # web-0 deleted
    counters = c.counters()
    assert counters["endpoints"] == e.stats()["endpoints"]
    assert counters["deletes"] >= 34 and counters["upserts"] >= 130 + 33 + 25
    assert counters["events_rejected"] == 0
    # Everything goes: slices are deleted, the consumer ends empty.
    gone = [ev(x, "DELETED") for x in [y["object"] for y in cep_events(100) + other_events(30)]]
    gone += [ev(cep("other", f"new-{i}", f"10.60.0.{i + 1}"), "DELETED") for i in range(25)]
    assert e.apply_many(gone, 20) == []
    flush_as_watch(e, c, 20)
    assert_same_view(e, c)
    assert c.counters()["endpoints"] == 0 and c.counters()["ip_cache_size"] == 0


def test_apply_returns_changes_with_old_and_new() -> None:
    c = sp.Consumer()
    added = c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.2"), core_cep("web-2", "10.1.0.3")])))
    assert [(x["op"], x["old"], x["new"] and x["new"]["name"]) for x in added] == [
        ("upsert", None, "web-1"), ("upsert", None, "web-2")]
    new = added[0]["new"]
    assert new is not None
    assert new == {"namespace": "shop", "name": "web-1", "slice": "ces-a", "identity": 1000, "ips": ["10.1.0.2"],
                   "nodeIp": "10.0.0.1", "encryptionKey": 0, "namedPorts": [], "serviceAccount": "default"}
    changed = c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.9", 2000)], "2"), "MODIFIED"))
    kinds = sorted((x["op"], (x["old"] or x["new"] or {"name": ""})["name"]) for x in changed)
    assert kinds == [("delete", "web-2"), ("upsert", "web-1")]
    upsert = next(x for x in changed if x["op"] == "upsert")
    assert upsert["old"] == new and upsert["new"] is not None and upsert["new"]["identity"] == 2000
    delete = next(x for x in changed if x["op"] == "delete")
    assert delete["new"] is None and delete["old"] is not None and delete["old"]["ips"] == ["10.1.0.3"]
    assert c.lookup_ip("10.1.0.2") is None and c.lookup_ip("10.1.0.3") is None
    found = c.lookup_ip("10.1.0.9")
    assert found is not None and found["identity"] == 2000
    assert c.endpoint("shop", "web-2") is None
    # The same content again: no changes.
    assert c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.9", 2000)], "3"), "MODIFIED")) == []


def test_endpoint_in_two_slices_during_a_move() -> None:
    c = sp.Consumer()
    c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.2")])))
    moved = c.apply(ev(ces("ces-b", "shop", [core_cep("web-1", "10.1.0.2")])))
    assert [x["op"] for x in moved] == ["upsert"]
    assert c.copies("shop", "web-1") == {"copies": ["ces-a", "ces-b"], "current": "ces-b"}
    # A delete from the non-current slice changes nothing.
    assert c.apply(ev(ces("ces-a", "shop", [], "2"), "MODIFIED")) == []
    assert c.counters()["stale_deletes"] == 1
    assert c.copies("shop", "web-1") == {"copies": ["ces-b"], "current": "ces-b"}
    assert c.copies("shop", "nope") is None
    found = c.lookup_ip("10.1.0.2")
    assert found is not None and found["slice"] == "ces-b"


def test_apply_json_and_json_lines() -> None:
    c = sp.Consumer()
    a = ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.2")]))
    b = ev(ces("ces-b", "shop", [core_cep("web-2", "10.1.0.3")]))
    assert len(c.apply_json(json.dumps(a))) == 1
    assert len(c.apply_json(bytearray(json.dumps(b).encode()))) == 1
    c2 = sp.Consumer()
    bad_kind = ev(pod("shop", "p", "10.1.0.4", {"app": "x"}))
    data = jsonl([a, bad_kind]) + b"\n   \n{not json\n" + jsonl([b])
    changes, rejected = c2.apply_json_lines(data)
    assert [x["new"] and x["new"]["name"] for x in changes] == ["web-1", "web-2"]
    # Indexes count events (blank lines are not events); lines are 1-based.
    assert [x["index"] for x in changes] == [0, 3]
    assert [(r["index"], r["line"], type(r["error"]).__name__, r["code"], r["number"]) for r in rejected] == [
        (1, 2, "ParseError", "unknown_kind", 102), (2, 5, "ParseError", "malformed_input", 101)]
    assert isinstance(rejected[0]["error"], sp.SliceplaneError)
    assert rejected[0]["error"].code == rejected[0]["code"] and rejected[0]["object"] == rejected[0]["error"].object
    assert c2.apply_json_lines("") == ([], [])
    assert c2.counters()["events_rejected"] == 2
    assert c2.publish().counts() == c.publish().counts()


def test_pod_event_is_unknown_kind() -> None:
    c = sp.Consumer()
    with pytest.raises(sp.ParseError) as ex:
        c.apply(ev(pod("shop", "web-1", "10.1.0.2", {"app": "web"})))
    assert ex.value.code == "unknown_kind" and ex.value.number == 102
    with pytest.raises(sp.ParseError) as ex2:
        c.apply_json(json.dumps(ev(cep("shop", "web-1", "10.1.0.2"))))
    assert ex2.value.code == "unknown_kind"
    with pytest.raises(sp.ParseError) as ex3:
        c.apply({"type": "ADDED", "object": {"kind": "CiliumEndpointSlice", "bad": {1, 2}}})
    assert ex3.value.code == "malformed_input"
    with pytest.raises(TypeError):
        c.apply_json(12)  # type: ignore[arg-type]
    assert c.counters()["endpoints"] == 0


def test_publish_reader_counters_events_and_repr() -> None:
    c = sp.Consumer(max_per_slice=1)
    reader = c.snapshot_reader()
    assert reader.version == 0
    c.set_now(42)
    c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.2"), core_cep("web-2", "10.1.0.3")])))
    assert reader.load().endpoint_count() == 0  # not published yet
    s = c.publish()
    assert s.version == 1 and reader.version == 1
    assert s.fragmentation() == {"slices": 1, "ideal": 2, "ratio": 0.5}
    assert s.identity_labels(1000) is None  # slices carry no labels
    found = reader.lookup_ip("10.1.0.3")
    assert found is not None and found["name"] == "web-2" and reader.identity_of_ip("10.1.0.3") == 1000
    assert c.counters() == {"events_applied": 1, "events_rejected": 0, "entries_skipped": 0, "upserts": 2,
                            "deletes": 0, "slices_seen": 1, "stale_deletes": 0, "slices": 1, "endpoints": 2,
                            "ip_cache_size": 2}
    for x in c.drain_events():
        assert set(x) == {"time", "category", "kind", "severity", "subject", "message"}
    assert c.drain_events() == []
    assert "endpoints=2" in repr(c)


def ip_owners(c: sp.Consumer) -> Dict[str, str]:
    """The published IP cache: IP -> namespace/name."""
    snap = c.publish()
    owners: Dict[str, str] = {}
    for x in snap.endpoints():
        for ip in x["ips"]:
            found = snap.lookup_ip(ip)
            if found is not None:
                owners[ip] = f"{found['namespace']}/{found['name']}"
    return owners


def changed(x: sp.EndpointChange) -> Tuple[str, str]:
    """(op, endpoint name) of one change."""
    view = x["new"] if x["op"] == "upsert" else x["old"]
    assert view is not None
    return x["op"], view["name"]


def endpoint_names(c: sp.Consumer) -> List[str]:
    return sorted(f"{x['namespace']}/{x['name']}" for x in c.publish().endpoints())


def test_malformed_entry_is_skipped_and_reported() -> None:
    """As Cilium's agent: one bad entry costs only itself (issue 13)."""
    bad_key = core_cep("web-2", "10.1.0.3")
    bad_key["encryption"] = {"key": 256}
    bad_id = core_cep("web-4", "10.1.0.5")
    bad_id["id"] = "three hundred"  # not even an integer: skipped too
    c = sp.Consumer()
    c.set_now(9)
    changes = c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.2"), bad_key,
                                               core_cep("web-3", "10.1.0.4"), bad_id])))
    assert [changed(x) for x in changes] == [("upsert", "web-1"), ("upsert", "web-3")]
    assert endpoint_names(c) == ["shop/web-1", "shop/web-3"]
    assert ip_owners(c) == {"10.1.0.2": "shop/web-1", "10.1.0.4": "shop/web-3"}
    counters = c.counters()
    assert (counters["entries_skipped"], counters["events_applied"], counters["events_rejected"]) == (2, 1, 0)
    skipped = [x for x in c.drain_events() if x["kind"] == "entry-skipped"]
    assert [(x["time"], x["category"], x["severity"], x["subject"]) for x in skipped] == [
        (9, "input", "warning", "CiliumEndpointSlice ces-a")] * 2
    assert "endpoints[1].encryption.key" in skipped[0]["message"]
    assert "[malformed_input]" in skipped[1]["message"] and "endpoints[3]" in skipped[1]["message"]
    # A MODIFIED with a bad entry applies its good ones: web-1 changes, web-3 turns bad and leaves.
    bad_ip = core_cep("web-3", "not-an-ip")
    changes = c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.2", 2000), bad_ip]), "MODIFIED"))
    assert [changed(x) for x in changes] == [("delete", "web-3"), ("upsert", "web-1")]
    assert ip_owners(c) == {"10.1.0.2": "shop/web-1"}
    assert c.lookup_ip("10.1.0.2")["identity"] == 2000  # type: ignore[index]
    assert c.counters()["entries_skipped"] == 3


def test_endpoint_without_node_ip_is_live_without_ip_cache_entry() -> None:
    c = sp.Consumer()
    nodeless = core_cep("web-2", "10.1.0.3")
    del nodeless["networking"]["node"]
    c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.2"), nodeless])))
    assert endpoint_names(c) == ["shop/web-1", "shop/web-2"]
    web2 = c.endpoint("shop", "web-2")
    assert web2 is not None and web2["ips"] == ["10.1.0.3"] and web2["nodeIp"] is None
    assert c.lookup_ip("10.1.0.3") is None
    assert ip_owners(c) == {"10.1.0.2": "shop/web-1"}
    assert c.counters()["ip_cache_size"] == 1
    # The node IP arrives for web-2 and goes for web-1.
    nodeless_1 = core_cep("web-1", "10.1.0.2")
    nodeless_1["networking"]["node"] = ""
    c.apply(ev(ces("ces-a", "shop", [nodeless_1, core_cep("web-2", "10.1.0.3")]), "MODIFIED"))
    assert endpoint_names(c) == ["shop/web-1", "shop/web-2"]
    assert ip_owners(c) == {"10.1.0.3": "shop/web-2"}


def test_shared_ip_release_option() -> None:
    for release, owner in [("handover", "shop/web-1"), ("cilium", None)]:
        c = sp.Consumer(shared_ip_release=release)  # type: ignore[arg-type]
        c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.2")])))
        c.apply(ev(ces("ces-b", "shop", [core_cep("web-2", "10.1.0.2", 2000)])))
        assert ip_owners(c) == {"10.1.0.2": "shop/web-2"}
        c.apply(ev(ces("ces-b", "shop", []), "DELETED"))
        assert endpoint_names(c) == ["shop/web-1"]
        found = c.lookup_ip("10.1.0.2")
        assert (found and f"{found['namespace']}/{found['name']}") == owner, release
    with pytest.raises(sp.ValidationError) as ex:
        sp.Consumer(shared_ip_release="sometimes")  # type: ignore[arg-type]
    assert ex.value.code == "invalid_value"


def test_deleted_slice_needs_only_its_name() -> None:
    c = sp.Consumer()
    c.apply(ev(ces("ces-a", "shop", [core_cep("web-1", "10.1.0.2"), core_cep("web-2", "10.1.0.3")])))
    changes = c.apply({"type": "DELETED", "object": {"kind": "CiliumEndpointSlice", "metadata": {"name": "ces-a"},
                                                      "endpoints": [{"name": "web-9", "id": -1}]}})
    assert sorted(changed(x) for x in changes) == [("delete", "web-1"), ("delete", "web-2")]
    assert endpoint_names(c) == [] and ip_owners(c) == {}
    assert c.counters()["events_rejected"] == 0
