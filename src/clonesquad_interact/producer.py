"""The producer: precompute operations' data into the State table.

Plugins contribute :class:`Producer` objects (hook ``register_producers``); each
computes the data of one operation. :func:`produce` runs them all (or those it is
told to), each in isolation (a failure is logged and does not stop the others; data
too large for the DynamoDB item is left out, largest first, until the rest fits),
merges what they computed into the current ``interact.precomputed`` blob (the data
of the producers that did not run, or failed, is kept until it expires) and writes
it back in the format a CloneSquad deployment writes (see
:mod:`clonesquad_interact.precomputed`), then changes ``cache.last_write_index`` so
that warm containers drop their caches.

``clonesquad_interact.producer.handler`` is the entry point of a Lambda function
run on a schedule (every minute, for example).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import structlog

from .errors import InteractError
from .precomputed import (
    LAST_WRITE_INDEX_KEY,
    PRECOMPUTED_KEY,
    Precomputed,
    encode,
    read_precomputed,
)
from .production import Producer, Production

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

__all__ = [
    "DEFAULT_TTL",
    "ITEM_LIMIT",
    "BlobTooLarge",
    "Producer",
    "Production",
    "ProductionReport",
    "handler",
    "produce",
    "producers",
]

logger = structlog.get_logger(__name__)

#: DynamoDB's limit on the size of an item (names and values), in bytes.
ITEM_LIMIT = 400 * 1024
#: Seconds a blob is served before it expires: as CloneSquad's main function sets it
#: (twice its run period of 20 seconds, and at least 240 seconds).
DEFAULT_TTL = 240
#: The setting that turns the scheduled producer on: ``enabled``.
ENABLE_SETTING = "InteractPrecompute"


@dataclass(frozen=True, slots=True)
class ProductionReport:
    """What a run of the producers did."""

    #: Names of the data computed and written, sorted.
    written: tuple[str, ...]
    #: Name of each producer that failed -> why.
    failed: Mapping[str, str]
    #: Size of the item written, in bytes (0 when nothing was written).
    size: int
    #: Names of the data of an earlier run written again (not expired, not recomputed).
    kept: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": list(self.written),
            "kept": list(self.kept),
            "failed": dict(self.failed),
            "size": self.size,
        }


class BlobTooLarge(InteractError):
    """The precomputed data does not fit in one DynamoDB item."""

    status = 500
    kind = "BlobTooLarge"


def producers(dispatcher: Dispatcher) -> tuple[Producer, ...]:
    """Every producer the dispatcher's plugins contribute, in registration order.

    :raises PluginError: two plugins produce the same data.
    """
    found = dispatcher.plugins.named_contributions(
        "register_producers",
        Producer,
        lambda producer: producer.name,
        "producer {name} is contributed",
    )
    return tuple(
        Producer(producer.name, producer.compute, producer.summary, plugin)
        for plugin, producer in found.values()
    )


def item_size(key: str, value: str, expiration_time: int) -> int:
    """The size DynamoDB counts for a State item: attribute names and values."""
    return (
        len("Key") + len(key.encode())
        + len("Value") + len(value.encode())
        + len("ExpirationTime") + len(str(expiration_time)) + 1
    )  # fmt: skip


def _keep(
    current: Precomputed | None,
    data: dict[str, Any],
    generated: dict[str, float],
    expires: dict[str, float],
    now: float,
) -> list[str]:
    """Add to ``data`` what ``current`` holds, has not expired and was not computed now.

    Each keeps its computation time and its expiry (data of unknown expiry then expires
    with the item).

    :returns: the names kept.
    """
    if current is None:
        return []
    kept = []
    for name, value in current.data.items():
        expiry = current.expires_at(name)
        if name in data or (expiry is not None and expiry <= now):
            continue
        kept.append(name)
        data[name] = value
        if expiry is not None:
            expires[name] = expiry
        previous = current.generated_at_of(name)
        if previous is not None:
            generated[name] = previous
    return kept


def produce(
    dispatcher: Dispatcher,
    *,
    ttl: int = DEFAULT_TTL,
    only: tuple[str, ...] | None = None,
    clock: Callable[[], float] = time.time,
) -> ProductionReport:
    """Run the producers and merge what they computed into the blob in the State table.

    The data of the current blob that no producer computed this time (not run, or
    failed) is kept, with its age and expiry, until it expires.

    :param ttl: seconds the data computed now is served before it expires.
    :param only: names of the producers to run (default: all).
    :raises SettingMissing: the deployment names no ``StateTable``.
    :raises BlobTooLarge: no data fits in DynamoDB's 400 KB item limit; nothing is
        written, and the message names the largest data. (When only some data does not
        fit, the largest are left out, one at a time, until the rest fits: each one is
        logged and reported failed, with the reason.)
    """
    table = dispatcher.table("StateTable", clock=clock)
    production = Production(dispatcher.deployment, clock=clock)
    data: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for producer in producers(dispatcher):
        if only is not None and producer.name not in only:
            continue
        try:
            data[producer.name] = producer.compute(production)
        except Exception as exc:
            failed[producer.name] = f"{type(exc).__name__}: {exc}"
            logger.exception("producer failed", producer=producer.name, plugin=producer.plugin)
    if not data:
        logger.error("no data produced", failed=failed)
        return ProductionReport((), MappingProxyType(failed), 0)
    now = production.started_at
    generated = dict.fromkeys(data, now)
    expires = dict.fromkeys(data, now + ttl)
    kept = _keep(read_precomputed(table), data, generated, expires, now)
    sizes = {name: len(encode({name: value})) for name, value in data.items()}
    first_size = 0
    while True:
        blob = encode(data, generated_at=now, generated=generated, expires=expires)
        expiration_time = math.ceil(max(expires.values(), default=now + ttl))
        size = item_size(PRECOMPUTED_KEY, blob, expiration_time)
        first_size = first_size or size
        if size <= ITEM_LIMIT:
            break
        if len(data) == 1:
            largest = ", ".join(
                f"{name!r} (~{n} bytes compressed)"
                for name, n in sorted(sizes.items(), key=lambda entry: -entry[1])[:3]
            )
            raise BlobTooLarge(
                f"the precomputed data takes {first_size} bytes, more than DynamoDB's item "
                f"limit of {ITEM_LIMIT} bytes, and no part of it fits alone; nothing was "
                f"written. Largest: {largest}",
                details=[{"size": first_size, "limit": ITEM_LIMIT}],
            )
        name = max(data, key=lambda candidate: sizes[candidate])
        reason = (
            f"BlobTooLarge: its data (~{sizes[name]} bytes compressed) left out so that the "
            f"others fit in DynamoDB's item limit of {ITEM_LIMIT} bytes"
        )
        logger.error("precomputed data left out", data=name, size=sizes[name], limit=ITEM_LIMIT)
        failed[name] = reason
        for mapping in (data, generated, expires):
            mapping.pop(name, None)
        if name in kept:
            kept.remove(name)
    table.put(PRECOMPUTED_KEY, blob, expiration_time=expiration_time)
    table.put(LAST_WRITE_INDEX_KEY, f"{production.started_at:.6f}-{uuid.uuid4().hex[:8]}")
    report = ProductionReport(
        tuple(sorted(set(data) - set(kept))), MappingProxyType(failed), size, tuple(sorted(kept))
    )
    logger.info("precomputed data written", **report.as_dict())
    return report


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point of the scheduled producer function.

    The event may name the producers to run (``{"only": ["fleet/status"]}``) and the
    blob's lifetime in seconds (``{"ttl": 120}``).

    It writes nothing unless the setting ``InteractPrecompute`` is ``enabled``: a
    deployment whose CloneSquad main function writes the blob must not have a second
    writer.

    :returns: the run's report (``written``, ``failed``, ``size``).
    :raises RuntimeError: every producer failed (so that the run counts as an error).
    """
    from .lambda_handler import get_dispatcher
    from .log import configure_logging

    configure_logging()
    dispatcher = get_dispatcher()
    if (dispatcher.settings.get(ENABLE_SETTING) or "").lower() != "enabled":
        logger.warning(
            "producer disabled: set InteractPrecompute=enabled to precompute",
            setting=ENABLE_SETTING,
        )
        return {"written": [], "kept": [], "failed": {}, "size": 0, "disabled": True}
    options = event if isinstance(event, Mapping) else {}
    only = options.get("only")
    ttl = options.get("ttl", DEFAULT_TTL)
    report = produce(
        dispatcher,
        ttl=int(ttl) if isinstance(ttl, int | float) and ttl > 0 else DEFAULT_TTL,
        only=tuple(str(name) for name in only) if isinstance(only, list) else None,
    )
    if not report.written and report.failed:
        raise RuntimeError(f"every producer failed: {dict(report.failed)}")
    return report.as_dict()
