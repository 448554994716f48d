"""sliceplane: Kubernetes endpoint churn to CiliumEndpointSlices.

A Rust engine with no I/O: feed it watch events (dicts in the shape
``kubectl -o json`` prints, or JSON bytes), call ``flush(now_ms)`` for the
API writes that are due, send them (e.g. through ``CustomObjectsApi``) and
``report`` each outcome. See ``Engine`` and ``Config``.

Errors are ``SliceplaneError`` subclasses with a stable ``code``/``number``.
"""

# typing under a private name: `import sliceplane` exports only `__all__`.
import typing as _t

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


class WriteOp(_t.TypedDict):
    """One planned API write, as returned by ``Engine.flush``."""

    id: int
    op: _t.Literal["create", "update", "delete"]
    kind: _t.Literal["CiliumEndpointSlice", "CiliumIdentity"]
    name: str
    group: str
    version: str
    plural: str
    object: _t.Dict[str, _t.Any]


class Stats(_t.TypedDict):
    """``Engine.stats()``."""

    endpoints: int
    endpoints_waiting: int
    slices: int
    dirty_slices: int
    in_flight: int
    identities: int
    namespaces: int
    nodes: int


class Event(_t.TypedDict):
    """One structured event from ``Engine.drain_events``."""

    time: int
    category: str
    kind: str
    severity: str
    subject: str
    message: str


class NamedPort(_t.TypedDict):
    """A named port of an endpoint."""

    name: str
    port: int
    protocol: str


class Endpoint(_t.TypedDict):
    """One endpoint as a snapshot or a consumer shows it."""

    namespace: str
    name: str
    slice: str
    identity: int
    ips: _t.List[str]
    node_ip: _t.Optional[str]
    encryption_key: int
    named_ports: _t.List[NamedPort]
    service_account: _t.Optional[str]


class SliceInfo(_t.TypedDict):
    """One slice in a snapshot (``Snapshot.slice``)."""

    name: str
    namespace: str
    endpoints: _t.List[str]


class NamespaceInfo(_t.TypedDict):
    """One namespace in a snapshot (``Snapshot.namespaces``)."""

    name: str
    slices: int
    endpoints: int


class Counts(_t.TypedDict):
    """``Snapshot.counts()``."""

    endpoints: int
    slices: int
    identities: int
    namespaces: int
    ips: int


class Fragmentation(_t.TypedDict):
    """``Snapshot.fragmentation()``: slices against the ideal count."""

    slices: int
    ideal: int
    ratio: float


class EndpointChange(_t.TypedDict):
    """One endpoint change from ``Consumer.apply``."""

    type: _t.Literal["upsert", "delete"]
    old: _t.Optional[Endpoint]
    new: _t.Optional[Endpoint]


class Copies(_t.TypedDict):
    """``Consumer.copies()``: the slices holding an endpoint."""

    copies: _t.List[str]
    current: str


class ConsumerCounters(_t.TypedDict):
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


class _HealthState(_t.TypedDict):
    state: _t.Literal["healthy", "degraded"]


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
