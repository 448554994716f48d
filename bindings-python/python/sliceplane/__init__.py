"""sliceplane: Kubernetes endpoint churn to CiliumEndpointSlices.

A Rust engine with no I/O: feed it watch events (dicts in the shape
``kubectl -o json`` prints, or JSON bytes), call ``flush(now_ms)`` for the
API writes that are due, send them (e.g. through ``CustomObjectsApi``) and
``report`` each outcome. See ``Engine`` and ``Config``.

Errors are ``SliceplaneError`` subclasses with a stable ``code``/``number``.
"""

from typing import Any, Dict, List, Literal, Optional, TypedDict

from ._sliceplane import (
    Config,
    ConfigError,
    Consumer,
    Engine,
    ParseError,
    PolicyCluster,
    PolicyError,
    SliceplaneError,
    Snapshot,
    SnapshotReader,
    ValidationError,
    WritePathError,
    __version__,
    error_codes,
)


class WriteOp(TypedDict):
    """One planned API write, as returned by ``Engine.flush``."""

    id: int
    op: Literal["create", "update", "delete"]
    kind: Literal["CiliumEndpointSlice", "CiliumIdentity"]
    name: str
    group: str
    version: str
    plural: str
    object: Dict[str, Any]


class Stats(TypedDict):
    """``Engine.stats()``."""

    endpoints: int
    endpoints_waiting: int
    slices: int
    dirty_slices: int
    in_flight: int
    identities: int
    namespaces: int
    nodes: int


class Event(TypedDict):
    """One structured event from ``Engine.drain_events``."""

    time: int
    category: str
    kind: str
    severity: str
    subject: str
    message: str


class NamedPort(TypedDict):
    """A named port of an endpoint."""

    name: str
    port: int
    protocol: str


class Endpoint(TypedDict):
    """One endpoint as a snapshot or a consumer shows it."""

    namespace: str
    name: str
    slice: str
    identity: int
    ips: List[str]
    node_ip: Optional[str]
    encryption_key: int
    named_ports: List[NamedPort]
    service_account: Optional[str]


class SliceInfo(TypedDict):
    """One slice in a snapshot (``Snapshot.slice``)."""

    name: str
    namespace: str
    endpoints: List[str]


class NamespaceInfo(TypedDict):
    """One namespace in a snapshot (``Snapshot.namespaces``)."""

    name: str
    slices: int
    endpoints: int


class Counts(TypedDict):
    """``Snapshot.counts()``."""

    endpoints: int
    slices: int
    identities: int
    namespaces: int
    ips: int


class Fragmentation(TypedDict):
    """``Snapshot.fragmentation()``: slices against the ideal count."""

    slices: int
    ideal: int
    ratio: float


class EndpointChange(TypedDict):
    """One endpoint change from ``Consumer.apply``."""

    type: Literal["upsert", "delete"]
    old: Optional[Endpoint]
    new: Optional[Endpoint]


class Copies(TypedDict):
    """``Consumer.copies()``: the slices holding an endpoint."""

    copies: List[str]
    current: str


class ConsumerCounters(TypedDict):
    """``Consumer.counters()``."""

    events_applied: int
    events_rejected: int
    entries_skipped: int
    upserts: int
    deletes: int
    slices_seen: int
    stale_deletes: int
    slices: int
    endpoints: int
    ip_cache_size: int


class _HealthState(TypedDict):
    state: Literal["healthy", "degraded"]


class Health(_HealthState, total=False):
    """``Engine.health()``: ``reason`` is set when degraded."""

    reason: str


__all__ = [
    "Config",
    "ConfigError",
    "Consumer",
    "ConsumerCounters",
    "Copies",
    "Counts",
    "Endpoint",
    "EndpointChange",
    "Engine",
    "Event",
    "Fragmentation",
    "Health",
    "NamedPort",
    "NamespaceInfo",
    "ParseError",
    "PolicyCluster",
    "PolicyError",
    "SliceInfo",
    "SliceplaneError",
    "Snapshot",
    "SnapshotReader",
    "Stats",
    "ValidationError",
    "WriteOp",
    "WritePathError",
    "__version__",
    "error_codes",
]
