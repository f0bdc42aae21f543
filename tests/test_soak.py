"""A warm container serving many requests across the operations: the memory that the
library holds stops growing after warm-up, and every cache stays within its bounds.

``test_soak_in_ci`` serves about 2,000 requests; ``test_soak`` (marker ``soak``,
deselected by default: ``pytest -m soak tests/test_soak.py -s``) serves 100,000 (or
``CLONESQUAD_INTERACT_SOAK_REQUESTS``) and prints its figures, among them the growth
of the resident set over three tenths of its requests, served untraced. Memory is
traced with :mod:`tracemalloc` after the warm-up (and the untraced requests), in
windows that start at the same point of the request mix, each measured after
``gc.collect()``: :func:`library_growth` counts what is held more at the end of a
window than at its start of what was allocated in the library's own code
(``clonesquad_interact``, its plugins), so that what other tests of the session
allocate meanwhile is not counted, and :func:`over_bound` names the windows that
grew by more than a bound per request.
``test_the_detector_finds_a_plugin_that_keeps_requests`` shows it failing on a
deliberate leak.

The soak's dispatcher has boto3 clients of its own: a hook that another test left on
the session's shared clients is not on its path.
"""

from __future__ import annotations

import gc
import json
import os
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from moto.core.model_instances import reset_model_data

from clonesquad_interact import AWS, Dispatcher, Operation, Request, hookimpl
from clonesquad_interact.log import configure_logging
from clonesquad_interact.testing import (
    apigw_http_event,
    apigw_rest_event,
    instance_identity,
    sqs_record,
)
from clonesquad_interact.testing.pytest_plugin import AWS_TEST_ENVIRONMENT
from seeded import Seeded, seeded_deployment

#: Where the library's own allocations are made.
LIBRARY_FILES = ("*/clonesquad_interact/*", "*/plugins/*")
#: What the library may hold more per request served after warm-up, in the suite's
#: soak (its caches shrunk to one entry, so that what they hold does not vary): a
#: request kept for good holds about a kilobyte.
GROWTH_PER_REQUEST = 64
#: The number of requests of ``test_soak``, when not 100,000.
SOAK_REQUESTS = "CLONESQUAD_INTERACT_SOAK_REQUESTS"


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    with seeded_deployment(AWS(AWS_TEST_ENVIRONMENT)) as deployment:
        yield deployment


Event = Callable[[Seeded, int], Any]


def _get(path: str, **params: Any) -> Event:
    return lambda s, i: apigw_rest_event("GET", path, params=params)


def _metadata(s: Seeded, i: int) -> Any:
    instances = sorted(s.fleet.instances)
    return apigw_rest_event(
        "GET", "metadata", identity=instance_identity(instances[i % len(instances)])
    )


#: The requests, served in turn: reads of every kind, writes of bounded keys (so that
#: the tables stay the same size), SQS, direct and HTTP API events, and refused ones.
MIX: tuple[Event, ...] = (
    _get(""),
    _get("configuration"),
    _get("configuration", format="yaml", unstable="true"),
    lambda s, i: apigw_rest_event("GET", f"configuration/custom.soak.{i % 300}"),
    _get("configuration/ec2.schedule.min_instance_count"),
    lambda s, i: apigw_rest_event("POST", f"configuration/custom.soak.{i % 20}", body=str(i)),
    lambda s, i: apigw_rest_event(
        "POST", "configuration", body=json.dumps({f"custom.doc.{i % 10}": str(i)})
    ),
    _get("scheduler"),
    _get("scheduler/demo-workday-end"),
    _get("fleet/status"),
    _get("fleet/status", format="yaml"),
    _get("fleet/metadata"),
    _get("allmetadatas"),
    _metadata,
    _get("discovery"),
    _get("cloudwatch/sentmetrics"),
    _get("cloudwatch/metriccache"),
    lambda s, i: {
        "Records": [
            sqs_record({"OpType": "notify/ackevent", "Events": [f"2026-01-01 00:00:{i % 60:02}"]}),
            sqs_record({"OpType": "Notify/AckEvent", "Events": f"unknown {i % 100}"}),
        ]
    },
    lambda s, i: {"OpType": "fleet/status"},
    lambda s, i: {"OpType": f"configuration/custom.soak.{i % 50}"},
    lambda s, i: apigw_rest_event("GET", f"no/such/operation/{i}"),
    lambda s, i: apigw_rest_event("GET", "configuration", params={"unknown": str(i)}),
    lambda s, i: apigw_rest_event("GET", "metadata", params={"instanceid": f"i-{i:017x}"}),
    lambda s, i: apigw_http_event("GET", f"configuration/custom.soak.{i % 30}"),
)


def _status(answer: dict[str, Any]) -> int:
    if "batchItemFailures" in answer:
        return 503 if answer["batchItemFailures"] else 200
    status: int = answer["statusCode"]
    return status


# -------------------------------------------------------------------------
# The detector
# -------------------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    """What a window of requests left held more than there was at its start."""

    requests: int
    #: Of what was allocated in ``files`` (:func:`library_growth`).
    bytes: int
    blocks: int
    #: Everything traced (moto's in-process AWS included), and the objects that the
    #: garbage collector tracks.
    traced_blocks: int
    gc_objects: int

    @property
    def per_request(self) -> float:
        return self.bytes / self.requests


def _held(snapshot: tracemalloc.Snapshot, files: Sequence[str]) -> tuple[int, int]:
    filters = [tracemalloc.Filter(True, pattern) for pattern in files]
    stats = snapshot.filter_traces(filters).statistics("filename")
    return sum(stat.size for stat in stats), sum(stat.count for stat in stats)


def _settle() -> None:
    # moto keeps every model object it creates for its dashboard; let it go, so that
    # what is counted is what the library and moto's backends hold.
    reset_model_data()
    gc.collect()


def library_growth(
    serve: Callable[[int], None],
    start: int,
    window: int,
    windows: int = 2,
    files: Sequence[str] = LIBRARY_FILES,
) -> list[Growth]:
    """Serve requests ``start`` to ``start + window * windows`` with memory traced; for
    each window of ``window`` requests, what it left held more than at its start (after
    ``gc.collect()`` at both ends), of what was allocated in ``files``."""
    _settle()
    tracemalloc.start()
    try:
        before = _held(tracemalloc.take_snapshot(), files)
        before_traced = len(tracemalloc.take_snapshot().traces)
        before_objects = len(gc.get_objects())
        found: list[Growth] = []
        for first in range(start, start + window * windows, window):
            for i in range(first, first + window):
                serve(i)
            _settle()
            snapshot = tracemalloc.take_snapshot()
            after, after_traced, after_objects = (
                _held(snapshot, files),
                len(snapshot.traces),
                len(gc.get_objects()),
            )
            found.append(
                Growth(
                    requests=window,
                    bytes=after[0] - before[0],
                    blocks=after[1] - before[1],
                    traced_blocks=after_traced - before_traced,
                    gc_objects=after_objects - before_objects,
                )
            )
            before, before_traced, before_objects = after, after_traced, after_objects
            del snapshot
    finally:
        tracemalloc.stop()
    return found


def over_bound(growths: Sequence[Growth], per_request: float) -> list[str]:
    """The windows whose growth is over ``per_request`` bytes per request served."""
    return [
        f"window {n}: +{growth.bytes} B in {growth.blocks} blocks over {growth.requests} "
        f"requests ({growth.per_request:.1f} B a request, bound {per_request})"
        for n, growth in enumerate(growths, 1)
        if growth.per_request > per_request
    ]


# -------------------------------------------------------------------------
# The soak
# -------------------------------------------------------------------------


def cache_sizes(dispatcher: Dispatcher) -> dict[str, int]:
    """How many entries each cache of ``dispatcher`` holds: answers, regex matches, and
    the largest set of remembered parameters of one operation."""
    return {
        "answers": len(dispatcher.cache),
        "matches": len(dispatcher.router._matched),
        "parameters": max(len(schema._valid) for schema in dispatcher._schemas.values()),
    }


def check_bounds(dispatcher: Dispatcher) -> None:
    """Each cache of ``dispatcher`` holds no more than its bound."""
    from clonesquad_interact import routing, validation

    sizes = cache_sizes(dispatcher)
    assert sizes["answers"] <= dispatcher.cache.max_entries, sizes
    assert sizes["matches"] <= routing._MATCHED_LIMIT, sizes
    assert sizes["parameters"] <= validation._REMEMBERED, sizes


@dataclass(frozen=True)
class Figures:
    requests: int
    warm_up: int
    #: The two halves of the traced requests after warm-up.
    halves: tuple[Growth, ...]
    #: The requests served after warm-up with memory not traced, and what the
    #: process's resident set grew by over them (``None`` where unknown: not Linux,
    #: or no such requests); ``tracemalloc`` keeps a record of every block it traces,
    #: so the resident set is measured only while it is off.
    untraced: int
    rss_growth: int | None
    caches: dict[str, int]
    statuses: dict[int, int]


def _rss() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def soak(
    seeded: Seeded,
    dispatcher: Dispatcher,
    requests: int,
    progress: int = 0,
    untraced: int = 0,
) -> Figures:
    """Serve ``requests`` events in turn from :data:`MIX` with ``dispatcher``, its
    caches checked after each one: a warm-up (a tenth of the requests, at least twenty
    rounds of the mix), then ``untraced`` more (rounded down to whole rounds) over
    which the resident set is measured, then two halves of what is left, measured
    with :func:`library_growth`."""
    rounds = max(20, requests // 10 // len(MIX))
    warm_up = rounds * len(MIX)
    untraced = untraced // len(MIX) * len(MIX)
    half = (requests - warm_up - untraced) // 2 // len(MIX) * len(MIX)  # all start at MIX[0]
    if half <= 0:
        raise ValueError(
            f"{requests} requests leave no traced halves after a warm-up of {warm_up} and "
            f"{untraced} untraced: ask for more (each half is whole rounds of {len(MIX)})"
        )
    statuses: dict[int, int] = {}
    null = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        configure_logging(stream=null, force=True)  # the Lambda handler's logging

        def serve(i: int) -> None:
            answer = dispatcher.handle(MIX[i % len(MIX)](seeded, i))
            status = _status(answer)
            statuses[status] = statuses.get(status, 0) + 1
            check_bounds(dispatcher)
            if progress and (i + 1) % progress == 0:
                print(f"soak: {i + 1} requests, caches {cache_sizes(dispatcher)}", flush=True)

        for i in range(warm_up):
            serve(i)
        _settle()
        rss = _rss()
        for i in range(warm_up, warm_up + untraced):
            serve(i)
        _settle()
        end_rss = _rss()
        halves = library_growth(serve, warm_up + untraced, half)
    finally:
        structlog.reset_defaults()
        null.close()
    return Figures(
        requests=warm_up + untraced + 2 * half,
        warm_up=warm_up,
        halves=tuple(halves),
        untraced=untraced,
        rss_growth=None if rss is None or end_rss is None or not untraced else end_rss - rss,
        caches=cache_sizes(dispatcher),
        statuses=dict(sorted(statuses.items())),
    )


def _dispatcher(plugins: Sequence[object] = ()) -> Dispatcher:
    return Dispatcher(
        plugins=plugins,
        entry_points=False,
        raise_unexpected=False,
        aws=AWS(AWS_TEST_ENVIRONMENT),
    )


@pytest.fixture
def small_caches(monkeypatch: pytest.MonkeyPatch) -> Callable[[Dispatcher], Dispatcher]:
    """Shrink the caches to one entry each, so that what they hold is the same after
    any request: what a window leaves held more is then what was not let go."""
    from clonesquad_interact import routing, validation

    monkeypatch.setattr(routing, "_MATCHED_LIMIT", 1)
    monkeypatch.setattr(validation, "_REMEMBERED", 1)

    def shrink(dispatcher: Dispatcher) -> Dispatcher:
        dispatcher.cache.max_entries = 1
        return dispatcher

    return shrink


def test_soak_in_ci(seeded: Seeded, small_caches: Callable[[Dispatcher], Dispatcher]) -> None:
    figures = soak(seeded, small_caches(_dispatcher()), 2_000)
    print(f"\nsoak: {figures}")
    assert not [status for status in figures.statuses if status >= 500], figures.statuses
    assert not over_bound(figures.halves, GROWTH_PER_REQUEST), figures


#: What :class:`KeepsRequests` kept.
_kept: list[Request] = []


class KeepsRequests:
    """A plugin that keeps every request it authorizes: a leak."""

    @hookimpl
    def authorize_request(self, request: Request, operation: Operation) -> None:
        _kept.append(request)


def test_the_detector_finds_a_plugin_that_keeps_requests(
    seeded: Seeded, small_caches: Callable[[Dispatcher], Dispatcher]
) -> None:
    try:
        figures = soak(seeded, small_caches(_dispatcher([KeepsRequests()])), 1_000)
    finally:
        kept = len(_kept)
        _kept.clear()
    assert kept > figures.requests / 2
    found = over_bound(figures.halves, GROWTH_PER_REQUEST)
    assert [line.split(":")[0] for line in found] == ["window 1", "window 2"], figures
    for growth in figures.halves:
        assert growth.blocks >= growth.requests / 2, figures


@pytest.mark.soak
def test_soak(seeded: Seeded) -> None:
    requests = int(os.environ.get(SOAK_REQUESTS, "100000"))
    # Three tenths untraced after the warm-up, the rest in two traced halves.
    figures = soak(seeded, _dispatcher(), requests, progress=5_000, untraced=requests * 3 // 10)
    print(f"\nsoak: {figures}")
    for n, growth in enumerate(figures.halves, 1):
        print(
            f"soak: half {n}: {growth.requests} requests, library {growth.bytes:+} B in "
            f"{growth.blocks:+} blocks ({growth.per_request:.2f} B a request), traced blocks "
            f"{growth.traced_blocks:+}, gc-tracked objects {growth.gc_objects:+}"
        )
    rss = "unknown" if figures.rss_growth is None else f"{figures.rss_growth:+} B"
    print(
        f"soak: RSS {rss} over {figures.untraced} untraced requests after warm-up, "
        f"caches {figures.caches}"
    )
    assert not [status for status in figures.statuses if status >= 500], figures.statuses
    # The caches at their real bounds (256 answers, matches and parameter sets): what
    # they hold varies by a few hundred entries, spread over 30,000 requests a half.
    assert not over_bound(figures.halves, GROWTH_PER_REQUEST), figures
