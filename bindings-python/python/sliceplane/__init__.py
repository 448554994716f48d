"""sliceplane: Kubernetes endpoint churn to CiliumEndpointSlices.

A Rust engine with no I/O: feed it watch events (dicts in the shape
``kubectl -o json`` prints, or JSON bytes), call ``flush(now_ms)`` for the
API writes that are due, send them (e.g. through ``CustomObjectsApi``) and
``report`` each outcome. See ``Engine`` and ``Config``.

Errors are ``SliceplaneError`` subclasses with a stable ``code``/``number``.
"""

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

__all__ = [
    "Config",
    "ConfigError",
    "Engine",
    "ParseError",
    "PolicyCluster",
    "PolicyError",
    "SliceplaneError",
    "ValidationError",
    "WritePathError",
    "__version__",
    "error_codes",
]
