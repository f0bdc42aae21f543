"""The producer: producers from plugins, each in isolation, one blob in the State table."""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from structlog.testing import capture_logs

from clonesquad_interact import Dispatcher, PluginError, Request, Response, hookimpl
from clonesquad_interact.lambda_handler import get_dispatcher
from clonesquad_interact.precomputed import Precomputed, decode, encode, obtain
from clonesquad_interact.producer import BlobTooLarge, Producer, Production, handler, produce
from clonesquad_interact.testing import InteractClient

from helpers import make_operation


class AcmePlugin:
    """A third-party plugin whose operation ``acme/widgets`` serves precomputed data."""

    __name__ = "acme"

    def __init__(self, *, broken: bool = False, huge: bool = False) -> None:
        self.broken = broken
        self.huge = huge
        self.live_computations = 0

    @hookimpl
    def register_operations(self) -> list[Any]:
        return [make_operation("acme/widgets", handler=self.widgets)]

    @hookimpl
    def register_producers(self) -> list[Producer]:
        producers = [Producer("acme/widgets", self.produce_widgets, "The widgets.")]
        if self.broken:
            producers.append(Producer("acme/broken", self.fail))
        return producers

    def compute(self) -> dict[str, Any]:
        self.live_computations += 1
        return {"widgets": 3}

    def widgets(self, request: Request) -> Response:
        return obtain(request, "acme/widgets", self.compute).response()

    def produce_widgets(self, production: Production) -> Any:
        if self.huge:  # incompressible: random bytes, base64-encoded
            return base64.b64encode(os.urandom(420_000)).decode()
        return production.shared("widgets", self.compute)

    def fail(self, production: Production) -> Any:
        raise RuntimeError("the widget counter is broken")


def acme_dispatcher(plugin: object, *more: object) -> Dispatcher:
    return Dispatcher([plugin, *more], builtins=False, entry_points=False, raise_unexpected=True)


def precomputed_item(settings: dict[str, str]) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        boto3.client("dynamodb")
        .get_item(TableName=settings["StateTable"], Key={"Key": {"S": "interact.precomputed"}})
        .get("Item")
    )
    return item


def write_index(settings: dict[str, str]) -> str | None:
    item = (
        boto3.client("dynamodb")
        .get_item(TableName=settings["StateTable"], Key={"Key": {"S": "cache.last_write_index"}})
        .get("Item")
    )
    return None if item is None else str(item["Value"]["S"])


def test_a_third_party_operation_serves_what_its_producer_precomputed(
    deployment: dict[str, str],
) -> None:
    plugin = AcmePlugin()
    client = InteractClient(acme_dispatcher(plugin))
    before = client.get("/acme/widgets")
    assert (before.json(), before.headers["X-Clonesquad-Data-Source"]) == ({"widgets": 3}, "live")
    report = produce(client.dispatcher, clock=lambda: 1_000.0, ttl=10**10)
    assert report.written == ("acme/widgets",)
    item = precomputed_item(deployment)
    assert item is not None
    assert item["ExpirationTime"] == {"N": str(1_000 + 10**10)}
    assert decode(item["Value"]["S"]).data == {"acme/widgets": {"widgets": 3}}
    plugin.live_computations = 0
    after = client.get("/acme/widgets")
    assert after.json() == {"widgets": 3}
    assert after.headers["X-Clonesquad-Data-Source"] == "precomputed"
    assert int(after.headers["X-Clonesquad-Data-Age"]) > 1_000_000
    assert plugin.live_computations == 0


def test_a_failing_producer_is_logged_and_does_not_stop_the_others(
    deployment: dict[str, str],
) -> None:
    with capture_logs() as logs:
        report = produce(acme_dispatcher(AcmePlugin(broken=True)))
    assert report.written == ("acme/widgets",)
    assert report.failed == {"acme/broken": "RuntimeError: the widget counter is broken"}
    failures = [entry for entry in logs if entry["event"] == "producer failed"]
    assert [(f["producer"], f["plugin"]) for f in failures] == [("acme/broken", "acme")]
    item = precomputed_item(deployment)
    assert item is not None
    assert set(decode(item["Value"]["S"]).data) == {"acme/widgets"}


def test_each_run_changes_the_cache_write_index(deployment: dict[str, str]) -> None:
    dispatcher = acme_dispatcher(AcmePlugin())
    produce(dispatcher)
    first = write_index(deployment)
    produce(dispatcher)
    assert first is not None
    assert write_index(deployment) not in (None, first)


class Counters:
    """Producers ``a`` and ``b``: each answers how many times it ran; ``b`` can fail."""

    __name__ = "counters"

    def __init__(self) -> None:
        self.runs = {"a": 0, "b": 0}
        self.b_fails = False

    @hookimpl
    def register_producers(self) -> list[Producer]:
        return [Producer("a", self.count_a), Producer("b", self.count_b)]

    def count_a(self, production: Production) -> int:
        self.runs["a"] += 1
        return self.runs["a"]

    def count_b(self, production: Production) -> int:
        if self.b_fails:
            raise RuntimeError("b is broken")
        self.runs["b"] += 1
        return self.runs["b"]


def stored_blob(settings: dict[str, str]) -> tuple[Precomputed, int]:
    """The blob in the State table, and its ``ExpirationTime``."""
    item = precomputed_item(settings)
    assert item is not None
    return decode(item["Value"]["S"]), int(item["ExpirationTime"]["N"])


def age(blob: Precomputed, name: str, now: float) -> float | None:
    found = blob.get(name, now)
    assert found is not None, f"{name!r} is not served at {now}"
    return found.age


def test_a_run_of_some_producers_keeps_the_data_of_the_others(
    deployment: dict[str, str],
) -> None:
    counters = Counters()
    dispatcher = acme_dispatcher(counters)
    start = 1_000.0
    assert produce(dispatcher, clock=lambda: start, ttl=100).written == ("a", "b")
    report = produce(dispatcher, only=("b",), clock=lambda: start + 50, ttl=1_000)
    assert (report.written, report.kept) == (("b",), ("a",))
    blob, expiration_time = stored_blob(deployment)
    assert blob.data == {"a": 1, "b": 2}
    assert expiration_time == start + 1_050
    # Each keeps its own age and expiry: "a" was computed at 1000 and expires at 1100.
    assert age(blob, "a", start + 60) == 60
    assert age(blob, "b", start + 60) == 10
    assert blob.get("a", start + 100) is None
    assert blob.get("b", start + 100) is not None
    # Once expired, the data of "a" is no longer kept.
    report = produce(dispatcher, only=("b",), clock=lambda: start + 100, ttl=1_000)
    assert (report.written, report.kept) == (("b",), ())
    assert stored_blob(deployment)[0].data == {"b": 3}


def test_a_failing_producer_leaves_its_earlier_data_until_it_expires(
    deployment: dict[str, str],
) -> None:
    counters = Counters()
    dispatcher = acme_dispatcher(counters)
    produce(dispatcher, clock=lambda: 1_000.0, ttl=10**10)
    counters.b_fails = True
    report = produce(dispatcher, clock=lambda: 2_000.0, ttl=10**10)
    assert (report.written, report.kept) == (("a",), ("b",))
    assert report.failed == {"b": "RuntimeError: b is broken"}
    blob, _ = stored_blob(deployment)
    assert blob.data == {"a": 2, "b": 1}
    assert age(blob, "b", 2_000.0) == 1_000


def test_data_that_fits_in_no_item_is_refused_and_nothing_is_written(
    deployment: dict[str, str],
) -> None:
    with pytest.raises(BlobTooLarge, match=r"400 KB|409600 bytes") as refused:
        produce(acme_dispatcher(AcmePlugin(huge=True)))
    assert "'acme/widgets'" in refused.value.message
    assert "no part of it fits" in refused.value.message
    assert precomputed_item(deployment) is None
    assert write_index(deployment) is None


def test_data_too_large_for_the_item_is_left_out_and_the_rest_written(
    deployment: dict[str, str],
) -> None:
    dispatcher = acme_dispatcher(AcmePlugin(huge=True), Counters())
    with capture_logs() as logs:
        report = produce(dispatcher)
    assert report.written == ("a", "b")
    assert list(report.failed) == ["acme/widgets"]
    assert report.failed["acme/widgets"].startswith("BlobTooLarge: ")
    assert "409600 bytes" in report.failed["acme/widgets"]
    assert report.size <= 400 * 1024
    left_out = [entry for entry in logs if entry["event"] == "precomputed data left out"]
    assert [(entry["data"], entry["log_level"]) for entry in left_out] == [
        ("acme/widgets", "error")
    ]
    blob, _ = stored_blob(deployment)
    assert blob.data == {"a": 1, "b": 1}
    assert write_index(deployment) is not None


def test_two_plugins_producing_the_same_data_stop_the_run(deployment: dict[str, str]) -> None:
    class Copycat:
        @hookimpl
        def register_producers(self) -> list[Producer]:
            return [Producer("acme/widgets", lambda production: 1)]

    with pytest.raises(PluginError, match="'acme/widgets' is contributed by two plugins"):
        produce(acme_dispatcher(AcmePlugin(), Copycat()))


def test_a_producer_needs_a_name_and_code() -> None:
    with pytest.raises(PluginError, match="non-empty"):
        Producer(" ", lambda production: 1)
    with pytest.raises(PluginError, match="not callable"):
        Producer("x", "code")  # type: ignore[arg-type]


def test_shared_work_runs_once_per_run_and_its_failure_reaches_each_asker(aws: None) -> None:
    production = Production(acme_dispatcher(AcmePlugin()).deployment)
    calls: list[int] = []

    def seven() -> int:
        calls.append(1)
        return 7

    assert production.shared("k", seven) == 7
    assert production.shared("k", lambda: 8) == 7
    assert calls == [1]

    def broken() -> int:
        calls.append(2)
        raise ValueError("no")

    for _ in range(2):
        with pytest.raises(ValueError, match="no"):
            production.shared("bad", broken)
    assert calls == [1, 2]


def test_the_blob_format_round_trips_and_junk_is_refused() -> None:
    blob = encode({"fleet/status": {"a": 1}}, generated_at=12.5)
    decoded = decode(blob)
    assert (decoded.data, decoded.generated_at) == ({"fleet/status": {"a": 1}}, 12.5)
    for junk in ["not base64!", base64.b64encode(b"not gzip").decode(), encode({})[:-8]]:
        with pytest.raises(ValueError, match=r"gzip|base64"):
            decode(junk)
    not_shaped = base64.b64encode(gzip.compress(json.dumps([1]).encode())).decode()
    with pytest.raises(ValueError, match="shaped"):
        decode(not_shaped)


@pytest.fixture
def fresh_lambda_dispatcher() -> Iterator[None]:
    get_dispatcher.cache_clear()
    yield
    get_dispatcher.cache_clear()


def test_the_scheduled_lambda_entry_point_writes_nothing_unless_turned_on(
    deployment: dict[str, str], fresh_lambda_dispatcher: None
) -> None:
    answer = handler({}, None)
    assert answer["disabled"] is True
    assert answer["written"] == []
    assert precomputed_item(deployment) is None


def test_the_scheduled_lambda_entry_point_runs_the_built_in_producers(
    deployment: dict[str, str], fresh_lambda_dispatcher: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("InteractPrecompute", "enabled")
    answer = handler({"only": ["fleet/status", "metadata"], "ttl": 60}, None)
    assert answer == {
        "written": ["fleet/status", "metadata"],
        "kept": [],
        "failed": {},
        "size": answer["size"],
    }
    item = precomputed_item(deployment)
    assert item is not None
    empty = {"ManagedFleetSize": 0, "MaximumFleetSize": 0,
             "RunningFleetSize": 0, "ServingFleetSize": 0,
             "ServingFleet_vs_ManagedFleetSizePourcentage": 0,
             "ServingFleet_vs_MaximumFleetSizePourcentage": 0, "UnhealthyFleetSize": 0}  # fmt: skip
    # Read the way CloneSquad v0.27.1's Interact reads it: base64, gunzip, JSON, ["data"].
    raw = gzip.decompress(base64.b64decode(item["Value"]["S"]))
    assert b'"data": {' in raw, "json.dumps' default separators"
    assert base64.b64decode(item["Value"]["S"])[:10] == bytes.fromhex("1f8b08000100000002ff")
    assert json.loads(raw)["data"] == {
        "fleet/status": {"EC2": {"AutoscaledFleet": empty, "Subfleets": []}},
        "metadata": [],
    }
