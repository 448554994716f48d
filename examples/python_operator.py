"""A minimal CiliumEndpointSlice operator on sliceplane (Python).

    watch CiliumEndpoints -> Engine -> writes through CustomObjectsApi

The Kubernetes API sits behind the small ``Api`` interface (``initial``,
``watch``, ``create``, ``update``, ``delete``), so tests drive the loop
with a fake and no cluster. ``KubernetesApi`` is the real adapter; it
imports the official ``kubernetes`` client lazily.

Run against the current kubeconfig context:

    pip install ./bindings-python kubernetes
    python examples/python_operator.py
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Protocol

import sliceplane

Obj = Dict[str, Any]


class ApiError(Exception):
    """An API call failed with an HTTP status (409, 404, 500 ...)."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(f"{status} {reason}".strip())
        self.status = status
        self.reason = reason


class Api(Protocol):
    """What the operator needs from the API server."""

    def initial(self) -> Iterable[Obj]:
        """Everything the server holds now, as watch events: CiliumEndpoints
        and CiliumEndpointSlices (the latter for adoption)."""
        ...

    def watch(self) -> Iterator[Optional[Obj]]:
        """Watch events after ``initial``; ``None`` is a tick (no event for a
        while) that lets the loop flush due writes. Ends when the operator stops."""
        ...

    def create(self, op: Obj) -> Obj:
        """Creates ``op["object"]``; returns the created object's metadata."""
        ...

    def update(self, op: Obj) -> Obj:
        """Replaces ``op["object"]`` (carries metadata.resourceVersion); returns the new metadata."""
        ...

    def delete(self, op: Obj) -> None:
        """Deletes ``op["name"]`` with the uid/resourceVersion preconditions of ``op["object"]``."""
        ...


def send(api: Api, engine: sliceplane.Engine, now_ms: int) -> int:
    """Sends every write due at ``now_ms`` and reports each outcome. Returns the count."""
    ops = engine.flush(now_ms)
    for op in ops:
        op_dict: Obj = dict(op)
        try:
            if op["op"] == "create":
                meta = api.create(op_dict)
                engine.report_success(op["id"], meta.get("resourceVersion"), meta.get("uid"), now_ms)
            elif op["op"] == "update":
                meta = api.update(op_dict)
                engine.report_success(op["id"], meta.get("resourceVersion"), meta.get("uid"), now_ms)
            else:
                api.delete(op_dict)
                engine.report_success(op["id"], None, None, now_ms)
        except ApiError as e:
            if e.status == 409 and op["op"] == "create":
                engine.report_already_exists(op["id"], now_ms)
            elif e.status == 409:
                engine.report_conflict(op["id"], now_ms)
            elif e.status == 404:
                engine.report_not_found(op["id"], now_ms)
            else:
                engine.report_error(op["id"], str(e), now_ms)
    return len(ops)


def run(
    api: Api,
    engine: sliceplane.Engine,
    clock: Callable[[], float] = time.monotonic,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    max_steps: Optional[int] = None,
) -> None:
    """The operator loop: initial list, adoption, then watch -> apply -> flush -> write."""

    def now() -> int:
        return int(clock() * 1000)

    for rejected in engine.apply_many(api.initial(), now()):
        log(f"initial object {rejected['index']} rejected: {rejected['error']}")
    engine.initial_sync_done(now())
    steps = 0
    for event in api.watch():
        if event is not None:
            try:
                engine.apply(event, now())
            except sliceplane.SliceplaneError as err:
                log(f"event rejected [{err.code}] {err.object} {err.field}: {err.message}")
        send(api, engine, now())
        for e in engine.drain_events():
            if e["severity"] in ("warning", "error"):
                log(f"{e['kind']}: {e['subject']} {e['message']}")
        steps += 1
        if max_steps is not None and steps >= max_steps:
            break


class KubernetesApi:
    """The real adapter, on the official ``kubernetes`` client."""

    GROUP = "cilium.io"

    def __init__(self, tick_seconds: int = 1) -> None:
        from kubernetes import client, config  # lazy: tests need no cluster nor client

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        self.client = client
        self.api = client.CustomObjectsApi()
        self.tick_seconds = tick_seconds
        self.resource_version: Optional[str] = None

    def _list(self, version: str, plural: str, kind: str) -> List[Obj]:
        out = self.api.list_cluster_custom_object(self.GROUP, version, plural)
        if plural == "ciliumendpoints":
            self.resource_version = out["metadata"].get("resourceVersion")
        items: List[Obj] = out.get("items", [])
        for item in items:
            item.setdefault("apiVersion", f"{self.GROUP}/{version}")
            item.setdefault("kind", kind)
        return items

    def initial(self) -> Iterable[Obj]:
        objs = self._list("v2alpha1", "ciliumendpointslices", "CiliumEndpointSlice")
        objs += self._list("v2", "ciliumendpoints", "CiliumEndpoint")
        return [{"type": "ADDED", "object": o} for o in objs]

    def watch(self) -> Iterator[Optional[Obj]]:
        from kubernetes import watch

        while True:
            w = watch.Watch()
            for ev in w.stream(
                self.api.list_cluster_custom_object,
                self.GROUP,
                "v2",
                "ciliumendpoints",
                resource_version=self.resource_version,
                timeout_seconds=self.tick_seconds,
            ):
                if ev["type"] == "ERROR":  # e.g. 410 Gone: start again from now
                    self.resource_version = None
                    break
                obj: Obj = ev["object"]
                self.resource_version = obj.get("metadata", {}).get("resourceVersion", self.resource_version)
                yield {"type": ev["type"], "object": obj}
            yield None  # tick

    def _call(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return f(*args, **kwargs)
        except ApiException as e:
            raise ApiError(int(e.status or 0), str(e.reason)) from e

    def create(self, op: Obj) -> Obj:
        out = self._call(self.api.create_cluster_custom_object, op["group"], op["version"], op["plural"], op["object"])
        meta: Obj = out["metadata"]
        return meta

    def update(self, op: Obj) -> Obj:
        out = self._call(
            self.api.replace_cluster_custom_object, op["group"], op["version"], op["plural"], op["name"], op["object"]
        )
        meta: Obj = out["metadata"]
        return meta

    def delete(self, op: Obj) -> None:
        meta = op["object"]["metadata"]
        pre = self.client.V1Preconditions(uid=meta.get("uid"), resource_version=meta.get("resourceVersion"))
        body = self.client.V1DeleteOptions(preconditions=pre)
        self._call(self.api.delete_cluster_custom_object, op["group"], op["version"], op["plural"], op["name"], body=body)


def main() -> None:
    engine = sliceplane.Engine(sliceplane.Config.from_yaml(open(sys.argv[1]).read()) if len(sys.argv) > 1 else None)
    run(KubernetesApi(), engine)


if __name__ == "__main__":
    main()
