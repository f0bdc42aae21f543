"""What an operation answers: :class:`Response`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Response", "answer"]


@dataclass(frozen=True, slots=True)
class Response:
    """An answer, before it is rendered for API Gateway, SQS or an in-process caller.

    ``body`` is a JSON-able value (rendered as JSON or YAML per the request's
    ``format``), a ``str`` (rendered as ``text/plain``), or ``None`` (empty).
    ``headers`` are added to the rendered answer (a ``Content-Type`` here wins).
    """

    body: Any = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError(f"a response status must be an HTTP status code, not {self.status!r}")
        for name, value in self.headers.items():
            if not isinstance(name, str) or not isinstance(value, str | int):
                raise ValueError(f"response header {name!r}: {value!r} must be text")
            if any(c in f"{name}{value}" for c in "\r\n\0"):
                raise ValueError(f"response header {name!r}: {value!r} must be one line")

    @property
    def ok(self) -> bool:
        """Whether the status is a success (2xx)."""
        return 200 <= self.status < 300


def answer(body: Any) -> Response:
    """``Response(body=body)``: what the dispatcher makes of an operation's plain return value."""
    return Response(body=body)
