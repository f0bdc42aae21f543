"""The AWS that a local run talks to: embedded (moto's server), an endpoint, or real AWS.

:func:`start_backend` prepares it and sets, in this process's environment, what
the dispatcher and its boto3 clients read: ``AWS_ENDPOINT_URL``, credentials and
region for the embedded AWS, and the deployment settings (``GroupName``,
``ConfigurationTable``... ``InteractQueue``, ``LoggingS3Path``,
``ConfigurationURLs``).

* ``embedded``: moto's server on a free loopback port, provisioned like a
  CloneSquad deployment and, with ``demo``, seeded with the demo fleet;
* ``endpoint``: another AWS-compatible endpoint; the resources are created if
  the Configuration table is missing, and seeded likewise;
* ``aws``: real AWS with the default credential chain; the deployment settings
  come from the environment, and nothing is created.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import structlog

from ..testing.deployment import provision
from .demo import OPERATOR, DemoFleet, configuration_url, instance_principal, seed_demo
from .sigv4 import Principal

__all__ = ["Backend", "Mode", "ServeError", "deployment_settings", "start_backend"]

logger = structlog.get_logger(__name__)

Mode = Literal["embedded", "endpoint", "aws"]

#: The credentials given to moto (it accepts any).
EMBEDDED_CREDENTIALS: Mapping[str, str] = MappingProxyType(
    {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
)
#: Variables that would send boto3 elsewhere than the embedded AWS.
_ELSEWHERE = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN")


DEFAULT_REGION = "eu-west-3"


class ServeError(Exception):
    """A local run cannot start; the message says why and what to do."""


@dataclass
class Backend:
    """The AWS of a local run, and who may call the local API."""

    mode: Mode
    region: str
    #: The deployment settings (as set in the environment).
    settings: Mapping[str, str]
    #: The AWS endpoint (the embedded one's URL), ``None`` for real AWS.
    endpoint_url: str | None = None
    demo: DemoFleet | None = None
    #: The principals the local gateway accepts, by access key.
    principals: Mapping[str, Principal] = field(default_factory=dict)
    #: The operator's credentials: the fixed demo ones for the embedded AWS, a secret
    #: made for this run otherwise (anyone may read the demo one).
    operator: Principal = OPERATOR

    @property
    def queue_url(self) -> str | None:
        """The Interact queue's URL."""
        return self.settings.get("InteractQueue") or None

    def identity_of(self, instance_id: str | None) -> dict[str, Any]:
        """``requestContext.identity`` of the operator, or of ``instance_id``'s role."""
        principal = instance_principal(instance_id) if instance_id else OPERATOR
        return dict(principal.identity)

    def session(self) -> Any:
        """A boto3 session on this AWS."""
        import boto3.session

        return boto3.session.Session(region_name=self.region)

    def client(self, service: str) -> Any:
        """A boto3 client of this AWS."""
        return self.session().client(service, endpoint_url=self.endpoint_url)


def deployment_settings(group_name: str) -> dict[str, str]:
    """The settings of a local deployment of ``group_name``."""
    return {
        "GroupName": group_name,
        "ApplicationName": "CloneSquad",
        "ConfigurationTable": f"CloneSquad-{group_name}-Configuration",
        "SchedulerTable": f"CloneSquad-{group_name}-Scheduler",
        "StateTable": f"CloneSquad-{group_name}-State",
        "EventTable": f"CloneSquad-{group_name}-EventLog",
        "LongTermEventTable": f"CloneSquad-{group_name}-EventLog-LongTerm",
        "LoggingS3Path": f"s3://clonesquad-{group_name.lower()}-logging/reports/",
        # Backups share the logging bucket, under a prefix of their own.
        "MetadataAndBackupS3Path": f"s3://clonesquad-{group_name.lower()}-logging/metadata-and-backups/",
        "ConfigurationURLs": "",
    }


@contextlib.contextmanager
def start_backend(
    mode: Mode,
    *,
    endpoint_url: str | None = None,
    demo: bool = True,
    group_name: str = "demo",
    region: str | None = None,
    quiet: bool = False,
    port: int = 0,
    names: Mapping[str, str] | None = None,
) -> Iterator[Backend]:
    """Prepare the AWS of a local run; on exit, the embedded one stops and the
    environment is restored.

    :param names: settings that name the resources to provision instead of the
        defaults of ``group_name`` (a copied deployment's table names).
    :raises ServeError: it cannot start (moto missing, endpoint unreachable,
        settings missing for real AWS).
    """
    if mode == "aws":
        if region:
            os.environ.update(AWS_DEFAULT_REGION=region, AWS_REGION=region)
        yield _real_aws()
        return
    region = region or DEFAULT_REGION
    server = None
    if mode == "embedded":
        server, endpoint_url = _start_moto(port)
    assert endpoint_url is not None
    saved = dict(os.environ)
    try:
        for name in _ELSEWHERE:
            os.environ.pop(name, None)
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_")]:
            del os.environ[name]
        if mode == "embedded" or not _has_credentials():
            os.environ.update(EMBEDDED_CREDENTIALS)
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint_url, AWS_DEFAULT_REGION=region, AWS_REGION=region
        )
        backend = _provisioned(mode, endpoint_url, region, group_name, demo, names or {})
        os.environ.update(backend.settings)
        if not quiet:
            logger.info("aws ready", mode=mode, endpoint=endpoint_url, group=group_name)
        yield backend
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if server is not None:
            _reset_moto(endpoint_url)
            server.stop()


def _start_moto(port: int = 0) -> tuple[Any, str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ServeError(
            f"the embedded AWS needs moto's server ({exc}): "
            "python3 -m pip install 'clonesquad-interact[local]'"
        ) from None
    # moto's server logs every request through werkzeug: keep the errors only.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if port and not _port_free(port):
        raise ServeError(
            f"port {port} of the embedded AWS is in use: choose another with --aws-port "
            "(0: any free port)"
        )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process: an embedded AWS started earlier in this
    # process (or a test's mock) left its resources there.
    _reset_moto(endpoint)
    return server, endpoint


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _reset_moto(endpoint: str) -> None:
    import urllib.request

    # Our own loopback server, over http:// only.
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass


def _has_credentials() -> bool:
    import boto3.session

    return boto3.session.Session().get_credentials() is not None


def _provisioned(
    mode: Mode,
    endpoint_url: str,
    region: str,
    group_name: str,
    demo: bool,
    names: Mapping[str, str],
) -> Backend:
    import boto3.session
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(region_name=region)
    settings = {**deployment_settings(group_name), **names}
    try:
        existing = mode == "endpoint" and _exists(session, endpoint_url, settings)
        if existing:
            sqs = session.client("sqs", endpoint_url=endpoint_url)
            queue = f"CloneSquad-Interact-{group_name}"
            settings["InteractQueue"] = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            fleet = None
        else:
            provisioned = provision(settings, session=session, endpoint_url=endpoint_url)
            settings["InteractQueue"] = provisioned["InteractQueue"]
            settings["MainSQSQueue"] = provisioned["MainSQSQueue"]
            fleet = seed_demo(session, settings, endpoint_url=endpoint_url) if demo else None
            if fleet is not None:
                settings["ConfigurationURLs"] = configuration_url(settings)
    except (BotoCoreError, ClientError) as exc:
        raise ServeError(f"cannot prepare the AWS resources at {endpoint_url}: {exc}") from None
    operator = OPERATOR if mode == "embedded" else with_run_secret(OPERATOR)
    principals = {operator.access_key: operator}
    if fleet is not None:
        principal = instance_principal(fleet.caller_instance)
        if mode != "embedded":
            principal = with_run_secret(principal)
        principals[principal.access_key] = principal
    return Backend(
        mode=mode,
        region=region,
        settings=MappingProxyType(settings),
        endpoint_url=endpoint_url,
        demo=fleet,
        principals=MappingProxyType(principals),
        operator=operator,
    )


def with_run_secret(principal: Principal) -> Principal:
    """``principal`` with a secret key (and session token, if it has one) made for this run."""
    token = secrets.token_urlsafe(24) if principal.session_token is not None else None
    return dataclasses.replace(principal, secret_key=secrets.token_urlsafe(30), session_token=token)


def _exists(session: Any, endpoint_url: str, settings: Mapping[str, str]) -> bool:
    from botocore.exceptions import ClientError

    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    try:
        dynamodb.describe_table(TableName=settings["ConfigurationTable"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


#: What a real deployment must give: the group and the Interact queue at least.
_REQUIRED_FOR_AWS = ("GroupName",)


def _real_aws() -> Backend:
    import boto3.session

    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise ServeError(
            "no AWS credentials found (environment, profile, instance role): "
            "configure them, or drop --aws to use an embedded AWS"
        )
    missing = [name for name in _REQUIRED_FOR_AWS if not os.environ.get(name)]
    if missing:
        raise ServeError(
            f"--aws reads the deployment from the environment; set {', '.join(missing)} "
            "(and ConfigurationTable, SchedulerTable, StateTable, EventTable, "
            "LongTermEventTable, InteractQueue, LoggingS3Path as your deployment has them)"
        )
    names = (*deployment_settings("x"), "InteractQueue", "MainSQSQueue")
    settings = {name: os.environ[name] for name in names if os.environ.get(name)}
    region = session.region_name
    if region is None:
        raise ServeError("no AWS region configured: set AWS_DEFAULT_REGION or --region")
    operator = with_run_secret(OPERATOR)
    return Backend(
        mode="aws",
        region=region,
        settings=MappingProxyType(settings),
        principals=MappingProxyType({operator.access_key: operator}),
        operator=operator,
    )
