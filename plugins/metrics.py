"""The CloudWatch operations: ``cloudwatch/sentmetrics`` and ``cloudwatch/metriccache``,
and the producers of their data.

* ``cloudwatch/sentmetrics``: the fleet metrics (running, pending, serving, faulty...
  instances of the autoscaled fleet, dimension ``GroupName``) last computed by the
  producer, which also puts them to CloudWatch (namespace ``CloneSquad``) when
  ``cloudwatch.sentmetrics.publish`` is set. With no precomputed set, they are
  computed live (and not sent).
* ``cloudwatch/metriccache``: the State item ``cloudwatch.metrics.cache`` that a
  CloneSquad main function keeps, when it is there; else the CPU metrics (``CPUUtilization``, and
  ``CPUCreditBalance`` for burstable types) of the running managed instances, read
  with one ``GetMetricData`` call per batch of up to 500 queries and kept in the
  warm container for ``cloudwatch.metriccache.ttl``, so that polling this operation
  does not multiply CloudWatch costs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import structlog

from clonesquad_interact import (
    CachePolicy,
    ConfigurationKey,
    Deployment,
    Operation,
    Request,
    Response,
    hookimpl,
)
from clonesquad_interact.configuration import parse_duration
from clonesquad_interact.precomputed import (
    Source,
    Sourced,
    decode_value,
    live,
    obtain,
    read_precomputed,
    state_table,
)
from clonesquad_interact.production import Producer, Production

if TYPE_CHECKING:
    from .instances import Fleet

logger = structlog.get_logger(__name__)

NAMESPACE = "CloneSquad"
PUBLISH_KEY = "cloudwatch.sentmetrics.publish"
CACHE_TTL_KEY = "cloudwatch.metriccache.ttl"
CACHE_TTL_DEFAULT = "60"
#: The State table item in which a CloneSquad main function keeps the metrics it read.
STATE_CACHE_KEY = "cloudwatch.metrics.cache"
#: Queries per ``GetMetricData`` call (CloudWatch's limit).
QUERIES_PER_CALL = 500
#: Metric data per ``PutMetricData`` call.
METRICS_PER_PUT = 500
#: How far back the CPU metrics are read, and their period, in seconds.
LOOKBACK = 600
PERIOD = 60

#: Fleet metric name -> the counter of :meth:`Fleet.counts` it reports.
FLEET_METRICS = MappingProxyType(
    {
        "ManagedInstances": "managed",
        "MaximumInstances": "maximum",
        "RunningInstances": "running",
        "PendingInstances": "pending",
        "StoppingInstances": "stopping",
        "StoppedInstances": "stopped",
        "ServingInstances": "serving",
        "FaultyInstances": "faulty",
        "DrainingInstances": "draining",
        "BouncedInstances": "bounced",
        "InstancesInError": "error",
        "InstancesInAZWithIssues": "az_evicted",
    }
)


def _schema(name: str) -> Any:
    return files("clonesquad_interact.schemas") / name


@hookimpl
def register_operations() -> list[Operation]:
    metric_cache = MetricCache()
    return [
        Operation(
            route="cloudwatch/sentmetrics",
            handler=sent_metrics,
            summary="The fleet metrics last sent to CloudWatch.",
            schema=_schema("cloudwatch-sentmetrics.json"),
            cache=CachePolicy.SHARED,
        ),
        Operation(
            route="cloudwatch/metriccache",
            handler=metric_cache.serve,
            summary="The CPU metrics of the running managed instances, as last read.",
            schema=_schema("cloudwatch-metriccache.json"),
        ),
    ]


@hookimpl
def register_configuration_keys() -> list[ConfigurationKey]:
    return [
        ConfigurationKey(
            PUBLISH_KEY,
            "1",
            "Bool",
            "Whether the producer puts the fleet metrics to CloudWatch (namespace "
            "CloneSquad, dimension GroupName) each time it computes them.",
            stable=False,
        ),
        ConfigurationKey(
            CACHE_TTL_KEY,
            CACHE_TTL_DEFAULT,
            "Duration",
            "How long a warm Interact function serves the CPU metrics it read from "
            "CloudWatch before reading them again (cloudwatch/metriccache).",
            stable=False,
        ),
    ]


@hookimpl
def register_producers() -> list[Producer]:
    return [
        Producer("cloudwatch/sentmetrics", produce_sent_metrics, "Fleet metrics, sent."),
        Producer("cloudwatch/metriccache", produce_metric_cache, "CPU metrics of the fleet."),
    ]


# -------------------------------------------------------------------------
# Fleet metrics
# -------------------------------------------------------------------------


def fleet_metrics(fleet: Fleet, when: datetime | None = None) -> list[dict[str, Any]]:
    """The fleet metrics, shaped as ``PutMetricData`` takes them (times as text)."""
    counts = fleet.counts()
    stamp = str(when or datetime.now(UTC))
    return [
        {
            "Dimensions": [{"Name": "GroupName", "Value": fleet.group_name}],
            "MetricName": name,
            "StorageResolution": 60,
            "Timestamp": stamp,
            "Unit": "Count",
            "Value": float(counts[counter]),
        }
        for name, counter in FLEET_METRICS.items()
    ]


def sent_metrics(request: Request) -> Response:
    """``cloudwatch/sentmetrics``."""
    from .instances import describe_fleet  # imported when used, as in every operation here

    deployment: Deployment = request.deployment
    name = "cloudwatch/sentmetrics"
    return obtain(request, name, lambda: fleet_metrics(describe_fleet(deployment))).response()


def produce_sent_metrics(production: Production) -> list[dict[str, Any]]:
    """Compute the fleet metrics, and put them to CloudWatch when configured."""
    from .instances import shared_fleet

    when = datetime.fromtimestamp(production.started_at, UTC)
    metrics = fleet_metrics(shared_fleet(production), when)
    deployment = production.deployment
    if deployment.configuration.get_bool(PUBLISH_KEY):
        cloudwatch = deployment.aws.client("cloudwatch")
        data = [{**metric, "Timestamp": when} for metric in metrics]
        for start in range(0, len(data), METRICS_PER_PUT):
            cloudwatch.put_metric_data(
                Namespace=NAMESPACE, MetricData=data[start : start + METRICS_PER_PUT]
            )
    return metrics


# -------------------------------------------------------------------------
# CPU metrics
# -------------------------------------------------------------------------


def cpu_queries(fleet: Fleet) -> list[tuple[str, dict[str, Any]]]:
    """``(metric id, query)`` for each CPU metric of each running instance."""
    import hashlib  # imported by the requests that read CPU metrics

    queries = []
    for instance in fleet.instances:
        if instance.state != "running":
            continue
        names = ["CPUUtilization"] + (["CPUCreditBalance"] if instance.burstable else [])
        for index, name in enumerate(names):
            metric_id = f"CloneSquad-{fleet.group_name}-{instance.instance_id}-{index:02d}"
            query = {
                "Id": "id" + hashlib.sha256(metric_id.encode()).hexdigest(),
                "Label": f"AWS/EC2 {instance.instance_id} {name}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/EC2",
                        "MetricName": name,
                        "Dimensions": [{"Name": "InstanceId", "Value": instance.instance_id}],
                    },
                    "Period": PERIOD,
                    "Stat": "Average",
                },
                "ReturnData": True,
            }
            queries.append((metric_id, query))
    return queries


def read_cpu_metrics(cloudwatch: Any, fleet: Fleet, now: datetime) -> list[dict[str, Any]]:
    """The CPU metrics of the running instances: one ``GetMetricData`` per 500 queries
    (more only when CloudWatch pages an answer)."""
    from .instances import chunks

    queries = cpu_queries(fleet)
    metric_ids = {query["Id"]: metric_id for metric_id, query in queries}
    results: dict[str, dict[str, Any]] = {}
    for batch in chunks([query for _, query in queries], QUERIES_PER_CALL):
        arguments: dict[str, Any] = {
            "MetricDataQueries": list(batch),
            "StartTime": now - timedelta(seconds=LOOKBACK),
            "EndTime": now,
            "ScanBy": "TimestampDescending",
        }
        while True:
            answer = cloudwatch.get_metric_data(**arguments)
            for result in answer.get("MetricDataResults", ()):
                entry = results.setdefault(
                    result["Id"],
                    {"Id": result["Id"], "Label": result.get("Label", ""), "Timestamps": [],
                     "Values": []},
                )  # fmt: skip
                entry["StatusCode"] = result.get("StatusCode", "")
                entry["Timestamps"] += [str(stamp) for stamp in result.get("Timestamps", ())]
                entry["Values"] += list(result.get("Values", ()))
            token = answer.get("NextToken")
            if not token:
                break
            arguments["NextToken"] = token
    sampling_time = str(now)
    return [
        {**results[query["Id"]], "_MetricId": metric_ids[query["Id"]],
         "_SamplingTime": sampling_time}
        for _, query in queries
        if query["Id"] in results
    ]  # fmt: skip


def produce_metric_cache(production: Production) -> list[dict[str, Any]]:
    from .instances import shared_fleet

    cloudwatch = production.deployment.aws.client("cloudwatch")
    now = datetime.fromtimestamp(production.started_at, UTC)
    return read_cpu_metrics(cloudwatch, shared_fleet(production), now)


def cache_ttl(deployment: Deployment) -> float:
    """Seconds to keep the CPU metrics: ``cloudwatch.metriccache.ttl``, or its default
    when the configuration cannot be read (logged)."""
    try:
        return deployment.configuration.get_duration(CACHE_TTL_KEY)
    except Exception as exc:
        registration = deployment.configuration.keys.get(CACHE_TTL_KEY)
        default = registration.default if registration is not None else CACHE_TTL_DEFAULT
        logger.warning(
            "configuration unreadable; keeping the CPU metrics for the default time",
            key=CACHE_TTL_KEY,
            default=default,
            error=repr(exc),
        )
        return parse_duration(default)


class MetricCache:
    """The CPU metrics a warm container read, served until ``cloudwatch.metriccache.ttl``.

    The State item ``cloudwatch.metrics.cache`` that a CloneSquad main function keeps
    is served first, whenever it is there (its age is that of its newest sample). Else a
    fresh read comes from the precomputed blob when it holds the metrics, else from
    CloudWatch (and is then kept).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        #: (read at, expires at, metrics)
        self._kept: tuple[float, float, list[dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    def serve(self, request: Request) -> Response:
        """``cloudwatch/metriccache``."""
        deployment: Deployment = request.deployment
        now = self.clock()
        table = state_table(deployment)
        kept_by_main = state_cache(table, now) if table is not None else None
        if kept_by_main is not None:
            return kept_by_main.response()
        kept = self._kept
        if kept is not None and now < kept[1]:
            return Sourced(kept[2], Source.LIVE, now - kept[0]).response()
        precomputed = read_precomputed(table) if table is not None else None
        found = precomputed.get("cloudwatch/metriccache", now) if precomputed else None
        if found is not None:
            return found.response()

        def compute() -> list[dict[str, Any]]:
            from .instances import describe_fleet

            fleet = describe_fleet(deployment)
            cloudwatch = deployment.aws.client("cloudwatch")
            return read_cpu_metrics(cloudwatch, fleet, datetime.fromtimestamp(now, UTC))

        ttl = cache_ttl(deployment)
        fresh = live("cloudwatch/metriccache", compute)
        with self._lock:
            self._kept = (now, now + ttl, fresh.value)
        return fresh.response()


def state_cache(table: Any, now: float) -> Sourced | None:
    """The metrics of the State item ``cloudwatch.metrics.cache``, or ``None`` when it is
    absent, expired or unreadable (logged). Its age is that of its newest ``_SamplingTime``
    (unknown when no entry says)."""
    try:
        item = table.get(STATE_CACHE_KEY)
    except Exception as exc:
        logger.warning("metric cache unreadable", key=STATE_CACHE_KEY, error=repr(exc))
        return None
    if item is None or not item.value:
        return None
    try:
        metrics = decode_value(item.value)
    except ValueError as exc:
        logger.warning("metric cache corrupt", key=STATE_CACHE_KEY, error=str(exc))
        return None
    if not isinstance(metrics, list):
        logger.warning("metric cache corrupt", key=STATE_CACHE_KEY, error="not a JSON list")
        return None
    sampled = [
        when
        for entry in metrics
        if isinstance(entry, dict)
        for when in [_epoch(entry.get("_SamplingTime"))]
        if when is not None
    ]
    return Sourced(metrics, Source.PRECOMPUTED, now - max(sampled) if sampled else None)


def _epoch(text: Any) -> float | None:
    """Epoch seconds of a ``str(datetime)`` (naive ones are UTC), ``None`` if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
