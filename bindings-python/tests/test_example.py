"""Drives examples/python_operator.py with a fake API server (no cluster)."""

from __future__ import annotations

import importlib.util
import itertools
import pathlib
import sys
from types import ModuleType
from typing import Any, Dict, Iterable, Iterator, List, Optional

import jsonschema

import sliceplane as sp
from conftest import cep, crd_schema, ev

Obj = Dict[str, Any]
EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python_operator.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("python_operator", EXAMPLE)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["python_operator"] = mod
    spec.loader.exec_module(mod)
    return mod


op_mod = load()


class FakeApi:
    """A tiny API server for cluster-scoped custom objects, with the real
    server's answers: 409 on a taken name or a failed precondition, 404."""

    def __init__(self, initial: List[Obj], events: List[Optional[Obj]], fail_first: int = 0) -> None:
        self.store: Dict[str, Obj] = {}
        self.rv = itertools.count(1)
        self._initial = initial
        self._events = events
        self.fail_first = fail_first
        self.calls: List[str] = []

    def initial(self) -> Iterable[Obj]:
        return list(self._initial) + [ev(o) for o in self.store.values()]

    def watch(self) -> Iterator[Optional[Obj]]:
        yield from self._events

    def _fail(self) -> None:
        if self.fail_first > 0:
            self.fail_first -= 1
            raise op_mod.ApiError(500, "Internal Server Error")

    def create(self, op: Obj) -> Obj:
        self.calls.append("create " + op["name"])
        self._fail()
        if op["name"] in self.store:
            raise op_mod.ApiError(409, "AlreadyExists")
        obj = dict(op["object"])
        obj["metadata"] = {**obj["metadata"], "resourceVersion": str(next(self.rv)), "uid": f"uid-{op['name']}"}
        self.store[op["name"]] = obj
        meta: Obj = obj["metadata"]
        return meta

    def update(self, op: Obj) -> Obj:
        self.calls.append("update " + op["name"])
        self._fail()
        cur = self.store.get(op["name"])
        if cur is None:
            raise op_mod.ApiError(404, "NotFound")
        if op["object"]["metadata"].get("resourceVersion") != cur["metadata"]["resourceVersion"]:
            raise op_mod.ApiError(409, "Conflict")
        obj = dict(op["object"])
        obj["metadata"] = {**obj["metadata"], "resourceVersion": str(next(self.rv)), "uid": cur["metadata"]["uid"]}
        self.store[op["name"]] = obj
        meta: Obj = obj["metadata"]
        return meta

    def delete(self, op: Obj) -> None:
        self.calls.append("delete " + op["name"])
        self._fail()
        cur = self.store.get(op["name"])
        if cur is None:
            raise op_mod.ApiError(404, "NotFound")
        if op["object"]["metadata"].get("uid") not in (None, cur["metadata"]["uid"]):
            raise op_mod.ApiError(409, "Conflict")
        del self.store[op["name"]]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.25
        return self.t


def endpoints_by_slice(slices: Iterable[Obj]) -> Dict[str, List[str]]:
    return {s["metadata"]["name"]: sorted(e["name"] for e in s["endpoints"]) for s in slices if s["endpoints"]}


def run_operator(api: FakeApi, steps: int = 400) -> sp.Engine:
    engine = sp.Engine()
    logs: List[str] = []
    op_mod.run(api, engine, clock=Clock(), log=logs.append, max_steps=steps)
    return engine


def test_operator_converges_with_fake_api() -> None:
    events: List[Optional[Obj]] = [ev(cep("shop", f"web-{i}", f"10.1.0.{i + 1}")) for i in range(150)]
    events += [ev(cep("shop", "web-3", "10.1.0.4"), "DELETED"), {"type": "BOOKMARK", "object": {}}]
    events += [None] * 200
    api = FakeApi([ev(cep("shop", "seed", "10.1.1.1"))], events, fail_first=2)
    engine = run_operator(api)
    assert engine.in_flight() == 0
    assert engine.stats()["dirty_slices"] == 0
    assert endpoints_by_slice(api.store.values()) == endpoints_by_slice(engine.desired_slices())
    assert sum(len(v) for v in endpoints_by_slice(api.store.values()).values()) == 150  # 150 + seed - web-3
    schema = crd_schema("ciliumendpointslices.yaml")
    for obj in api.store.values():
        jsonschema.validate(obj, schema)

    # A restart adopts what the server holds: zero writes.
    ceps = [ev(cep("shop", f"web-{i}", f"10.1.0.{i + 1}")) for i in range(150) if i != 3]
    ceps.append(ev(cep("shop", "seed", "10.1.1.1")))
    api2 = FakeApi(ceps, [None] * 50)
    api2.store = api.store
    run_operator(api2, steps=50)
    assert api2.calls == []


def test_operator_repairs_a_foreign_delete() -> None:
    api = FakeApi([], [ev(cep("shop", f"web-{i}", f"10.1.0.{i + 1}")) for i in range(5)] + [None] * 20)
    run_operator(api)
    (name,) = api.store
    # Someone deletes the slice; a restarted operator recreates it.
    del api.store[name]
    api2 = FakeApi([ev(cep("shop", f"web-{i}", f"10.1.0.{i + 1}")) for i in range(5)], [None] * 20)
    run_operator(api2)
    assert len(api2.store) == 1


def test_real_adapter_is_lazy() -> None:
    assert hasattr(op_mod, "KubernetesApi")
    assert "kubernetes" not in sys.modules  # importing the example does not need the client
