"""Warm figures for bench/coldstart.py: one process, contenders timed in interleaved rounds.

Run by ``bench/coldstart.py`` in its benchmark environment; prints one JSON object.

* an SQS batch of 10 messages through the whole pipeline, next to Powertools'
  ``BatchProcessor`` + ``process_partial_response`` that looks the ``OpType`` up in a
  dict, validates with a fastjsonschema validator compiled once, and writes one
  Powertools ``Logger`` line per record;
* API Gateway requests (an exact route, a regex route, a regex route with a new key
  each time) through the whole pipeline, next to the Powertools resolver with the
  same routes, a compiled validator and one ``Logger`` line, and next to the bare
  resolver (which neither validates nor logs).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
from itertools import repeat
from typing import Any

import fastjsonschema
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, content_types
from aws_lambda_powertools.event_handler import Response as PowertoolsResponse
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

import dispatch
from clonesquad_interact.log import configure_logging
from clonesquad_interact.testing import apigw_rest_event, sqs_event

SQS_BATCH = 10
#: The same schemas the pipeline's operations declare (dispatch.register_operations).
STATUS_PARAMS = {"type": "object", "properties": {"verbose": {"type": "boolean"}}}
SCALE_FIELDS = {
    "type": "object",
    "properties": {"desired": {"type": "integer", "minimum": 0}},
    "required": ["desired"],
}


def powertools_logger(stream: Any) -> Logger:
    return Logger(service="bench", logger_handler=logging.StreamHandler(stream))


def validated_app(logger: Logger) -> APIGatewayRestResolver:
    """The Powertools resolver as a user who validates and logs writes it."""
    app = APIGatewayRestResolver(debug=False)
    validate_status = fastjsonschema.compile(STATUS_PARAMS)
    validate_any = fastjsonschema.compile({"type": "object"})

    @app.get("/fleet/status")
    def _status() -> dict[str, Any]:
        validate_status(app.current_event.query_string_parameters or {})
        logger.info("request", op="fleet/status")
        status: dict[str, Any] = dispatch.fleet_status()
        return status

    @app.get("/configuration/<key>")
    def _configuration(key: str) -> PowertoolsResponse[str]:
        validate_any(app.current_event.query_string_parameters or {})
        logger.info("request", op="configuration/<key>")
        return PowertoolsResponse(
            status_code=200,
            content_type=content_types.TEXT_PLAIN,
            body=dispatch.configuration_value(key),
        )

    return app


def powertools_batch(logger: Logger) -> Callable[[Mapping[str, Any], Any], Any]:
    validate_scale = fastjsonschema.compile(SCALE_FIELDS)
    operations: dict[str, Callable[[dict[str, Any]], Any]] = {
        "fleet/scale": lambda fields: {"desired": fields["desired"]}
    }
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record: SQSRecord) -> Any:
        fields = json.loads(record.body)
        operation = operations[fields.pop("OpType")]
        validate_scale(fields)
        result = operation(fields)
        logger.info("sqs.record", message_id=record.message_id, outcome="done")
        return result

    def handle(event: Mapping[str, Any], context: Any) -> Any:
        return process_partial_response(
            event=dict(event), record_handler=record_handler, processor=processor, context=context
        )

    return handle


def loop_ns(call: Callable[[], object], number: int) -> int:
    start = time.perf_counter_ns()
    for _ in repeat(None, number):
        call()
    return time.perf_counter_ns() - start


def paired(
    calls: Mapping[str, Callable[[], object]], rounds: int, seconds: float
) -> dict[str, Any]:
    """Per contender: microseconds per call (median); per peer: the median of round ratios."""
    numbers = {}
    for name, call in calls.items():
        done, elapsed = 0, 0
        while elapsed < 0.05e9 or done < 20:
            elapsed += loop_ns(call, 10)
            done += 10
        numbers[name] = max(1, int(seconds * 1e9 * done / elapsed))
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name].append(loop_ns(call, numbers[name]) / numbers[name] / 1000)
    first = next(iter(calls))
    return {
        "us": {name: statistics.median(values) for name, values in samples.items()},
        "ratio": {
            name: statistics.median(a / b for a, b in zip(samples[first], values, strict=True))
            for name, values in samples.items()
            if name != first
        },
    }


def check(answer: Any, expected_status: int = 200) -> None:
    if not isinstance(answer, Mapping) or answer.get("statusCode") != expected_status:
        raise SystemExit(f"unexpected answer: {answer!r}")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (the whole run)
    configure_logging("INFO", stream=devnull, force=True)
    context: Any = dispatch.FakeLambdaContext()
    interact = dispatch.interact_handler()
    logger = powertools_logger(devnull)
    validated = validated_app(logger).resolve
    bare = dispatch.powertools_app().resolve

    batch = sqs_event([{"OpType": "fleet/scale", "desired": n} for n in range(SQS_BATCH)])
    batch_peer = powertools_batch(logger)
    for handle in (interact, batch_peer):
        answer = handle(batch, context)
        if answer != {"batchItemFailures": []}:
            raise SystemExit(f"unexpected batch answer: {answer!r}")
    results: dict[str, Any] = {
        "sqs": paired(
            {
                "interact": lambda: interact(batch, context),
                "powertools_batch": lambda: batch_peer(batch, context),
            },
            rounds,
            0.1,
        )
    }
    events = {
        "exact": apigw_rest_event("GET", "/fleet/status", params={"format": "json"}),
        "regex": apigw_rest_event("GET", "/configuration/app.disable"),
    }
    contenders = {"interact": interact, "powertools_validated": validated, "powertools_bare": bare}
    for route, event in events.items():
        for serve in contenders.values():
            check(serve(event, context))
        results[route] = paired(
            {name: partial(serve, event, context) for name, serve in contenders.items()},
            rounds,
            0.1,
        )
    new_keys = {name: dispatch.NewKeyRequests(serve, context) for name, serve in contenders.items()}
    for call in new_keys.values():
        check(call())
    results["new_key"] = paired(new_keys, rounds, 0.1)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
