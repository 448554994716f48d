"""Snapshots and snapshot readers: every method, bad IPs, and readers in
other threads while the engine changes (DESIGN.md §6)."""

from __future__ import annotations

import math
import threading
from typing import Dict, List

import pytest

import sliceplane as sp
from conftest import cep, cep_events, ev
from test_engine import fast_engine, settle


def synced_engine(n: int = 5) -> sp.Engine:
    e = fast_engine()
    assert e.apply_many(cep_events(n), 0) == []
    e.initial_sync_done(0)
    settle(e)
    return e


def test_snapshot_methods() -> None:
    e = synced_engine()
    reader = e.snapshot_reader()
    assert reader.version == 0 and reader.load().version == 0
    assert reader.load().endpoint_count() == 0
    s = e.publish()
    assert isinstance(s, sp.Snapshot) and s.version == 1 and reader.version == 1
    assert "version=1" in repr(s) and "version=1" in repr(reader)
    assert s.counts() == {"endpoints": 5, "slices": 1, "identities": 1, "namespaces": 1, "ips": 5}
    assert (s.endpoint_count(), s.slice_count(), s.identity_count(), s.namespace_count(), s.ip_count()) == (5, 1, 1, 1, 5)
    assert s.max_per_slice() == 100
    web0 = s.endpoint("shop", "web-0")
    assert web0 is not None
    assert web0 == {
        "namespace": "shop",
        "name": "web-0",
        "slice": web0["slice"],
        "identity": 1000,
        "ips": ["10.1.0.1"],
        "nodeIp": "10.0.0.1",
        "encryptionKey": 0,
        "namedPorts": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "serviceAccount": "default",
    }
    assert s.endpoint("shop", "nope") is None
    assert sorted(x["name"] for x in s.endpoints()) == [f"web-{i}" for i in range(5)]
    sl = s.slice(web0["slice"])
    assert sl == {"name": web0["slice"], "namespace": "shop", "endpoints": [f"web-{i}" for i in range(5)]}
    assert s.slice("ces-nope") is None
    assert s.slices() == [sl]
    assert s.slices_in_namespace("shop") == [web0["slice"]] and s.slices_in_namespace("x") == []
    assert s.namespaces() == [{"name": "shop", "slices": 1, "endpoints": 5}]
    assert s.lookup_ip("10.1.0.1") == web0 and s.lookup_ip("10.9.9.9") is None
    assert s.identity_of_ip("10.1.0.1") == 1000 and s.identity_of_ip("::1") is None
    assert reader.lookup_ip("10.1.0.1") == web0 and reader.identity_of_ip("10.1.0.1") == 1000
    assert reader.lookup_ip("10.9.9.9") is None and reader.identity_of_ip("10.9.9.9") is None
    assert s.fragmentation() == {"slices": 1, "ideal": 1, "ratio": 1.0}
    assert s.fragmentation("shop") == {"slices": 1, "ideal": 1, "ratio": 1.0}
    assert s.fragmentation(ns="none") == {"slices": 0, "ideal": 0, "ratio": 1.0}
    # CEP source: identities come from the CEPs, their labels are not the engine's.
    assert isinstance(s.identities(), list)
    assert s.identity_labels(99999) is None and s.identity_by_key("nope") is None
    assert s.same_content(reader.load()) and s.same_content(e.publish())


def test_snapshot_is_immutable_and_reader_follows() -> None:
    e = synced_engine()
    old = e.publish()
    e.apply(ev(cep("shop", "web-0", "10.1.0.1"), "DELETED"), 1)
    e.apply(ev(cep("shop", "new", "10.7.0.1")), 1)
    settle(e, 1)
    reader = e.snapshot_reader()
    assert reader.version == 1  # nothing published yet
    new = e.publish()
    assert (old.version, new.version, reader.version) == (1, 2, 2)
    assert old.endpoint("shop", "web-0") is not None and old.lookup_ip("10.7.0.1") is None
    assert new.endpoint("shop", "web-0") is None and new.lookup_ip("10.1.0.1") is None
    found = new.lookup_ip("10.7.0.1")
    assert found is not None and found["name"] == "new"
    assert not old.same_content(new)


def test_pods_source_snapshot_has_identity_labels() -> None:
    from conftest import namespace, node, pod

    e = sp.Engine(sp.Config.from_dict({"source": "pods", "write": {"syncDelayMs": 0}}))
    assert e.apply_many([ev(namespace("shop")), ev(node("node-1", "172.16.0.1")),
                         ev(pod("shop", "web-1", "10.1.0.2", {"app": "web"}))], 0) == []
    e.initial_sync_done(0)
    s = e.publish()
    ident = s.identity_of_ip("10.1.0.2")
    assert ident is not None and ident in s.identities()
    labels = s.identity_labels(ident)
    assert labels is not None and labels.get("k8s:app") == "web"


@pytest.mark.parametrize("bad", ["", "10.0.0", "not-an-ip", "10.0.0.1/32", "::g"])
def test_bad_ip_raises_validation_error(bad: str) -> None:
    e = synced_engine()
    s = e.publish()
    reader = e.snapshot_reader()
    c = sp.Consumer()
    for call in (s.lookup_ip, s.identity_of_ip, reader.lookup_ip, reader.identity_of_ip, c.lookup_ip):
        with pytest.raises(sp.ValidationError) as ex:
            call(bad)
        assert ex.value.code == "invalid_ip" and ex.value.field == "ip"


def test_fragmentation_counts_slices_against_the_ideal() -> None:
    e = fast_engine(slicing={"maxEndpointsPerSlice": 10})
    assert e.apply_many(cep_events(25), 0) == []
    e.initial_sync_done(0)
    settle(e)
    s = e.publish()
    assert s.max_per_slice() == 10
    f = s.fragmentation()
    assert f["ideal"] == 3 and f["slices"] >= 3
    assert math.isclose(f["ratio"], f["slices"] / 3)
    assert s.fragmentation("shop") == f
    assert sp.Consumer().publish().fragmentation() == {"slices": 0, "ideal": 0, "ratio": 1.0}


# ---------------------------------------------------------------- threads


def check_consistent(s: sp.Snapshot) -> None:
    """Everything in one snapshot agrees with itself."""
    endpoints = s.endpoints()
    assert len(endpoints) == s.endpoint_count()
    ips = 0
    slices: Dict[str, List[str]] = {}
    for x in endpoints:
        for ip in x["ips"]:
            ips += 1
            owner = s.lookup_ip(ip)
            assert owner is not None and (owner["namespace"], owner["name"]) == (x["namespace"], x["name"]), ip
            assert s.identity_of_ip(ip) == x["identity"]
        slices.setdefault(x["slice"], []).append(x["name"])
    assert ips == s.ip_count()
    for name, members in slices.items():
        sl = s.slice(name)
        assert sl is not None and sorted(members) == sorted(sl["endpoints"])


def test_snapshot_readers_in_threads_while_the_engine_changes() -> None:
    """Reader threads load snapshots (no engine lock) while the main thread
    applies churn and publishes: each snapshot is consistent, versions only grow."""
    e = fast_engine()
    assert e.apply_many(cep_events(200), 0) == []
    e.initial_sync_done(0)
    settle(e)
    e.publish()
    reader = e.snapshot_reader()
    stop = threading.Event()
    errors: List[BaseException] = []
    seen: List[List[int]] = []

    def read(k: int) -> None:
        versions: List[int] = []
        try:
            last = 0
            while not stop.is_set() or not versions:
                s = reader.load()
                assert s.version >= last
                last = s.version
                versions.append(s.version)
                check_consistent(s)
                assert reader.version >= last
                hit = reader.lookup_ip(f"10.1.0.{k + 1}")
                assert hit is None or hit["namespace"] == "shop"
        except BaseException as x:  # noqa: BLE001
            errors.append(x)
        seen.append(versions)

    threads = [threading.Thread(target=read, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    now = 0
    for rnd in range(1, 41):
        now += 1
        batch = []
        for i in range(rnd % 5, 200, 5):
            name = f"web-{i}"
            if rnd % 3 == 0:
                batch.append(ev(cep("shop", name, f"10.{100 + rnd}.{i // 250}.{i % 250 + 1}"), "MODIFIED"))
            elif rnd % 3 == 1:
                batch.append(ev(cep("shop", name, "10.1.0.1"), "DELETED"))
            else:
                batch.append(ev(cep("shop", name, f"10.{150 + rnd}.{i // 250}.{i % 250 + 1}")))
        batch += [ev(cep(f"ns-{rnd % 7}", f"x-{rnd}-{j}", f"10.{200 + rnd % 50}.{rnd}.{j + 1}")) for j in range(20)]
        assert e.apply_many(batch, now) == []
        for op in e.flush(now):
            e.report_success(op["id"], str(now), f"uid-{op['name']}", now)
        s = e.publish()
        check_consistent(s)
    stop.set()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    assert errors == []
    assert len(seen) == 4
    for versions in seen:
        assert versions == sorted(versions)
    assert max(max(v) for v in seen) >= 2
    final = reader.load()
    assert final.version == 41
    check_consistent(final)
