"""cloudwatch/sentmetrics and cloudwatch/metriccache on the demo fleet."""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from structlog.testing import capture_logs

from clonesquad_interact import Dispatcher
from clonesquad_interact.producer import produce
from clonesquad_interact.testing import InteractClient
from demo_fleet import CallCounter, Demo, refusing, running_demo

# The built-in plugins ship as clonesquad_interact.plugins, from the top-level plugins/.
instances = importlib.import_module("clonesquad_interact.plugins.instances")
metrics = importlib.import_module("clonesquad_interact.plugins.metrics")

SOURCE = "X-Clonesquad-Data-Source"
AGE = "X-Clonesquad-Data-Age"

#: The fleet metrics of the demo fleet (see demo_fleet).
EXPECTED_METRICS = {
    "ManagedInstances": 7.0,
    "MaximumInstances": 6.0,
    "RunningInstances": 5.0,
    "PendingInstances": 0.0,
    "StoppingInstances": 0.0,
    "StoppedInstances": 2.0,
    "ServingInstances": 3.0,
    "FaultyInstances": 1.0,
    "DrainingInstances": 1.0,
    "BouncedInstances": 1.0,
    "InstancesInError": 1.0,
    "InstancesInAZWithIssues": 1.0,
}
#: Running instances of the demo fleet; the t3 ones also have CPU credits.
RUNNING = ["web", "spot", "impaired", "draining", "evicted", "db-running"]
BURSTABLE = ["web", "impaired"]


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    for demo in running_demo():
        cloudwatch = boto3.client("cloudwatch")
        now = datetime.now(UTC)
        for index, name in enumerate(RUNNING):
            cloudwatch.put_metric_data(
                Namespace="AWS/EC2",
                MetricData=[
                    {
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "InstanceId", "Value": demo.fleet[name]}],
                        "Timestamp": now - timedelta(seconds=120),
                        "Value": float(10 + index),
                        "Unit": "Percent",
                    }
                ],
            )
        yield demo


@pytest.fixture(scope="module")
def warm(demo: Demo) -> Dispatcher:
    """One dispatcher for the module (its clients are slow to create)."""
    return demo.dispatcher()


@pytest.fixture
def dispatcher(demo: Demo, warm: Dispatcher) -> Dispatcher:
    """The warm dispatcher, with nothing cached (the CPU metrics neither)."""
    metric_cache(warm)._kept = None
    metric_cache(warm).clock = time.time
    return demo.clean(warm)


def metric_cache(dispatcher: Dispatcher) -> Any:
    """The object serving cloudwatch/metriccache."""
    operation = next(op for op in dispatcher.operations if op.name == "cloudwatch/metriccache")
    return operation.handler.__self__  # type: ignore[attr-defined]


def check_fleet_metrics(metrics: list[dict[str, Any]]) -> None:
    assert {m["MetricName"]: m["Value"] for m in metrics} == EXPECTED_METRICS
    assert len(metrics) == len(EXPECTED_METRICS)
    for metric in metrics:
        assert metric["Dimensions"] == [{"Name": "GroupName", "Value": "test"}]
        assert (metric["Unit"], metric["StorageResolution"]) == ("Count", 60)
        datetime.fromisoformat(metric["Timestamp"])
    assert len({m["Timestamp"] for m in metrics}) == 1


def test_sent_metrics_live(dispatcher: Dispatcher) -> None:
    answer = InteractClient(dispatcher).get("/cloudwatch/sentmetrics")
    assert answer.status_code == 200
    check_fleet_metrics(answer.json())
    assert answer.headers[SOURCE] == "live"


def test_the_producer_sends_the_metrics_and_the_operation_serves_that_set(
    dispatcher: Dispatcher,
) -> None:
    counter = CallCounter(dispatcher, ["cloudwatch"])
    produce(dispatcher, clock=lambda: 1_700_000_000.0, ttl=10**10)
    assert counter.take() == {"cloudwatch.GetMetricData": 1, "cloudwatch.PutMetricData": 1}
    answer = InteractClient(dispatcher).get("/cloudwatch/sentmetrics")
    assert answer.headers[SOURCE] == "precomputed"
    sent = answer.json()
    check_fleet_metrics(sent)
    assert sent[0]["Timestamp"] == "2023-11-14 22:13:20+00:00"
    statistics = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="CloneSquad",
        MetricName="ServingInstances",
        Dimensions=[{"Name": "GroupName", "Value": "test"}],
        StartTime=datetime(2023, 11, 14, 22, tzinfo=UTC),
        EndTime=datetime(2023, 11, 14, 23, tzinfo=UTC),
        Period=60,
        Statistics=["Maximum"],
    )
    assert [point["Maximum"] for point in statistics["Datapoints"]] == [3.0]


def test_the_producer_sends_nothing_when_publishing_is_off(dispatcher: Dispatcher) -> None:
    InteractClient(dispatcher).post("/configuration/cloudwatch.sentmetrics.publish", body="0")
    counter = CallCounter(dispatcher, ["cloudwatch"])
    assert "cloudwatch/sentmetrics" in produce(dispatcher).written
    assert "cloudwatch.PutMetricData" not in counter.take()


def check_metric_cache(demo: Demo, entries: list[dict[str, Any]]) -> None:
    expected_ids = [
        f"CloneSquad-test-{demo.fleet[name]}-{index:02d}"
        for name in RUNNING
        for index in range(2 if name in BURSTABLE else 1)
    ]
    assert sorted(e["_MetricId"] for e in entries) == sorted(expected_ids)
    by_id = {e["_MetricId"]: e for e in entries}
    for index, name in enumerate(RUNNING):
        cpu = by_id[f"CloneSquad-test-{demo.fleet[name]}-00"]
        assert cpu["Label"] == f"AWS/EC2 {demo.fleet[name]} CPUUtilization"
        assert cpu["Values"] == [float(10 + index)]
        assert len(cpu["Timestamps"]) == 1
        assert cpu["StatusCode"] == "Complete"
        assert cpu["Id"].startswith("id")
        datetime.fromisoformat(cpu["_SamplingTime"])
    for name in BURSTABLE:
        credits = by_id[f"CloneSquad-test-{demo.fleet[name]}-01"]
        assert credits["Label"] == f"AWS/EC2 {demo.fleet[name]} CPUCreditBalance"
        assert credits["Values"] == []


def test_metric_cache_reads_cloudwatch_once_then_keeps_the_answer_for_its_ttl(
    demo: Demo, dispatcher: Dispatcher
) -> None:
    client = InteractClient(dispatcher)
    client.post("/configuration/cloudwatch.metriccache.ttl", body="minutes=2")
    now = [time.time()]  # the clock also dates the CloudWatch query
    metric_cache(dispatcher).clock = lambda: now[0]
    counter = CallCounter(dispatcher)
    first = client.get("/cloudwatch/metriccache")
    check_metric_cache(demo, first.json())
    assert (first.headers[SOURCE], first.headers[AGE]) == ("live", "0")
    assert counter.take()["cloudwatch.GetMetricData"] == 1
    now[0] += 119
    kept = client.get("/cloudwatch/metriccache")
    assert kept.json() == first.json()
    assert (kept.headers[SOURCE], kept.headers[AGE]) == ("live", "119")
    # served from the warm container: only the State item cloudwatch.metrics.cache is looked for
    assert counter.take() == {"dynamodb.GetItem": 1}
    now[0] += 1
    assert client.get("/cloudwatch/metriccache").headers[AGE] == "0"
    assert counter.take()["cloudwatch.GetMetricData"] == 1


def test_metric_cache_keeps_its_metrics_for_the_default_time_when_the_ttl_is_unreadable(
    demo: Demo, dispatcher: Dispatcher
) -> None:
    client = InteractClient(dispatcher)
    client.post("/configuration/cloudwatch.metriccache.ttl", body="minutes=2")
    now = [time.time()]
    metric_cache(dispatcher).clock = lambda: now[0]
    counter = CallCounter(dispatcher, ["cloudwatch"])
    dynamodb = dispatcher.aws.client("dynamodb")
    ttl_read = b"cloudwatch.metriccache.ttl"
    with (
        capture_logs() as logs,
        refusing(
            dynamodb, "BatchGetItem", "InternalServerError", 500, only_if_sent=ttl_read
        ) as refused,
    ):
        first = client.get("/cloudwatch/metriccache")
        assert first.status_code == 200, first.text
        check_metric_cache(demo, first.json())
        assert refused == ["BatchGetItem"]
        assert counter.take() == {"cloudwatch.GetMetricData": 1}
        now[0] += 59
        assert client.get("/cloudwatch/metriccache").headers[AGE] == "59"
        now[0] += 1  # the default is 60 seconds (the configured 2 minutes cannot be read)
        assert client.get("/cloudwatch/metriccache").headers[AGE] == "0"
        assert counter.take() == {"cloudwatch.GetMetricData": 1}
    warnings = [entry for entry in logs if entry.get("key") == "cloudwatch.metriccache.ttl"]
    assert len(warnings) == 2, "one per read of CloudWatch"
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["default"] == "60"
    assert "InternalServerError" in warnings[0]["error"]


def test_metric_cache_from_the_producer(demo: Demo, dispatcher: Dispatcher) -> None:
    produce(dispatcher)
    answer = InteractClient(dispatcher).get("/cloudwatch/metriccache")
    assert answer.headers[SOURCE] == "precomputed"
    check_metric_cache(demo, answer.json())


def test_metric_cache_fails_for_good_when_cloudwatch_refuses(dispatcher: Dispatcher) -> None:
    # moto's IAM checks answer CloudWatch's JSON protocol in XML: refused by a hook instead.
    with refusing(dispatcher.aws.client("cloudwatch"), "GetMetricData", "AccessDenied", 403):
        answer = InteractClient(dispatcher).get("/cloudwatch/metriccache")
    assert answer.status_code == 500
    assert "Retry-After" not in answer.headers
    assert "AccessDenied" in answer.json()["error"]["message"]


def test_metric_cache_is_a_503_when_cloudwatch_throttles(dispatcher: Dispatcher) -> None:
    with refusing(dispatcher.aws.client("cloudwatch"), "GetMetricData", "Throttling", 400):
        answer = InteractClient(dispatcher).get("/cloudwatch/metriccache")
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "Throttling" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("instance_type", "burstable"),
    [
        ("t2.micro", True),
        ("t3.nano", True),
        ("t3a.small", True),
        ("t4g.medium", True),
        ("trn1.2xlarge", False),
        ("trn1n.32xlarge", False),
        ("m5.large", False),
        ("", False),
    ],
)
def test_only_t_families_are_burstable(instance_type: str, burstable: bool) -> None:
    instance = instances.Instance(
        "i-0123456789abcdef0", "eu-west-3a", "running", "ok", (), instance_type, False, "", ""
    )
    assert instance.burstable is burstable
    queries = metrics.cpu_queries(instances.Fleet("test", (instance,), frozenset()))
    names = [query["MetricStat"]["Metric"]["MetricName"] for _, query in queries]
    assert names == ["CPUUtilization"] + ["CPUCreditBalance"] * burstable


@pytest.mark.parametrize(
    "module",
    ["instances", "metrics", "fleet", "debug", "producer", "precomputed", "cache", "access"],
)
def test_nothing_mutable_at_module_level(module: str) -> None:
    name = (
        f"clonesquad_interact.plugins.{module}"
        if module in {"instances", "metrics", "fleet", "debug"}
        else f"clonesquad_interact.{module}"
    )
    namespace = vars(importlib.import_module(name))
    mutable = sorted(
        variable
        for variable, value in namespace.items()
        if not variable.startswith("__") and isinstance(value, dict | list | set | bytearray)
    )
    assert mutable == [], f"{name}: make these read-only (MappingProxyType, tuple, frozenset)"


def test_metric_queries_go_by_batches_of_500(demo: Demo) -> None:
    fleet = tuple(
        instances.Instance(
            f"i-{n:017x}", "eu-west-3a", "running", "ok", (), "t3.nano", False, "", ""
        )
        for n in range(300)
    )
    cloudwatch = boto3.client("cloudwatch")
    calls: list[int] = []
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **kwargs: calls.append(len(params["MetricDataQueries"])),
    )
    entries = metrics.read_cpu_metrics(
        cloudwatch, instances.Fleet("test", fleet, frozenset()), datetime.now(UTC)
    )
    assert calls == [500, 100]
    assert len(entries) == 600


def test_metrics_from_a_blob_written_by_a_clonesquad_deployment(
    demo: Demo, dispatcher: Dispatcher
) -> None:
    sent = [
        {"Dimensions": [{"Name": "GroupName", "Value": "test"}], "MetricName": "RunningInstances",
         "StorageResolution": 60, "Timestamp": "2020-11-20 14:52:01.386924+00:00",
         "Unit": "Count", "Value": 17.0}
    ]  # fmt: skip
    cached = [
        {"Id": "idx", "Label": "AWS/EC2 i-0aaaaaaaaaaaaaaaa CPUUtilization",
         "StatusCode": "Complete", "Timestamps": ["2020-11-20 22:55:00+00:00"], "Values": [59.0],
         "_MetricId": "CloneSquad-test-i-0aaaaaaaaaaaaaaaa-00",
         "_SamplingTime": "2020-11-20 22:56:46.641023+00:00"}
    ]  # fmt: skip
    document = {"data": {"cloudwatch/sentmetrics": sent, "cloudwatch/metriccache": cached}}
    blob = base64.b64encode(gzip.compress(json.dumps(document).encode(), compresslevel=9))
    boto3.client("dynamodb").put_item(
        TableName=demo.settings["StateTable"],
        Item={
            "Key": {"S": "interact.precomputed"},
            "Value": {"S": blob.decode("ascii")},
            "ExpirationTime": {"N": str(int(time.time()) + 300)},
        },
    )
    client = InteractClient(dispatcher)
    for path, expected in [("/cloudwatch/sentmetrics", sent), ("/cloudwatch/metriccache", cached)]:
        answer = client.get(path)
        assert answer.json() == expected
        assert (answer.headers[SOURCE], answer.headers[AGE]) == ("precomputed", "unknown")
