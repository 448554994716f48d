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


class Preconditions(_t.TypedDict):
    """A delete's ``DeleteOptions.preconditions`` (both keys always present)."""

    uid: _t.Optional[str]
    resourceVersion: _t.Optional[str]


class WriteOp(_t.TypedDict):
    """One planned API write, as returned by ``Engine.flush`` (the core's ``wire`` shape)."""

    id: int
    op: _t.Literal["create", "update", "delete"]
    group: str
    version: str
    plural: str
    kind: _t.Literal["CiliumEndpointSlice", "CiliumIdentity"]
    name: str
    object: _t.Dict[str, _t.Any]
    preconditions: _t.Optional[Preconditions]
    """Set on deletes (send as ``DeleteOptions.preconditions``), None otherwise."""


class Rejected(_t.TypedDict):
    """An event a batch call did not apply (the core's ``wire`` shape, plus ``error``)."""

    index: int
    """0-based position among the batch's events."""
    line: int
    """1-based line the event is reported at."""
    code: str
    number: int
    message: str
    object: str
    field: str
    error: SliceplaneError
    """The same error as an exception instance (not raised)."""


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
    """One endpoint as a snapshot or a consumer shows it (the core's ``wire`` shape)."""

    namespace: str
    name: str
    slice: str
    identity: int
    ips: _t.List[str]
    nodeIp: _t.Optional[str]
    encryptionKey: int
    namedPorts: _t.List[NamedPort]
    serviceAccount: _t.Optional[str]


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
    """One endpoint change from ``Consumer.apply`` (the core's ``wire`` shape)."""

    index: _t.Optional[int]
    """The event's index in a batch (``apply_json_lines``); None for a single apply."""
    op: _t.Literal["upsert", "delete"]
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


class ProbeError(_t.TypedDict):
    """Why a probe has no verdict."""

    code: str
    number: int
    field: str
    message: str


ProbeAnswer = _t.TypedDict(
    "ProbeAnswer",
    {
        "from": _t.Any,
        "to": _t.Any,
        "port": _t.Any,
        "protocol": _t.Any,
        "verdict": _t.Literal["allow", "deny", "audit"],
        "egress": _t.Dict[str, _t.Any],
        "ingress": _t.Dict[str, _t.Any],
        "deciding": _t.List[_t.Any],
        "error": ProbeError,
    },
    total=False,
)
"""One answer of ``PolicyCluster.answer_probes``: the probe's ``from``, ``to``, ``port`` and
``protocol`` as given, then the verdict's fields or ``error``."""


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
    "Preconditions",
    "ProbeAnswer",
    "ProbeError",
    "Rejected",
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
