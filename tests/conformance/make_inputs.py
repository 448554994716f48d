#!/usr/bin/env python3
"""Writes the input files of the conformance cases (deterministic).

The expected outputs are written by the Rust runner:
    SLICEPLANE_BLESS=1 cargo test -p sliceplane --test conformance
Review the diff of `expected/` before committing it.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def c(v):
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


def write(path, data):
    full = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(full, mode) as f:
        f.write(data)


def ev(t, obj):
    return {"type": t, "object": obj}


def namespace(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}}}


def node(name, ip):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


def pod(ns, name, ip, app, ports=None, sa=None, node_name="node-a", host_ip="172.16.0.1"):
    spec = {"nodeName": node_name, "containers": [{"name": "app", "ports": ports or []}]}
    if sa:
        spec["serviceAccountName"] = sa
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": app}, "uid": "uid-" + name},
            "spec": spec,
            "status": {"phase": "Running", "hostIP": host_ip, "podIP": ip, "podIPs": [{"ip": ip}]}}


# --- engine/stream: every kind of input a batch meets ------------------------
web_ports = [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
             {"name": "dns", "containerPort": 53, "protocol": "UDP"}]
lines = [
    c(ev("ADDED", namespace("shop", {"team": "a"}))),
    c(ev("ADDED", node("node-a", "172.16.0.1"))),
    "",                                                                  # blank: not an event
    c(ev("ADDED", pod("shop", "web-1", "10.0.0.1", "web", web_ports, "web-sa"))),
    c(ev("ADDED", pod("shop", "web-2", "10.0.0.2", "web", web_ports, "web-sa")))[:60],  # truncated
    "Error from server (NotFound): the server could not find it",       # garbage
    c(ev("ADDED", pod("shop", "db-1", "10.0.0.3", "db"))),
    c(ev("ADDED", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}})),  # refused: kind
    c({"apiVersion": "v1", "kind": "List", "items": [
        pod("shop", "cache-1", "10.0.0.4", "cache"),
        pod("shop", "cache-2", "10.0.0.5", "cache", [{"name": "redis", "containerPort": 6379}]),
    ]}),
]
pretty = json.dumps(ev("ADDED", pod("shop", "api-1", "10.0.0.6", "api", [{"name": "grpc", "containerPort": 9090}], "api-sa")),
                    indent=2, sort_keys=True)
text = "\n".join(lines) + "\n" + pretty + "\n"
bad = b'{"type":"ADDED","object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"caf\xe9"}}}\n'
tail = "\n".join([
    c(ev("DELETED", pod("shop", "db-1", "10.0.0.3", "db"))),
    "   ",
    c(ev("MODIFIED", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "shop"},
                      "status": {"podIP": "not-an-ip"}})),
]) + "\n"
write("engine/stream/input.jsonl", text.encode() + bad + tail.encode())
write("engine/stream/case.json", json.dumps(
    {"config": {"source": "pods", "seed": 1}, "flushAt": [0, 60000, 600000]}, indent=2) + "\n")

# --- engine/adopt: server slices adopted, updated and deleted ----------------
def cep(ns, name, ip, ident):
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumEndpoint",
            "metadata": {"name": name, "namespace": ns},
            "status": {"identity": {"id": ident},
                       "networking": {"addressing": [{"ipv4": ip}], "node": "172.16.0.1"},
                       "named-ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                       "service-account": "sa-" + name}}


def ces(name, ns, entries, rv, uid):
    return {"apiVersion": "cilium.io/v2alpha1", "kind": "CiliumEndpointSlice",
            "metadata": {"name": name, "resourceVersion": rv, "uid": uid},
            "namespace": ns, "endpoints": entries}


def entry(name, ip, ident):
    return {"name": name, "id": ident,
            "networking": {"addressing": [{"ipv4": ip}], "node": "172.16.0.1"}}


lines = [
    c(ev("ADDED", namespace("pay"))),
    c(ev("ADDED", cep("pay", "p1", "10.1.0.1", 5001))),
    c(ev("ADDED", cep("pay", "p2", "10.1.0.2", 5002))),
    # The server's slices: one holds p1 (stale: p2 is missing), one holds
    # only endpoints that are gone (deleted with preconditions).
    c(ev("ADDED", ces("ces-held", "pay", [entry("p1", "10.1.0.1", 5001)], "41", "uid-held"))),
    c(ev("ADDED", ces("ces-gone", "pay", [entry("old", "10.1.0.9", 5009)], "42", "uid-gone"))),
]
write("engine/adopt/input.jsonl", "\n".join(lines) + "\n")
write("engine/adopt/case.json", json.dumps(
    {"config": {"source": "ciliumendpoints", "seed": 1}, "flushAt": [0, 60000, 600000]}, indent=2) + "\n")

# --- consumer/stream ----------------------------------------------------------
def centry(name, ip, ident, key=0, ports=None, sa=None):
    e = {"name": name, "id": ident,
         "networking": {"addressing": [{"ipv4": ip}], "node": "192.168.1.1"}}
    if key:
        e["encryption"] = {"key": key}
    if ports:
        e["named-ports"] = ports
    if sa:
        e["service-account"] = sa
    return e


lines = [
    c(ev("ADDED", ces("ces-1", "shop", [centry("a", "10.2.0.1", 7001, 3, [{"name": "http", "port": 80, "protocol": "TCP"}], "sa-a"),
                                        centry("b", "10.2.0.2", 7002)], "1", "u1"))),
    "",
    "not json",
    c(ev("MODIFIED", ces("ces-1", "shop", [centry("b", "10.2.0.2", 7003)], "2", "u1"))),
    c(ev("ADDED", pod("shop", "p", "10.9.9.9", "x"))),   # refused: not a slice
]
text = "\n".join(lines) + "\n"
text += c({"apiVersion": "v1", "kind": "List", "items": [
    ces("ces-2", "web", [centry("c", "10.2.0.3", 7004)], "3", "u2"),
    ces("ces-3", "web", [centry("d", "10.2.0.4", 7005, 0, None, "sa-d")], "4", "u3"),
]}) + "\n"
text += json.dumps(ev("DELETED", ces("ces-2", "web", [], "5", "u2")), indent=2) + "\n"
raw = text.encode() + b'{"type":"ADDED","object":{"kind":"CiliumEndpointSlice","metadata":{"name":"\xff"}}}\n'
raw += c(ev("ADDED", ces("ces-4", "web", [centry("e", "10.2.0.5", 7006)], "6", "u4")))[:50].encode() + b"\n"
write("consumer/stream/input.jsonl", raw)
write("consumer/stream/case.json", json.dumps({"now": 5}, indent=2) + "\n")

# --- policy/probes --------------------------------------------------------------
cluster = {"apiVersion": "v1", "kind": "List", "items": [
    namespace("front"), namespace("back"),
    pod("front", "ui", "10.3.0.1", "ui"),
    pod("back", "api", "10.3.0.2", "api", [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]),
]}
policies = {"apiVersion": "v1", "kind": "List", "items": [{
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "api-from-front", "namespace": "back"},
    "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress"],
             "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "front"}}}],
                          "ports": [{"port": 8080, "protocol": "TCP"}]}]}}]}
probes = [
    {"from": "front/ui", "to": "back/api", "port": 8080},
    {"from": "front/ui", "to": "back/api", "port": "http", "protocol": "tcp"},
    {"from": "front/ui", "to": "back/api", "port": 9090, "protocol": "TCP"},
    {"from": "back/api", "to": "front/ui", "port": 80, "protocol": "UDP"},
    {"from": "10.3.0.1", "to": "10.3.0.2", "port": "8080"},
    {"from": "front/ui", "to": "back/api", "port": 0},
    {"from": "front/ui", "to": "back/api", "port": "0"},
    {"from": "front/ui", "to": "back/api", "port": 65536},
    {"from": "front/ui", "to": "back/api", "port": -1},
    {"from": "front/ui", "to": "back/api", "port": 8080.5},
    {"from": "front/ui", "to": "back/api", "port": "99999"},
    {"from": "front/ui", "to": "back/api", "port": ""},
    {"from": "front/ui", "to": "back/api", "port": True},
    {"from": "front/ui", "to": "back/api", "port": 80, "protocol": "ICMP"},
    {"from": "front/ui", "to": "back/api", "port": 80, "protocol": 6},
    {"from": "front/ui", "port": 80},
    {"from": 1, "to": "back/api", "port": 80},
    {"from": "front/nobody", "to": "back/api", "port": 80},
    {"from": "front/ui", "to": "back/api"},
    ["not", "an", "object"],
]
text = "\n".join(c(p) for p in probes) + "\n"
# A port far beyond u64 (no overflow surprise), then garbage, then a truncated probe.
text += '{"from": "front/ui", "to": "back/api", "port": 184467440737095516160000}\n'
text += "garbage\n"
text += '{"from": "front/ui", "to": \n'
write("policy/probes/cluster.json", json.dumps(cluster, indent=2) + "\n")
write("policy/probes/policies.json", json.dumps(policies, indent=2) + "\n")
write("policy/probes/probes.jsonl", text)
