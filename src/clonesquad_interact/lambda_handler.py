"""The AWS Lambda entry point: ``clonesquad_interact.lambda_handler.handler``.

The dispatcher is built on the first event a container serves and kept for the
warm container's life; importing this module creates nothing (no AWS client, no
plugin manager). Logging is configured (JSON lines) on the first event unless
the application did it already.

Run ``python -m clonesquad_interact.lambda_handler EVENT.json`` to serve one event
from a file (or ``-`` for standard input) and print the answer.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import structlog

from .dispatcher import Dispatcher
from .errors import BadRequest, PluginError
from .events import EventKind, classify, event_request_id
from .log import configure_logging
from .rendering import to_apigw, to_direct, unexpected_response
from .sqs import all_failed

__all__ = ["get_dispatcher", "handler"]

logger = structlog.get_logger(__name__)


@functools.cache
def get_dispatcher() -> Dispatcher:
    """The warm container's dispatcher, built on first use."""
    return Dispatcher(lazy_schemas=True)


def handler(event: Any, context: Any) -> Any:
    """Serve a Lambda event: API Gateway (REST or HTTP API), SQS batch or direct invocation."""
    configure_logging()
    aws_request_id = getattr(context, "aws_request_id", None)
    tokens = (
        structlog.contextvars.bind_contextvars(aws_request_id=aws_request_id)
        if aws_request_id
        else None
    )
    try:
        try:
            dispatcher = get_dispatcher()
        except Exception as exc:  # a broken plugin: answer, and try again next event
            return _startup_failure(event, exc)
        return dispatcher.handle(event, context)
    finally:
        if tokens is not None:
            structlog.contextvars.reset_contextvars(**tokens)


def _startup_failure(event: Any, exc: Exception) -> Any:
    """Answer while the plugins are broken; nothing is lost: SQS messages go back to the queue."""
    request_id = event_request_id(event)
    if isinstance(exc, PluginError):
        logger.error("the dispatcher cannot start", error=str(exc), request_id=request_id)
    else:
        logger.error("the dispatcher cannot start", exc_info=exc, request_id=request_id)
    try:
        kind: EventKind | None = classify(event)
    except BadRequest:
        kind = None
    if kind is EventKind.SQS:
        return all_failed(event["Records"])
    response = unexpected_response(request_id)
    render = to_direct if kind is EventKind.DIRECT else to_apigw
    return render(response, "json", request_id)


def main(argv: list[str] | None = None) -> int:
    """Serve one event read from a file and print the answer as JSON."""
    import argparse  # here: a Lambda container never parses a command line

    parser = argparse.ArgumentParser(
        prog="python -m clonesquad_interact.lambda_handler",
        description="Serve one Lambda event (API Gateway, SQS or direct) and print the answer.",
    )
    parser.add_argument("event", help="a JSON file holding the event, or - for standard input")
    args = parser.parse_args(argv)
    try:
        if args.event == "-":
            event = json.load(sys.stdin)
        else:
            with open(args.event, encoding="utf-8") as file:
                event = json.load(file)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the event: {exc}", file=sys.stderr)
        return 2
    configure_logging(stream=sys.stderr)
    print(json.dumps(handler(event, None), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
