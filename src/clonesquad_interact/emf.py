"""Per-operation metrics in CloudWatch's embedded metric format (EMF), opt-in.

With ``CLONESQUAD_INTERACT_METRICS_NAMESPACE`` set, each request's log line also
carries the ``_aws`` metadata that makes CloudWatch Logs extract metrics from
it, as Powertools' ``Metrics`` does: ``Requests`` (1), ``ClientErrors`` (1 for a
4xx), ``ServerErrors`` (1 for a 5xx), each a ``Count``, and ``Latency`` in
``Milliseconds``, with the dimensions that
``CLONESQUAD_INTERACT_METRICS_DIMENSIONS`` lists (comma-separated among
``Operation``, ``Interface``, ``GroupName``; default ``Operation``).
``Operation`` is the route as people read it (``configuration/{key}``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import PluginError

__all__ = ["DIMENSIONS", "ENV_DIMENSIONS", "ENV_NAMESPACE", "RequestMetrics"]

ENV_NAMESPACE = "CLONESQUAD_INTERACT_METRICS_NAMESPACE"
ENV_DIMENSIONS = "CLONESQUAD_INTERACT_METRICS_DIMENSIONS"
#: The dimensions a request line can carry.
DIMENSIONS = ("Operation", "Interface", "GroupName")
_METRICS = (
    {"Name": "Requests", "Unit": "Count"},
    {"Name": "ClientErrors", "Unit": "Count"},
    {"Name": "ServerErrors", "Unit": "Count"},
    {"Name": "Latency", "Unit": "Milliseconds"},
)


@dataclass(frozen=True, slots=True)
class RequestMetrics:
    """The EMF fields of request lines: one namespace, one set of dimensions."""

    namespace: str
    dimensions: tuple[str, ...] = ("Operation",)
    group_name: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RequestMetrics | None:
        """The metrics the environment asks for, or ``None`` (off).

        :raises PluginError: a dimension that is not one of :data:`DIMENSIONS`.
        """
        namespace = environ.get(ENV_NAMESPACE, "").strip()
        if not namespace:
            return None
        names = [n.strip() for n in environ.get(ENV_DIMENSIONS, "Operation").split(",")]
        dimensions = tuple(n for n in names if n)
        unknown = [n for n in dimensions if n not in DIMENSIONS]
        if unknown:
            raise PluginError(
                f"{ENV_DIMENSIONS}: unknown dimension(s) {', '.join(unknown)}; "
                f"choose among {', '.join(DIMENSIONS)}"
            )
        return cls(namespace, dimensions, environ.get("GroupName", ""))

    def fields(
        self, operation: str, interface: str, status: int, duration_ms: float
    ) -> dict[str, Any]:
        """The fields to add to a request's log line."""
        values = {"Operation": operation, "Interface": interface, "GroupName": self.group_name}
        return {
            "_aws": {
                "Timestamp": time.time_ns() // 1_000_000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [list(self.dimensions)],
                        "Metrics": [dict(metric) for metric in _METRICS],
                    }
                ],
            },
            **{name: values[name] or "-" for name in self.dimensions},
            "Requests": 1,
            "ClientErrors": int(400 <= status < 500),
            "ServerErrors": int(status >= 500),
            "Latency": duration_ms,
        }
