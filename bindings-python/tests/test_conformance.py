"""The shared conformance fixtures (``tests/conformance/``, see its README),
run through the Python binding: the same inputs, the same expected outputs
as the Rust, C, Go and Node suites. Outputs are compared as parsed values,
every key present with an equal value and no extra key, so a field the
binding drops or renames fails here."""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any, Dict, List

import pytest

import sliceplane as sp

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent / "tests" / "conformance"


def cases(kind: str) -> List[pathlib.Path]:
    found = sorted(p for p in (ROOT / kind).iterdir() if p.is_dir())
    assert found, f"no {kind} cases in {ROOT}"
    return found


def expected(case: pathlib.Path, name: str) -> Any:
    return json.loads((case / "expected" / name).read_bytes())


def same(got: Any, want: Any, path: str = "$") -> None:
    """Exact equality of parsed JSON values (floats compared as floats,
    bools never equal to ints); the message names the first difference."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: want an object, got {got!r}"
        assert set(got) == set(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list), f"{path}: want a list, got {got!r}"
        assert len(got) == len(want), f"{path}: {len(got)} items, want {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert isinstance(got, float) and math.isclose(got, want, rel_tol=1e-15), f"{path}: {got!r} != {want!r}"
    else:
        assert type(got) is type(want) and got == want, f"{path}: {got!r} != {want!r}"


def wire_rejected(rejected: List[sp.Rejected]) -> List[Dict[str, Any]]:
    """The wire fields of each rejection; its ``error`` (the binding's
    documented extra) must be the same error as a typed exception."""
    out: List[Dict[str, Any]] = []
    for r in rejected:
        d: Dict[str, Any] = dict(r)
        err = d.pop("error")
        assert isinstance(err, sp.SliceplaneError)
        assert (err.code, err.number, err.message, err.object, err.field) == (
            r["code"], r["number"], r["message"], r["object"], r["field"])
        family = {1: sp.ParseError, 2: sp.ValidationError, 3: sp.ConfigError, 4: sp.WritePathError, 5: sp.PolicyError}
        assert isinstance(err, family[r["number"] // 100])
        out.append(d)
    return out


@pytest.mark.parametrize("case", cases("engine"), ids=lambda p: p.name)
def test_engine_case(case: pathlib.Path) -> None:
    spec = json.loads((case / "case.json").read_bytes())
    engine = sp.Engine(sp.Config.from_dict(spec["config"]))
    rejected = engine.apply_json_lines((case / "input.jsonl").read_bytes(), 0)
    same(wire_rejected(rejected), expected(case, "rejected.json"))
    engine.initial_sync_done(0)
    writes: List[sp.WriteOp] = []
    for t in spec["flushAt"]:
        for w in engine.flush(t):
            writes.append(w)
            engine.report_success(w["id"], f"rv-{w['id']}", f"uid-{w['id']}", t)
    same(writes, expected(case, "writes.json"))
    snap = engine.publish()
    same(snap.endpoints(), expected(case, "endpoints.json"))
    same(snap.slices(), expected(case, "slices.json"))


@pytest.mark.parametrize("case", cases("consumer"), ids=lambda p: p.name)
def test_consumer_case(case: pathlib.Path) -> None:
    spec = json.loads((case / "case.json").read_bytes())
    consumer = sp.Consumer()
    consumer.set_now(spec["now"])
    changes, rejected = consumer.apply_json_lines((case / "input.jsonl").read_bytes())
    same(changes, expected(case, "changes.json"))
    same(wire_rejected(rejected), expected(case, "rejected.json"))
    snap = consumer.publish()
    same(snap.endpoints(), expected(case, "endpoints.json"))
    same(snap.slices(), expected(case, "slices.json"))


@pytest.mark.parametrize("case", cases("policy"), ids=lambda p: p.name)
def test_policy_case(case: pathlib.Path) -> None:
    items = json.loads((case / "cluster.json").read_bytes())["items"]
    cluster = sp.PolicyCluster([o for o in items if o["kind"] == "Namespace"],
                               [o for o in items if o["kind"] == "Pod"])
    for policy in json.loads((case / "policies.json").read_bytes())["items"]:
        cluster.upsert_policy(policy)
    answers = cluster.answer_probes((case / "probes.jsonl").read_bytes())
    same(answers, expected(case, "answers.json"))


def test_single_probes_follow_the_same_rules() -> None:
    """``probe()`` with the fixture's probes as Python values: the same
    verdicts, and the same ``invalid_probe`` errors (a port beyond 64 bits
    included: no ``OverflowError``)."""
    case = cases("policy")[0]
    items = json.loads((case / "cluster.json").read_bytes())["items"]
    cluster = sp.PolicyCluster([o for o in items if o["kind"] == "Namespace"],
                               [o for o in items if o["kind"] == "Pod"])
    for policy in json.loads((case / "policies.json").read_bytes())["items"]:
        cluster.upsert_policy(policy)
    want = expected(case, "answers.json")
    checked = 0
    for line, answer in zip((case / "probes.jsonl").read_bytes().splitlines(), want):
        try:
            probe = json.loads(line)
        except ValueError:
            continue  # unreadable: only the stream call sees it
        if not isinstance(probe, dict) or not {"from", "to", "port"} <= probe.keys():
            continue  # probe() takes them as arguments (None is null, not absent)
        args: Any = (probe["from"], probe["to"], probe.get("port"), probe.get("protocol"))
        if "error" in answer:
            with pytest.raises(sp.SliceplaneError) as ei:
                cluster.probe(*args)
            err = ei.value
            same({"code": err.code, "number": err.number, "field": err.field, "message": err.message},
                 answer["error"])
        else:
            verdict = cluster.probe(*args)
            same(verdict, {k: answer[k] for k in ("verdict", "egress", "ingress", "deciding")})
        checked += 1
    assert checked >= 15
    with pytest.raises(sp.PolicyError) as big:
        cluster.probe("front/ui", "back/api", 2**80)
    assert (big.value.code, big.value.field) == ("invalid_probe", "port")


def test_the_comparison_fails_on_a_missing_extra_or_renamed_field() -> None:
    """The runner cannot pass a binding that drops, adds or renames a field."""
    want = expected(cases("engine")[0], "endpoints.json")[0]
    for got in ({k: v for k, v in want.items() if k != "serviceAccount"},
                {**want, "extra": 1},
                {("node_ip" if k == "nodeIp" else k): v for k, v in want.items()},
                {**want, "identity": float(want["identity"])}):
        with pytest.raises(AssertionError):
            same(got, want)
    same(dict(want), want)
