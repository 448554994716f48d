"""Shared fixtures: event builders and the CRD schemas from ../shared/schemas."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Dict, List, Optional

import pytest
import yaml

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent


def schemas_dir() -> Optional[pathlib.Path]:
    """The CRD schemas: $SLICEPLANE_SCHEMAS, else shared/ beside the repo (or inside it)."""
    candidates = []
    if os.environ.get("SLICEPLANE_SCHEMAS"):
        candidates.append(pathlib.Path(os.environ["SLICEPLANE_SCHEMAS"]))
    candidates += [REPO.parent / "shared" / "schemas", REPO / "shared" / "schemas"]
    for c in candidates:
        if (c / "ciliumendpointslices.yaml").exists():
            return c
    return None


def crd_schema(file: str) -> Dict[str, Any]:
    d = schemas_dir()
    if d is None:
        pytest.skip("shared/schemas not found beside the repo")
    crd = yaml.safe_load((d / file).read_text())
    schema: Dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def cep(ns: str, name: str, ip: str, identity: int = 1000, node: str = "10.0.0.1") -> Dict[str, Any]:
    """A CiliumEndpoint object."""
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumEndpoint",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}"},
        "status": {
            "identity": {"id": identity, "labels": [f"k8s:app={name.split('-')[0]}"]},
            "networking": {"addressing": [{"ipv4": ip}], "node": node},
            "encryption": {"key": 0},
            "named-ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "service-account": "default",
        },
    }


def ev(obj: Dict[str, Any], type_: str = "ADDED") -> Dict[str, Any]:
    return {"type": type_, "object": obj}


def cep_events(n: int, ns: str = "shop") -> List[Dict[str, Any]]:
    return [ev(cep(ns, f"web-{i}", f"10.1.{i // 250}.{i % 250 + 1}")) for i in range(n)]


def namespace(name: str, labels: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def node(name: str, ip: str) -> Dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def pod(ns: str, name: str, ip: str, labels: Dict[str, str], node_name: str = "node-1") -> Dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": labels},
        "spec": {
            "nodeName": node_name,
            "serviceAccountName": "default",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}]}],
        },
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.16.0.1"},
    }


def jsonl(events: List[Dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(e) for e in events) + "\n").encode()
