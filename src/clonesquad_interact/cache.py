"""Answers kept in a warm container, for operations that declare a cache policy.

An operation declared with ``cache="shared"`` or ``cache="per-caller"``
(:class:`~clonesquad_interact.CachePolicy`) may have its successful ``GET``
answers served again. The key is made of the method, the operation, the name as
called, the sorted parameters and, for ``per-caller``, the caller's ARN, principal id
and account (``userArn``, ``caller`` and ``accountId``: an answer is for that
identity alone).

An answer is served again only while:

* the State table's ``cache.last_write_index`` is the value it was when the answer
  was stored (one ``GetItem`` per cacheable request checks it; a deployment with
  no State table, or a State table that cannot be read, caches nothing);
* no write has been served by this container since (any ``POST`` or SQS message
  empties the cache, whatever its outcome; an answer computed while a write was
  served, or while the write index changed, is not kept);
* it is younger than ``max_age`` seconds, and among the ``max_entries`` most
  recently used.

Every answer of a cacheable operation carries :data:`CACHE_HEADER` (``hit`` or
``miss``); a hit also has its :data:`~clonesquad_interact.precomputed.AGE_HEADER`
aged by the time it spent in the cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

import structlog

from .middleware import CallNext
from .operation import CachePolicy, Operation
from .precomputed import AGE_HEADER, LAST_WRITE_INDEX_KEY, state_table
from .request import Interface, Request
from .response import Response

__all__ = ["CACHE_HEADER", "ResponseCache"]

logger = structlog.get_logger(__name__)

#: Response header: ``hit`` (served from the cache) or ``miss``.
CACHE_HEADER = "X-Clonesquad-Cache"


class _Unknown:
    """The write index could not be read: nothing can be served from the cache."""


_UNKNOWN = _Unknown()


class ResponseCache:
    """The dispatcher's cache of answers (a middleware, innermost in the chain).

    :param max_entries: answers kept at most (the least recently used goes first).
    :param max_age: seconds an answer is kept at most.
    :param clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        max_entries: int = 256,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Response]] = OrderedDict()
        self._index: str | _Unknown | None = _UNKNOWN
        #: Changes with every :meth:`clear` and write index change: an answer computed
        #: across one (a write served meanwhile) may be stale, and is not kept.
        self._generation = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every answer, and those being computed."""
        with self._lock:
            self._entries.clear()
            self._generation += 1

    @staticmethod
    def needed(request: Request, operation: Operation) -> bool:
        """Whether the cache has anything to do for ``request``: a write to clear it
        for, or a cacheable operation. When it has not, it only calls the next step,
        and the dispatcher leaves it out of the chain."""
        return (
            operation.cache is not CachePolicy.NONE
            or request.method != "GET"
            or request.interface is Interface.SQS
        )

    def __call__(self, request: Request, operation: Operation, call_next: CallNext) -> Response:
        if request.method != "GET" or request.interface is Interface.SQS:
            try:
                return call_next(request)
            finally:
                self.clear()
        if operation.cache is CachePolicy.NONE:
            return call_next(request)
        key = self.key(request, operation)
        index = _write_index(request) if key is not None else _UNKNOWN
        if key is None or isinstance(index, _Unknown):
            return _miss(call_next(request))
        now = self.clock()
        with self._lock:
            if index != self._index:
                self._entries.clear()
                self._index = index
                self._generation += 1
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.max_age:
                self._entries.move_to_end(key)
                return _hit(entry[1], now - entry[0])
            generation = self._generation
        response = call_next(request)
        if response.status == 200:
            with self._lock:
                if generation == self._generation:
                    self._entries[key] = (now, response)
                    self._entries.move_to_end(key)
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
        return _miss(response)

    @staticmethod
    def key(request: Request, operation: Operation) -> Hashable | None:
        """The cache key of ``request``; ``None`` for a per-caller one with no caller."""
        caller: tuple[str, ...] | None = None
        if operation.cache is CachePolicy.PER_CALLER:
            # Every name of the caller: an operation may read any of them (metadata
            # reads the instance from ``caller`` and checks the account), and an answer
            # is for that identity alone.
            identity = request.identity or {}
            arn, principal = identity.get("userArn"), identity.get("caller")
            named = [name for name in (arn, principal) if isinstance(name, str) and name]
            if not named:
                return None
            caller = tuple(
                value if isinstance(value, str) else ""
                for value in (arn, principal, identity.get("accountId"))
            )
        params = tuple(sorted((name, repr(value)) for name, value in request.params.items()))
        return (request.method, operation.name, request.op, params, caller)


def _write_index(request: Request) -> str | _Unknown | None:
    """The State table's ``cache.last_write_index`` (``None`` when it is absent)."""
    deployment = request.deployment
    table = state_table(deployment) if deployment is not None else None
    if table is None:
        return _UNKNOWN
    try:
        item = table.get(LAST_WRITE_INDEX_KEY)
    except Exception as exc:
        logger.warning("cache index unreadable; answering uncached", error=repr(exc))
        return _UNKNOWN
    return None if item is None else item.value


def _miss(response: Response) -> Response:
    return replace(response, headers={**response.headers, CACHE_HEADER: "miss"})


def _hit(response: Response, elapsed: float) -> Response:
    headers: dict[str, Any] = {**response.headers, CACHE_HEADER: "hit"}
    age = headers.get(AGE_HEADER)
    if isinstance(age, str) and age.isdigit():
        headers[AGE_HEADER] = str(int(age) + int(elapsed))
    return replace(response, headers=headers)
