"""What producers are: :class:`Producer`, and :class:`Production`, one run of them.

Plugins contribute producers (hook ``register_producers``); each computes the
data of one operation, which :mod:`clonesquad_interact.producer` writes into the
State table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .deployment import Deployment
from .errors import PluginError

__all__ = ["Producer", "Production"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Producer:
    """Code that precomputes the data of one operation.

    :param name: the key of the data in the blob: the operation's name
        (``fleet/status``), or a name the operation reads (``metadata``).
    :param compute: ``compute(production) -> value``: the data, JSON-able. It may
        share work with other producers through :meth:`Production.shared`.
    :param summary: one line, for listings and logs.
    """

    name: str
    compute: Callable[[Production], Any]
    summary: str = ""
    #: The name of the plugin that contributed it (filled in when the producers are gathered).
    plugin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip():
            raise PluginError(f"producer {self.name!r}: a name must be non-empty text")
        if not callable(self.compute):
            raise PluginError(f"producer {self.name!r}: compute {self.compute!r} is not callable")


class Production:
    """One run of the producers: the deployment, and values the producers share.

    :param deployment: its settings, clients, tables and configuration are the producers'.
    """

    def __init__(self, deployment: Deployment, *, clock: Callable[[], float] = time.time) -> None:
        #: What the producers use: settings, configuration, tables, clients.
        self.deployment = deployment
        #: Epoch seconds when the run started.
        self.started_at = clock()
        self._shared: dict[str, tuple[bool, Any]] = {}

    def shared(self, key: str, factory: Callable[[], T]) -> T:
        """``factory()``, computed once per run and shared by every producer asking for ``key``.

        A failure is remembered too: every producer that asks for ``key`` fails the same way.
        """
        if key not in self._shared:
            try:
                self._shared[key] = (True, factory())
            except Exception as exc:
                self._shared[key] = (False, exc)
        ok, value = self._shared[key]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]
