"""PolicyCluster: verdicts over Namespace and Pod dicts."""

from __future__ import annotations

from typing import Any, Dict

import pytest

import sliceplane as sp
from conftest import namespace, pod

POLICY: Dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], "ports": [{"port": 80}]}],
    },
}


def cluster() -> sp.PolicyCluster:
    return sp.PolicyCluster(
        [namespace("shop")],
        [pod("shop", "web", "10.0.0.1", {"app": "web"}), pod("shop", "client", "10.0.0.2", {"app": "client"}),
         pod("shop", "other", "10.0.0.3", {"app": "other"})],
    )


def test_verdicts() -> None:
    c = cluster()
    assert c.identity_of("shop", "web") is not None
    assert c.identity_of("shop", "nope") is None
    assert c.probe("shop/client", "shop/web", 80)["verdict"] == "allow"  # no policy yet
    key = c.upsert_policy(POLICY)
    assert key["name"] == "web" and key["namespace"] == "shop"
    assert c.probe("shop/client", "shop/web", 80)["verdict"] == "allow"
    v = c.probe("shop/other", "shop/web", 80, "TCP")
    assert v["verdict"] == "deny"
    assert v["deciding"][0]["name"] == "web"
    assert c.probe("shop/client", "shop/web", "http")["verdict"] == "allow"  # named port
    assert c.probe("10.0.0.2", "shop/web", 80)["verdict"] == "allow"
    table = c.truth_table(80)
    assert "shop/web" in table
    m = c.matrix(80, "TCP")
    assert len(m["cells"]) == len(c.pods()) == 3
    audited = cluster()
    audited.upsert_policy(POLICY, audit=True)
    assert audited.probe("shop/other", "shop/web", 80)["verdict"] == "audit"


def test_policy_errors() -> None:
    c = cluster()
    bad = {**POLICY, "spec": {**POLICY["spec"], "ingress": [{"ports": [{"port": 70000}]}]}}
    with pytest.raises(sp.PolicyError) as ei:
        c.upsert_policy(bad)
    assert ei.value.code == "invalid_policy" and ei.value.number == 501 and ei.value.field
    l7 = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "l7", "namespace": "shop"},
          "spec": {"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{}]}}]}]}}
    with pytest.raises(sp.PolicyError) as ui:
        c.upsert_policy(l7)
    assert ui.value.code == "unsupported_policy"
    # Rejected policies changed nothing.
    assert c.probe("shop/other", "shop/web", 80)["verdict"] == "allow"
    with pytest.raises(sp.PolicyError) as pi:
        c.probe("shop/ghost", "shop/web", 80)
    assert pi.value.code == "invalid_probe"
    with pytest.raises(sp.PolicyError):
        c.probe("shop/client", "shop/web", 80, "XTP")
    # The core's probe rules, as in every binding and the CLI.
    for port in (0, 2**64, -(2**70), "0", "", True, None, 80.5):
        with pytest.raises(sp.PolicyError) as pe:
            c.probe("shop/client", "shop/web", port)  # type: ignore[arg-type]
        assert (pe.value.code, pe.value.field) == ("invalid_probe", "port"), port
    for bad_port in (0, 70000, 2**90):
        with pytest.raises(sp.PolicyError):
            c.matrix(bad_port)
    with pytest.raises(sp.PolicyError):
        c.truth_table(80, "ICMP")
    with pytest.raises(sp.ParseError):
        sp.PolicyCluster([pod("shop", "web", "10.0.0.1", {})], [])
    with pytest.raises(sp.ConfigError):
        sp.PolicyCluster([], [], {"auditMode": "yes"})
