"""``clonesquad-interact serve``: the AWS, the gateway and the queue consumer, until a signal.

It prepares the AWS (:mod:`.backend`), builds a dispatcher on it, serves the API
over HTTP (:mod:`.gateway`) and consumes the Interact queue (:mod:`.consumer`),
prints a banner with the URLs, the demo credentials and commands to paste, and
stops everything on SIGINT (Ctrl-C) or SIGTERM.
"""

from __future__ import annotations

import contextlib
import errno
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

import structlog

from .backend import Backend, Mode, ServeError, start_backend
from .consumer import QueueConsumer
from .demo import ACCOUNT_ID, DEMO_FIRED_ENTRY, OPERATOR, SET_KEYS, DemoFleet
from .eventbridge import LocalEventBridge
from .gateway import STAGE, Gateway
from .sigv4 import Principal

__all__ = ["ServeOptions", "banner", "serve"]

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``serve`` was asked for."""

    mode: Mode = "embedded"
    endpoint_url: str | None = None
    port: int = 8080
    demo: bool = True
    auth: bool = True
    consume_queue: bool = True
    group_name: str = "demo"
    region: str | None = None
    host: str = "127.0.0.1"
    #: The embedded AWS's port (0: any free one).
    aws_port: int = 0


def serve(options: ServeOptions, *, out: TextIO | None = None) -> int:
    """Serve until SIGINT or SIGTERM; returns the exit code (0 after a clean stop).

    :raises ServeError: it cannot start.
    """
    stop = threading.Event()
    # The port first: a port in use is found before anything starts.
    gateway = _gateway(options)
    try:
        with (
            _signals(stop),
            start_backend(
                options.mode,
                endpoint_url=options.endpoint_url,
                demo=options.demo,
                group_name=options.group_name,
                region=options.region,
                port=options.aws_port,
            ) as backend,
        ):
            _serve_until(stop, options, backend, gateway, out or sys.stdout)
    finally:
        gateway.stop()
    logger.info("stopped")
    return 0


def _serve_until(
    stop: threading.Event, options: ServeOptions, backend: Backend, gateway: Gateway, out: TextIO
) -> None:
    from ..dispatcher import Dispatcher
    from ..openapi import openapi_document

    dispatcher = Dispatcher()
    gateway.handle = dispatcher.handle
    gateway.principals = backend.principals
    gateway.anonymous = backend.operator
    gateway.region = backend.region
    gateway.openapi = lambda url: openapi_document(dispatcher, server_url=url)
    eventbridge = None
    if backend.mode != "aws":  # on AWS, EventBridge fires the rules itself
        eventbridge = LocalEventBridge(
            dispatcher.handle, dispatcher.deployment, region=backend.region, account=ACCOUNT_ID
        )
    consumer = None
    if options.consume_queue and backend.queue_url:
        consumer = QueueConsumer(
            dispatcher.handle, backend.client("sqs"), backend.queue_url, region=backend.region
        )
    gateway.start()
    if consumer is not None:
        consumer.start()
    if eventbridge is not None:
        eventbridge.start()
    if not options.auth:
        logger.warning("authentication is off: unsigned requests are served as the demo operator")
    routes = {op.name for op in dispatcher.operations}
    print(banner(backend, gateway.url, options, routes), file=out, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        logger.info("stopping")
        gateway.stop()
        if consumer is not None:
            consumer.stop()
        if eventbridge is not None:
            eventbridge.stop()


def _refuse(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The gateway's handler until the dispatcher is ready (it serves nothing before)."""
    raise RuntimeError("the gateway serves before its dispatcher is ready")


def _gateway(options: ServeOptions) -> Gateway:
    """The gateway, its port bound; its handler and principals are set once AWS is ready."""
    try:
        return Gateway(
            _refuse,
            principals={},
            region="",
            auth=options.auth,
            anonymous=OPERATOR,
            host=options.host,
            port=options.port,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {options.port} is in use: choose another with --port (0: any free port)"
            ) from None
        raise ServeError(f"cannot listen on {options.host}:{options.port}: {exc}") from None


@contextlib.contextmanager
def _signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (a second one stops at once)."""

    def handler(number: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def banner(backend: Backend, url: str, options: ServeOptions, routes: set[str]) -> str:
    """What ``serve`` prints once it is ready: where things are and how to call them."""
    api = f"{url}/{STAGE}/"
    where = {
        "embedded": f"an embedded AWS at {backend.endpoint_url}",
        "endpoint": f"the AWS endpoint {backend.endpoint_url}",
        "aws": f"AWS (region {backend.region})",
    }[backend.mode]
    lines = [
        f"CloneSquad Interact API of group {backend.settings.get('GroupName')!r} on {where}",
        f"  API:            {api}",
        f"  OpenAPI:        {url}/openapi.json",
    ]
    if backend.queue_url:
        lines.append(f"  Interact queue: {backend.queue_url}")
    if backend.endpoint_url:
        lines.append(f"  AWS endpoint:   {backend.endpoint_url}")
    lines.append("")
    region = backend.region
    operator = backend.operator
    if backend.mode == "embedded":
        lines.append(f"Demo credentials (SigV4, service execute-api, region {region}):")
    else:
        lines.append(
            f"Credentials made for this run (SigV4, service execute-api, region {region}):"
        )
    lines.append(f"  operator: access key {operator.access_key}, secret key {operator.secret_key}")
    fleet = backend.demo
    instance = _instance_principal(backend)
    if fleet is not None and instance is not None:
        lines.append(
            f"  instance {fleet.caller_instance} (its role's temporary credentials): "
            f"access key {instance.access_key}, secret key {instance.secret_key}, "
            f"session token {instance.session_token}"
        )
    if not options.auth:
        lines.append("  (authentication is off: unsigned requests are the operator's)")
    lines += [
        "",
        "Point awscurl, the AWS CLI, boto3 and clonesquad-interact (precompute, invoke) at "
        "this deployment, in your shell:",
        f"  {export_line(backend)}",
        "",
        "Try (python3 -m pip install awscurl awscli):",
    ]
    lines += [f"  {command}" for command in example_commands(backend, api, routes)]
    lines += ["", *_reports(backend), "", *_schedules(backend, api, routes), "", "Ctrl-C stops it."]
    return "\n".join(lines)


def export_line(backend: Backend) -> str:
    """One shell line that sets what the clients read: credentials, region, endpoint and
    the deployment settings (``GroupName``, the tables, ``InteractQueue``...).

    On real AWS the credentials and endpoint are left as they are (the operator's
    key is then given to awscurl by the example commands).
    """
    names: dict[str, str] = {}
    if backend.mode != "aws":
        names.update(
            AWS_ACCESS_KEY_ID=backend.operator.access_key,
            AWS_SECRET_ACCESS_KEY=backend.operator.secret_key,
        )
    names.update(AWS_DEFAULT_REGION=backend.region, AWS_REGION=backend.region)
    if backend.endpoint_url:
        names["AWS_ENDPOINT_URL"] = backend.endpoint_url
    names.update({name: value for name, value in backend.settings.items() if value})
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in names.items())
    if backend.mode == "aws":
        return f"export {assignments}"
    return f"unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN; export {assignments}"


def _reports(backend: Backend) -> list[str]:
    """Where the debug reports land, and how to read one."""
    logging_path = backend.settings.get("LoggingS3Path")
    group = backend.settings.get("GroupName")
    if not logging_path or not group:
        return ["Debug reports: none (no LoggingS3Path)."]
    where = f"{logging_path}{group}/"
    ask = []
    if backend.queue_url:
        message = shlex.quote('{"OpType": "debug/publishreportnow"}')
        ask = [
            f"  {_send_message(backend)} --queue-url {backend.queue_url} --message-body {message}"
        ]
    return [
        f"Debug reports (debug/publishreportnow) and other files land under {where}: "
        "ask for one (the message's MessageId names it), list them, read one:",
        *ask,
        f"  aws s3 ls {where}",
        f"  aws s3 cp {where}debug-report-<message id>.json.gz - | gunzip | python3 -m json.tool",
        *_backups(backend),
    ]


def _schedules(backend: Backend, api: str, routes: set[str]) -> list[str]:
    """Who fires the Scheduler entries' rules, and how to see what they did."""
    if backend.mode == "aws":
        return [
            "Scheduler entries: EventBridge fires their rules (as the main function made them)."
        ]
    lines = [
        "Scheduler entries: this AWS has no EventBridge, so serve plays its part: it sends "
        "the scheduled event of each entry's rule (CS-Cron-<group>-<hash>) when its "
        "rate(...), cron(...) or localcron(...) comes, as EventBridge would; each action "
        "is a scheduled.action log line.",
    ]
    curl = "awscurl --service execute-api"
    if backend.demo is not None:
        lines.append(
            f"  the demo's entry {DEMO_FIRED_ENTRY!r} fires every minute "
            "(interact:control/reschedulenow?delay=60)"
        )
        lines.append(f"  {active_set_line(backend.demo)}")
        if backend.demo.active_set is not None and any(
            route.startswith("configuration/") for route in routes
        ):
            lines.append(f"  {curl} {api}configuration/{SET_KEYS[0]}")
    if "scheduler" in routes:
        lines.append(f"  {curl} {shlex.quote(api + 'scheduler?format=yaml')}")
    return lines


def active_set_line(fleet: DemoFleet) -> str:
    """What the banner says of the parameter set the demo started with."""
    active = fleet.active_set
    if active is None:
        return "no parameter set is active: no entry setting config.active_parameter_set fired"
    until = (
        f"until {active.expires_at:%a %Y-%m-%d %H:%M} UTC (its TTL)"
        if active.expires_at is not None
        else "until another entry sets another"
    )
    return (
        f"parameter set {active.name!r} is active (config.active_parameter_set), as entry "
        f"{active.entry!r} set it when it last fired, {active.fired_at:%a %Y-%m-%d %H:%M} "
        f"UTC, {until}: its values of {' and '.join(SET_KEYS)} are the ones served"
    )


def _backups(backend: Backend) -> list[str]:
    """Where ``backup`` writes, and how to list what it wrote."""
    path = backend.settings.get("MetadataAndBackupS3Path")
    if not path:
        return []
    return [f"Backups (backup) land under {path}:", f"  aws s3 ls --recursive {path}"]


def _send_message(backend: Backend) -> str:
    """The AWS CLI's ``sqs send-message``, sent where the queue is.

    AWS CLI v1 sends SQS calls in some regions (``eu-west-3`` among them) to a fixed
    AWS host unless ``--endpoint-url`` is on its command line, ``AWS_ENDPOINT_URL``
    notwithstanding: the endpoint is given there.
    """
    if backend.endpoint_url:
        return f"aws sqs send-message --endpoint-url {backend.endpoint_url}"
    return "aws sqs send-message"


def example_commands(backend: Backend, api: str, routes: set[str]) -> list[str]:
    """Commands to paste (after the banner's ``export`` line)."""
    curl = "awscurl --service execute-api"
    if backend.mode == "aws":  # the shell keeps its AWS credentials: the key goes to awscurl
        operator = backend.operator
        curl += f" --access_key {operator.access_key} --secret_key {operator.secret_key}"
    commands = [f"{curl} {api}"]
    if "configuration" in routes:
        commands.append(f"{curl} {shlex.quote(api + 'configuration?format=yaml')}")
    if any(route.startswith("configuration/") for route in routes):
        key = f"{api}configuration/ec2.schedule.min_instance_count"
        commands.append(f"{curl} -X POST -d 3 {key}")
        commands.append(f"{curl} {key}")
    if "fleet/status" in routes:
        commands.append(f"{curl} {api}fleet/status")
    commands += _control_commands(curl, api, routes)
    instance = _instance_principal(backend)
    if "metadata" in routes and instance is not None:
        commands.append(
            f"{curl} --access_key {instance.access_key} --secret_key {instance.secret_key} "
            f"--session_token {instance.session_token} {api}metadata"
        )
    if backend.queue_url and "notify/ackevent" in routes:
        events = backend.demo.events[:1] if backend.demo is not None else ("<EventDate>",)
        message = '{"OpType": "notify/ackevent", "Events": ' + _json_list(events) + "}"
        commands.append(
            f"{_send_message(backend)} --queue-url {backend.queue_url} "
            f"--message-body {shlex.quote(message)}"
        )
    commands.append(f"{PROG} precompute")
    commands.append(f"aws dynamodb scan --table-name {backend.settings.get('StateTable')}")
    return commands


PROG = "clonesquad-interact"


def _control_commands(curl: str, api: str, routes: set[str]) -> list[str]:
    """The commands of the operations CloneSquad added after the specification."""
    commands = []
    if "fleet/metadata" in routes:
        commands.append(f"{curl} {api}fleet/metadata")
    if "backup" in routes:
        commands.append(f"{curl} {api}backup")
    if "control/reschedulenow" in routes:
        commands.append(f"{curl} {shlex.quote(api + 'control/reschedulenow?delay=5')}")
    if "control/instances/(?P<list>unstoppable|unstartable)" in routes:
        path = "control/instances/unstoppable?instanceids=all&mode=add&ttl=600"
        commands.append(f"{curl} {shlex.quote(api + path)}")
        commands.append(f"{curl} {api}control/instances/unstartable")
    if "cloudwatch/metriccache" in routes:
        commands.append(f"{curl} {api}cloudwatch/metriccache")
    return commands


def _instance_principal(backend: Backend) -> Principal | None:
    """The demo instance's principal, if the gateway accepts one."""
    for principal in backend.principals.values():
        if principal.session_token is not None:
            return principal
    return None


def _json_list(values: tuple[str, ...]) -> str:
    import json

    return json.dumps(list(values))
