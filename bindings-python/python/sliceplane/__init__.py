"""sliceplane: Kubernetes endpoint churn to CiliumEndpointSlices.

A Rust engine with no I/O: feed it watch events (dicts in the shape
``kubectl -o json`` prints, or JSON bytes), call ``flush(now_ms)`` for the
API writes that are due, send them (e.g. through ``CustomObjectsApi``) and
``report`` each outcome. See ``Engine`` and ``Config``.

Errors are ``SliceplaneError`` subclasses with a stable ``code``/``number``.
"""

from typing import Any, Dict, Literal, TypedDict

from ._sliceplane import (
    Config,
    ConfigError,
    Engine,
    ParseError,
    PolicyCluster,
    PolicyError,
    SliceplaneError,
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


__all__ = [
    "Config",
    "ConfigError",
    "Engine",
    "Event",
    "ParseError",
    "PolicyCluster",
    "PolicyError",
    "SliceplaneError",
    "Stats",
    "ValidationError",
    "WritePathError",
    "WriteOp",
    "__version__",
    "error_codes",
]
