"""A warm container serving many requests across the operations: the memory that the
library holds stops growing after warm-up, and every cache stays within its bounds.

``test_soak_in_ci`` serves 2,000 requests; ``test_soak`` (marker ``soak``, deselected by
default: ``pytest -m soak tests/test_soak.py -s``) serves 100,000 and prints its figures.
Memory is traced with :mod:`tracemalloc` once the warm-up is over: the growth of what
was allocated in the library's own code (``clonesquad_interact``, its plugins) and of
everything the process traced (moto's in-process AWS included).
"""

from __future__ import annotations

import gc
import json
import os
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog

from clonesquad_interact import AWS
from clonesquad_interact.log import configure_logging
from clonesquad_interact.testing import (
    apigw_http_event,
    apigw_rest_event,
    instance_identity,
    sqs_record,
)
from seeded import Seeded, seeded_deployment

#: What the library may hold more after warm-up, whatever the number of requests: its
#: caches are bounded (256 answers, 256 regex matches, 256 parameter sets per operation).
LIBRARY_GROWTH_LIMIT = 4 * 1024 * 1024
#: Where the library's own allocations are made.
LIBRARY_FILES = ("*/clonesquad_interact/*", "*/plugins/*")


@pytest.fixture(scope="module")
def seeded(aws_clients: AWS) -> Iterator[Seeded]:
    with seeded_deployment(aws_clients) as deployment:
        yield deployment


Request = Callable[[Seeded, int], Any]


def _get(path: str, **params: Any) -> Request:
    return lambda s, i: apigw_rest_event("GET", path, params=params)


def _metadata(s: Seeded, i: int) -> Any:
    instances = sorted(s.fleet.instances)
    return apigw_rest_event(
        "GET", "metadata", identity=instance_identity(instances[i % len(instances)])
    )


#: The requests, served in turn: reads of every kind, writes of bounded keys (so that
#: the tables stay the same size), SQS, direct and HTTP API events, and refused ones.
MIX: tuple[Request, ...] = (
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


@dataclass(frozen=True)
class Figures:
    requests: int
    warm_up: int
    #: Bytes traced at the end less after warm-up: the library's own, and everything.
    library_growth: int
    total_growth: int
    #: The library's growth over the second half of the requests after warm-up.
    library_growth_second_half: int
    statuses: dict[int, int]


def _library_bytes(snapshot: tracemalloc.Snapshot) -> int:
    filters = [tracemalloc.Filter(True, pattern) for pattern in LIBRARY_FILES]
    return sum(stat.size for stat in snapshot.filter_traces(filters).statistics("filename"))


def _status(answer: dict[str, Any]) -> int:
    if "batchItemFailures" in answer:
        return 503 if answer["batchItemFailures"] else 200
    status: int = answer["statusCode"]
    return status


def check_bounds(seeded: Seeded) -> None:
    """Each cache of the warm dispatcher holds no more than its bound."""
    from clonesquad_interact import routing, validation

    dispatcher = seeded.dispatcher
    assert len(dispatcher.cache) <= dispatcher.cache.max_entries
    assert len(dispatcher.router._matched) <= routing._MATCHED_LIMIT
    for schema in dispatcher._schemas.values():
        assert len(schema._valid) <= validation._REMEMBERED


def soak(seeded: Seeded, requests: int, progress: int = 0) -> Figures:
    """Serve ``requests`` events in turn from :data:`MIX`; trace memory after warm-up
    (and print the growth so far every ``progress`` requests)."""
    dispatcher = seeded.dispatcher
    warm_up = max(len(MIX) * 20, requests // 10)
    statuses: dict[int, int] = {}
    null = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        configure_logging(stream=null, force=True)  # the Lambda handler's logging

        def serve(i: int) -> None:
            answer = dispatcher.handle(MIX[i % len(MIX)](seeded, i))
            status = _status(answer)
            statuses[status] = statuses.get(status, 0) + 1

        for i in range(warm_up):
            serve(i)
        check_bounds(seeded)
        gc.collect()
        tracemalloc.start()
        try:
            start = tracemalloc.take_snapshot()
            start_total = tracemalloc.get_traced_memory()[0]
            middle_at = warm_up + (requests - warm_up) // 2
            middle: tracemalloc.Snapshot | None = None
            for i in range(warm_up, requests):
                serve(i)
                if i + 1 == middle_at:
                    gc.collect()
                    middle = tracemalloc.take_snapshot()
                if progress and (i + 1) % progress == 0:
                    gc.collect()
                    library = _library_bytes(tracemalloc.take_snapshot()) - _library_bytes(start)
                    total = tracemalloc.get_traced_memory()[0] - start_total
                    print(f"soak: {i + 1} requests, library +{library} B, traced +{total} B")
            gc.collect()
            end = tracemalloc.take_snapshot()
            end_total = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    finally:
        structlog.reset_defaults()
        null.close()
    check_bounds(seeded)
    assert middle is not None
    return Figures(
        requests=requests,
        warm_up=warm_up,
        library_growth=_library_bytes(end) - _library_bytes(start),
        total_growth=end_total - start_total,
        library_growth_second_half=_library_bytes(end) - _library_bytes(middle),
        statuses=dict(sorted(statuses.items())),
    )


def check(figures: Figures) -> None:
    print(f"\nsoak: {figures}")
    assert not [status for status in figures.statuses if status >= 500], figures.statuses
    assert figures.library_growth < LIBRARY_GROWTH_LIMIT, figures
    assert figures.library_growth_second_half < LIBRARY_GROWTH_LIMIT / 2, figures


def test_soak_in_ci(seeded: Seeded) -> None:
    check(soak(seeded, 2_000))


@pytest.mark.soak
def test_soak(seeded: Seeded) -> None:
    check(soak(seeded, 100_000, progress=5_000))
