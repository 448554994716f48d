"""Type stubs for sliceplane (the compiled module ``sliceplane._sliceplane``)."""

from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Tuple, TypedDict, Union, final

__version__: str

_JsonDict = Dict[str, Any]
"""A Kubernetes object or watch event as JSON data."""

_BytesLike = Union[bytes, bytearray, str]
"""JSON text: bytes, bytearray or str."""

class SliceplaneError(Exception):
    """Base of every sliceplane error, with the stable code kept."""

    code: str
    """Stable snake_case code, e.g. ``"invalid_ip"``."""
    number: int
    """Stable number, e.g. 205 (1xx parse, 2xx validation, 3xx config, 4xx write path, 5xx policy)."""
    object: str
    """The object, e.g. ``"Pod ns/name"``; empty when there is none."""
    field: str
    """The field as a JSON path, e.g. ``"status.podIPs[0].ip"``; empty when none."""
    message: str
    """What was wrong."""

class ParseError(SliceplaneError):
    """The input is not a usable document (malformed_input, unknown_kind, unknown_event_type)."""

class ValidationError(SliceplaneError):
    """A well-formed object with a bad field (codes 2xx)."""

class ConfigError(SliceplaneError):
    """The configuration is invalid (invalid_config)."""

class WritePathError(SliceplaneError):
    """A write outcome the engine cannot take, e.g. an unknown op id (unknown_op)."""

class PolicyError(SliceplaneError):
    """A policy or probe the policy engine rejects (codes 5xx)."""

def error_codes() -> List[Tuple[str, int, str]]:
    """Every stable error code: ``(code, number, exception class name)``."""

class Preconditions(TypedDict):
    """A delete's ``DeleteOptions.preconditions`` (both keys always present)."""

    uid: Optional[str]
    resourceVersion: Optional[str]


class WriteOp(TypedDict):
    """One planned API write, as returned by ``Engine.flush`` (the core's ``wire`` shape)."""

    id: int
    op: Literal["create", "update", "delete"]
    group: str
    version: str
    plural: str
    kind: Literal["CiliumEndpointSlice", "CiliumIdentity"]
    name: str
    object: _JsonDict
    preconditions: Optional[Preconditions]
    """Set on deletes (send as ``DeleteOptions.preconditions``), None otherwise."""


class Rejected(TypedDict):
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

@final
class Config:
    """The engine configuration (immutable); ``Config()`` gives the defaults."""

    def __new__(cls) -> Config:
        """The default configuration (Cilium's behaviour)."""
    @staticmethod
    def from_yaml(text: Union[str, bytes]) -> Config:
        """Parses and validates YAML (an empty document gives the defaults). Raises ``ConfigError``."""
    @staticmethod
    def from_json(text: Union[str, bytes]) -> Config:
        """Parses and validates JSON. Raises ``ConfigError``."""
    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Config:
        """Validates a dict with camelCase keys (unknown keys rejected). Raises ``ConfigError``."""
    def to_dict(self) -> _JsonDict:
        """Every field as a dict; ``Config.from_dict(c.to_dict()) == c``."""
    def to_json(self) -> str:
        """Pretty-printed JSON."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class Engine:
    """The endpoint-slice engine; thread-safe (calls are serialized, the GIL is released)."""

    def __new__(cls, config: Optional[Config] = None) -> Engine:
        """A new engine waiting for its initial sync. Raises ``ConfigError``."""
    @property
    def config(self) -> Config:
        """The configuration the engine runs with."""
    @property
    def synced(self) -> bool:
        """Whether ``initial_sync_done`` was called."""
    def apply(self, event: Union[Mapping[str, Any], _BytesLike], now_ms: int) -> None:
        """Applies one watch event (dict or JSON). Raises; a rejected event changes nothing."""
    def apply_json(self, data: _BytesLike, now_ms: int) -> None:
        """Applies one watch event given as JSON. Raises like ``apply``."""
    def apply_many(
        self, events: Iterable[Union[Mapping[str, Any], _BytesLike]], now_ms: int
    ) -> List[Rejected]:
        """Applies many events (one each); returns the rejected ones (``index`` in the iterable,
        ``line`` = index + 1) instead of raising."""
    def apply_json_lines(self, data: _BytesLike, now_ms: int) -> List[Rejected]:
        """Applies a stream (JSON lines, pretty values, Lists) read by the core's reader in one
        call; returns the rejected events (``index`` among the events, 1-based ``line``)."""
    def initial_sync_done(self, now_ms: int) -> None:
        """Everything observed at start-up has been fed: adopt, assign, place."""
    def flush(self, now_ms: int) -> List[WriteOp]:
        """The writes due at ``now_ms``, in order; each stays in flight until reported."""
    def flush_at_most(self, now_ms: int, max_slice_writes: int) -> List[WriteOp]:
        """``flush`` planning at most ``max_slice_writes`` slice writes (oldest due; identity writes
        not counted); the rest stay dirty, so a caller with ``n`` idle writers asks for ``n``."""
    def report(self, op_id: int, outcome: Mapping[str, Any], now_ms: int) -> None:
        """Reports a write's outcome dict (``{"outcome": "success"|"conflict"|...}``)."""
    def report_success(
        self, op_id: int, resource_version: Optional[str], uid: Optional[str], now_ms: int
    ) -> None:
        """The write succeeded (new resourceVersion and uid; None for deletes)."""
    def report_conflict(self, op_id: int, now_ms: int) -> None:
        """409 on an update/delete precondition."""
    def report_not_found(self, op_id: int, now_ms: int) -> None:
        """404."""
    def report_already_exists(self, op_id: int, now_ms: int) -> None:
        """409 on create: the name is taken."""
    def report_error(self, op_id: int, message: str, now_ms: int) -> None:
        """Any other failure; retried with backoff."""
    def desired_slices(self) -> List[_JsonDict]:
        """The desired CiliumEndpointSlices, sorted by name."""
    def desired_identities(self) -> List[_JsonDict]:
        """The desired CiliumIdentities (pods mode), by number."""
    def stats(self) -> Stats:
        """A summary of the engine's state."""
    def counters(self) -> Dict[str, Any]:
        """Counters of what the engine did."""
    def drain_events(self) -> List[Event]:
        """Events recorded since the last drain."""
    def next_due(self) -> Optional[int]:
        """The earliest time at which ``flush`` could plan something not yet due."""
    def in_flight(self) -> int:
        """Ops awaiting an outcome."""
    def endpoint(self, namespace: str, name: str) -> Optional[Tuple[Optional[str], Optional[int]]]:
        """``(slice_name, identity)`` of an endpoint, or None."""
    def identity_labels(self, id: int) -> Optional[Dict[str, str]]:
        """The security labels (``"source:key"`` -> value) of an identity, or None."""
    def publish(self) -> Snapshot:
        """Publishes a snapshot of the desired state (O(changes)); readable from any thread."""
    def snapshot_reader(self) -> SnapshotReader:
        """A handle from which any thread loads the latest published snapshot, lock-free."""
    def metrics(self) -> str:
        """All metrics in the Prometheus text exposition format (Cilium-compatible names)."""
    def health(self) -> Health:
        """``{"state": "healthy"}`` or ``{"state": "degraded", "reason": ...}``."""
    def resync(self, now_ms: int) -> None:
        """Marks every slice for comparison with the server at the next flush."""
    def observe_apply_seconds(self, seconds: float) -> None:
        """Records a measured apply duration. Raises ``ValidationError`` (invalid_value) if negative or not finite."""
    def observe_publish_seconds(self, seconds: float) -> None:
        """Records a measured publish duration. Raises like ``observe_apply_seconds``."""

@final
class PolicyCluster:
    """Network-policy verdicts over a cluster given as Namespace and Pod dicts."""

    def __new__(
        cls,
        namespaces: Iterable[Mapping[str, Any]],
        pods: Iterable[Mapping[str, Any]],
        config: Optional[Mapping[str, Any]] = None,
    ) -> PolicyCluster:
        """Builds the cluster. Raises ``SliceplaneError`` subclasses."""
    def upsert_policy(self, policy: Mapping[str, Any], audit: bool = False) -> _JsonDict:
        """Adds or replaces a policy; returns its key. Raises ``PolicyError``."""
    def identity_of(self, namespace: str, name: str) -> Optional[int]:
        """The identity number of a pod, or None."""
    def probe(
        self, source: str, destination: str, port: Union[int, str], protocol: Optional[str] = None
    ) -> _JsonDict:
        """The verdict dict for one flow (``{"verdict": "allow"|"deny"|"audit", ...}``); ``protocol``
        None is TCP. A bad probe raises ``PolicyError`` (``invalid_probe``, ``field`` naming it)."""
    def answer_probes(self, data: _BytesLike) -> List[ProbeAnswer]:
        """Answers a stream of probes (JSON lines or values), one answer each; never raises for a bad probe."""
    def truth_table(self, port: Union[int, str], protocol: Optional[str] = None) -> str:
        """The reachability matrix over every pod as a truth table."""
    def matrix(self, port: Union[int, str], protocol: Optional[str] = None) -> _JsonDict:
        """The reachability matrix as a dict."""
    def pods(self) -> List[Any]:
        """Every pod as a peer."""


class NamedPort(TypedDict):
    """A named port of an endpoint."""

    name: str
    port: int
    protocol: str

class Endpoint(TypedDict):
    """One endpoint as a snapshot or a consumer shows it (the core's ``wire`` shape)."""

    namespace: str
    name: str
    slice: str
    identity: int
    ips: List[str]
    nodeIp: Optional[str]
    encryptionKey: int
    namedPorts: List[NamedPort]
    serviceAccount: Optional[str]

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
    """One endpoint change from ``Consumer.apply`` (the core's ``wire`` shape)."""

    index: Optional[int]
    """The event's index in a batch (``apply_json_lines``); None for a single apply."""
    op: Literal["upsert", "delete"]
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

class ProbeError(TypedDict):
    """Why a probe has no verdict."""

    code: str
    number: int
    field: str
    message: str


ProbeAnswer = TypedDict(
    "ProbeAnswer",
    {
        "from": Any,
        "to": Any,
        "port": Any,
        "protocol": Any,
        "verdict": Literal["allow", "deny", "audit"],
        "egress": Dict[str, Any],
        "ingress": Dict[str, Any],
        "deciding": List[Any],
        "error": ProbeError,
    },
    total=False,
)
"""One answer of ``PolicyCluster.answer_probes``: the probe's ``from``, ``to``, ``port`` and
``protocol`` as given, then the verdict's fields or ``error``."""


class _HealthState(TypedDict):
    state: Literal["healthy", "degraded"]

class Health(_HealthState, total=False):
    """``Engine.health()``: ``reason`` is set when degraded."""

    reason: str

@final
class Snapshot:
    """An immutable point-in-time view (engine or consumer); safe to share between threads."""

    @property
    def version(self) -> int:
        """Increases by one with every publish (0: nothing published yet)."""
    def same_content(self, other: Snapshot) -> bool:
        """Whether ``other`` holds the same content (versions aside)."""
    def slice(self, name: str) -> Optional[SliceInfo]:
        """A slice, or None."""
    def slices(self) -> List[SliceInfo]:
        """Every slice."""
    def slices_in_namespace(self, namespace: str) -> List[str]:
        """The slice names of a namespace, sorted."""
    def namespaces(self) -> List[NamespaceInfo]:
        """Every namespace with its slice and endpoint counts."""
    def endpoint(self, namespace: str, name: str) -> Optional[Endpoint]:
        """An endpoint, or None."""
    def endpoints(self) -> List[Endpoint]:
        """Every endpoint."""
    def identity_labels(self, id: int) -> Optional[Dict[str, str]]:
        """The security labels of an identity, or None (consumer snapshots have none)."""
    def identity_by_key(self, key: str) -> Optional[int]:
        """The identity of a canonical labels key, or None."""
    def identities(self) -> List[int]:
        """The identity numbers with labels in the snapshot."""
    def lookup_ip(self, ip: str) -> Optional[Endpoint]:
        """IP -> owning endpoint, or None. Raises ``ValidationError`` (invalid_ip)."""
    def identity_of_ip(self, ip: str) -> Optional[int]:
        """IP -> identity, or None. Raises ``ValidationError`` (invalid_ip)."""
    def counts(self) -> Counts:
        """Endpoint, slice, identity, namespace and IP counts."""
    def endpoint_count(self) -> int:
        """Endpoints in the snapshot."""
    def slice_count(self) -> int:
        """Slices in the snapshot."""
    def identity_count(self) -> int:
        """Distinct identities the endpoints use."""
    def namespace_count(self) -> int:
        """Namespaces with endpoints or slices."""
    def ip_count(self) -> int:
        """Entries in the IP cache."""
    def max_per_slice(self) -> int:
        """The maximum endpoints per slice the fragmentation figures assume."""
    def fragmentation(self, ns: Optional[str] = None) -> Fragmentation:
        """Slices against the ideal, cluster-wide or for one namespace (``ratio`` may be ``inf``)."""

@final
class SnapshotReader:
    """Loads the latest published snapshot from any thread, without locks."""

    def load(self) -> Snapshot:
        """The latest published snapshot."""
    def identity_of_ip(self, ip: str) -> Optional[int]:
        """IP -> identity in the latest snapshot, or None. Raises ``ValidationError`` (invalid_ip)."""
    def lookup_ip(self, ip: str) -> Optional[Endpoint]:
        """IP -> endpoint in the latest snapshot, or None. Raises ``ValidationError`` (invalid_ip)."""
    @property
    def version(self) -> int:
        """The latest published version."""

@final
class Consumer:
    """The node agent's view of CiliumEndpointSlices; thread-safe (calls are serialized, the GIL is released)."""

    def __new__(
        cls, max_per_slice: Optional[int] = None, shared_ip_release: Literal["handover", "cilium"] = "handover"
    ) -> Consumer:
        """A consumer; ``max_per_slice`` (default 100) only affects fragmentation figures;
        ``shared_ip_release``: when the owner of an IP another live endpoint also claims goes,
        ``"handover"`` gives the entry to that claimant, ``"cilium"`` removes it (Cilium's agent)."""
    def apply(self, event: Union[Mapping[str, Any], _BytesLike]) -> List[EndpointChange]:
        """Applies one CiliumEndpointSlice watch event; returns the endpoint changes. Raises."""
    def apply_json(self, data: _BytesLike) -> List[EndpointChange]:
        """Applies one watch event given as JSON. Raises like ``apply``."""
    def apply_json_lines(self, data: _BytesLike) -> Tuple[List[EndpointChange], List[Rejected]]:
        """Applies a stream in one call: ``(changes, rejected)``, as ``Engine.apply_json_lines``."""
    def publish(self) -> Snapshot:
        """Publishes a snapshot of what the consumer holds."""
    def snapshot_reader(self) -> SnapshotReader:
        """A handle from which any thread loads the latest published snapshot."""
    def counters(self) -> ConsumerCounters:
        """Counters of what the consumer did."""
    def drain_events(self) -> List[Event]:
        """Events recorded since the last drain."""
    def set_now(self, now_ms: int) -> None:
        """The caller's time (ms) stamped on events from now on."""
    def endpoint(self, namespace: str, name: str) -> Optional[Endpoint]:
        """The current view of an endpoint (not waiting for a publish), or None."""
    def copies(self, namespace: str, name: str) -> Optional[Copies]:
        """The slices holding a copy of an endpoint, or None."""
    def lookup_ip(self, ip: str) -> Optional[Endpoint]:
        """IP -> owning endpoint now, or None. Raises ``ValidationError`` (invalid_ip)."""


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
