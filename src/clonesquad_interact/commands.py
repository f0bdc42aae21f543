"""What the subcommands of ``clonesquad-interact`` do (the parser is in :mod:`.cli`)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

import yaml

from . import __version__
from .errors import InteractError
from .formats import parse_json
from .local.backend import Mode
from .local.copy import DeploymentCopy
from .manager import PluginInfo
from .operation import Operation
from .rendering import render_body
from .request import Interface, format_word

__all__ = [
    "DEMO_INSTANCE",
    "CommandError",
    "cmd_invoke",
    "cmd_openapi",
    "cmd_ops",
    "cmd_plugins",
    "cmd_precompute",
    "cmd_replay",
    "cmd_serve",
]

PROG = "clonesquad-interact"
DISTRIBUTION = "clonesquad-interact"

#: Exit codes.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
#: ``invoke``: the operation answered an error (4xx or 5xx).
EXIT_ANSWERED_ERROR = 3


class CommandError(Exception):
    """A failure to report as one line, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# -------------------------------------------------------------------------
# Subcommands
# -------------------------------------------------------------------------


def _dispatcher() -> Any:
    from .dispatcher import Dispatcher

    return Dispatcher()


def cmd_ops(args: argparse.Namespace) -> int:
    """List every operation."""
    dispatcher = _dispatcher()
    plugins = {info.name: info for info in dispatcher.plugins.describe()}
    listed = [
        _describe_operation(dispatcher, operation, plugins)
        for operation in sorted(dispatcher.operations, key=lambda op: (op.is_regex, op.name))
    ]
    if args.json:
        _print_json(listed)
        return EXIT_OK
    for entry in listed:
        route = entry["name"]
        if entry["regex"]:
            route = f"{route}  (regex {entry['route']})"
        plugin = entry["plugin"]
        print(route or "(root: GET /)")
        print(f"    {entry['summary']}")
        print(
            f"    methods {','.join(entry['methods'])}; "
            f"interfaces {','.join(entry['interfaces'])}; "
            f"body {entry['body']}; cache {entry['cache']}"
        )
        params = ", ".join(_param_text(name, schema) for name, schema in entry["params"].items())
        print(f"    params: {params or 'none'}")
        print(f"    plugin {plugin['name']}{_source_text(plugin)}")
    return EXIT_OK


def _describe_operation(
    dispatcher: Any, operation: Operation, plugins: Mapping[str, PluginInfo]
) -> dict[str, Any]:
    schema = dispatcher.schema(operation)
    params = schema.get("properties", {}).get("params", {}).get("properties", {})
    return {
        "name": operation.title,
        "route": operation.name,
        "regex": operation.is_regex,
        "summary": operation.summary,
        "interfaces": sorted(str(i) for i in operation.interfaces),
        "methods": sorted(operation.methods),
        "body": str(operation.body),
        "cache": str(operation.cache),
        "params": params,
        "schema": schema,
        "plugin": _plugin_source(dispatcher, operation.plugin, plugins.get(operation.plugin)),
    }


def _source_text(plugin: Mapping[str, Any]) -> str:
    """`` (distribution version)``, or nothing for a plugin no distribution installed."""
    if not plugin["distribution"]:
        return ""
    version = f" {plugin['version']}" if plugin["version"] else ""
    return f" ({plugin['distribution']}{version})"


def _param_text(name: str, schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return name
    if isinstance(schema.get("enum"), list):
        return f"{name} ({'|'.join(str(v) for v in schema['enum'])})"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "|".join(str(k) for k in kind)
    return f"{name} ({kind})" if kind else name


def _plugin_source(dispatcher: Any, name: str, info: PluginInfo | None) -> dict[str, Any]:
    """The plugin's name, and the distribution (and version) that installed it."""
    distribution = info.distribution if info else None
    version = info.version if info else None
    if distribution is None:
        plugin = dispatcher.plugins.manager.get_plugin(name)
        module = getattr(plugin, "__name__", None)
        if not isinstance(module, str) or module != name:
            module = type(plugin).__module__
        distribution, version = _distribution_of(module)
    return {"name": name, "distribution": distribution, "version": version}


def _distribution_of(module: str) -> tuple[str | None, str | None]:
    top = module.split(".", 1)[0]
    if top == __package__:
        return DISTRIBUTION, __version__
    names = _packages_distributions().get(top, [])
    if not names:
        return None, None
    try:
        return names[0], importlib.metadata.version(names[0])
    except importlib.metadata.PackageNotFoundError:
        return names[0], None


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    """Top-level package -> distributions (reading every installed one: done once)."""
    return importlib.metadata.packages_distributions()


def cmd_plugins(args: argparse.Namespace) -> int:
    """List the installed plugins and their hooks."""
    dispatcher = _dispatcher()
    listed = []
    for info in dispatcher.plugins.describe():
        source = _plugin_source(dispatcher, info.name, info)
        listed.append({**source, "hooks": list(info.hooks)})
    if args.json:
        _print_json(listed)
        return EXIT_OK
    for entry in listed:
        print(f"{entry['name']}{_source_text(entry)}")
        print(f"    hooks: {', '.join(entry['hooks']) or 'none'}")
    return EXIT_OK


def cmd_openapi(args: argparse.Namespace) -> int:
    """Print the OpenAPI document."""
    from .openapi import openapi_document

    document = openapi_document(_dispatcher(), server_url=args.server_url)
    if args.yaml:
        print(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), end="")
    else:
        _print_json(document)
    return EXIT_OK


def cmd_invoke(args: argparse.Namespace) -> int:
    """Run one request in-process and print the answer."""
    method, path = _method_and_path(args.request)
    interface = Interface(args.interface)
    if interface is Interface.SQS:
        method = "POST"  # SQS messages count as POST
    op, params = _op_and_params(path, args.param, interface)
    body = _read_body(args.body)
    with _backend(args) as identities:
        dispatcher = _dispatcher()
        identity = identities(args.instance) if args.interface == Interface.APIGW else None
        response = dispatcher.call(
            op,
            method=method,
            params=params,
            body=body,
            identity=identity,
            interface=Interface(args.interface),
        )
    fmt = (
        "yaml" if format_word(params.get("format")) == "yaml" and response.status < 400 else "json"
    )
    text, content_type = render_body(response.body, fmt)
    if args.include:
        print(f"{response.status}")
        print(f"Content-Type: {content_type}")
        for name, value in response.headers.items():
            print(f"{name}: {value}")
        print()
    print(text)
    return EXIT_OK if response.status < 400 else EXIT_ANSWERED_ERROR


def _method_and_path(words: Sequence[str]) -> tuple[str, str]:
    if len(words) == 1:
        return "GET", words[0]
    if len(words) == 2:
        method = words[0].upper()
        if method not in ("GET", "POST"):
            raise CommandError(f"the method must be GET or POST, not {words[0]!r}", EXIT_USAGE)
        return method, words[1]
    raise CommandError(
        f"one request at a time: give [METHOD] PATH, not {' '.join(words)!r} "
        "(run invoke once per request)",
        EXIT_USAGE,
    )


def _op_and_params(
    path: str, pairs: Sequence[str], interface: Interface
) -> tuple[str, dict[str, Any]]:
    """The operation name (``/v1/`` and one ``/`` removed) and the parameters."""
    path, _, query = path.partition("?")
    for prefix in ("/v1/", "/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    collected: list[tuple[str, str]] = parse_qsl(query, keep_blank_values=True)
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise CommandError(f"--param {pair!r}: write it NAME=VALUE", EXIT_USAGE)
        collected.append((name, value))
    params: dict[str, Any] = {}
    for name, value in collected:
        # API Gateway sends text (typed by the schema); SQS and direct callers send JSON.
        typed: Any = value if interface is Interface.APIGW else _json_or_text(value)
        if name in params:
            previous = params[name]
            params[name] = (*previous, typed) if isinstance(previous, tuple) else (previous, typed)
        else:
            params[name] = typed
    if interface is not Interface.APIGW:
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    return path, params


def _json_or_text(value: str) -> Any:
    try:
        return parse_json(value)
    except (ValueError, InteractError, RecursionError):
        return value


def _read_body(source: str | None) -> str | None:
    if source is None:
        return None
    try:
        if source == "-":
            return sys.stdin.read()
        with open(source, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read the body from {source}: {exc}") from None


@contextlib.contextmanager
def _backend(
    args: argparse.Namespace, copy: DeploymentCopy | None = None
) -> Iterator[Callable[[str | None], dict[str, Any]]]:
    """The AWS to run against (``--endpoint-url``, ``--embedded``, else the environment's).

    :param copy: with ``--embedded``, the deployment to serve instead of the demo one.
    Yields ``identity(instance_id)``: the caller of API Gateway requests.
    """
    from .testing.builders import OPERATOR_IDENTITY, instance_identity

    def default_identity(instance: str | None) -> dict[str, Any]:
        if instance == DEMO_INSTANCE:
            raise CommandError(f"--instance {DEMO_INSTANCE} needs --embedded; give an instance id")
        return instance_identity(instance) if instance else dict(OPERATOR_IDENTITY)

    if args.region:
        os.environ["AWS_REGION"] = args.region
    if args.endpoint_url:
        if not _configured_region():
            raise CommandError("--endpoint-url needs a region: give --region or set AWS_REGION")
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    if not args.embedded:
        yield default_identity
        return
    from .local.backend import start_backend

    with start_backend(
        "embedded",
        demo=not args.no_demo and copy is None,
        quiet=True,
        group_name=copy.group_name if copy else "demo",
        region=copy.region if copy else None,
        names=copy.settings if copy else None,
    ) as backend:
        if copy is not None:
            from .local.copy import write_copy

            write_copy(copy, backend.client, backend.region)
            if copy.configuration_urls:  # its s3:// documents are in the embedded S3 now
                os.environ["ConfigurationURLs"] = copy.configuration_urls  # noqa: SIM112

        def identity(instance: str | None) -> dict[str, Any]:
            if instance == DEMO_INSTANCE:
                if backend.demo is None:
                    raise CommandError(f"--instance {DEMO_INSTANCE}: there is no demo fleet")
                instance = backend.demo.caller_instance
            return backend.identity_of(instance)

        yield identity


def _configured_region() -> str | None:
    """The region the environment or the AWS configuration files give, if any."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    import boto3.session

    configured: str | None = boto3.session.Session().region_name
    return configured


#: ``--instance demo``: the demo instance whose role the embedded AWS's instance principal is.
DEMO_INSTANCE = "demo"


def cmd_precompute(args: argparse.Namespace) -> int:
    """Run the producer once and print its report."""
    import importlib

    try:
        producer = importlib.import_module(PRODUCER_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != PRODUCER_MODULE:
            raise
        raise CommandError(
            f"this installation has no producer ({PRODUCER_MODULE} is missing)"
        ) from None
    with _backend(args):
        dispatcher = _dispatcher()
        report = producer.produce(
            dispatcher, ttl=args.ttl, only=tuple(args.only) if args.only else None
        )
    _print_json(report.as_dict())
    return EXIT_OK if report.written or not report.failed else EXIT_ERROR


#: The module of the producer (its scheduled Lambda function is ``handler`` there).
PRODUCER_MODULE = "clonesquad_interact.producer"


def cmd_replay(args: argparse.Namespace) -> int:
    """Serve recorded events again and print the summary."""
    import boto3.session

    from .replay import read_events, replay

    copying = args.embedded and not args.no_copy
    if not copying and (args.copy_from_endpoint_url or args.copy_from_profile):
        raise CommandError(
            "--copy-from-endpoint-url and --copy-from-profile name the deployment that "
            "--embedded copies: add --embedded (without --no-copy)",
            EXIT_USAGE,
        )
    # The sources (and the deployment to copy) are read with the environment's AWS, or
    # the profile's, before --embedded replaces it.
    session = boto3.session.Session(
        profile_name=args.copy_from_profile or None, region_name=args.region or None
    )
    endpoint = args.copy_from_endpoint_url
    copy = _copy_of_deployment(session, endpoint) if copying else None
    source_s3 = (
        session.client("s3", endpoint_url=endpoint)
        if any(s.startswith("s3://") for s in args.sources)
        else None
    )
    with _backend(args, copy):
        summary = replay(
            read_events(args.sources, lambda: source_s3),
            allow_writes=args.allow_writes,
            dispatcher=_dispatcher(),
            progress=lambda done: print(f"{PROG}: {done} event(s) replayed...", file=sys.stderr),
        )
    if args.json:
        _print_json(summary.as_dict())
    else:
        print(summary.text())
    return EXIT_ANSWERED_ERROR if summary.failed else EXIT_OK


def _copy_of_deployment(session: Any, endpoint_url: str | None) -> DeploymentCopy:
    """The deployment the environment names, read (only read) with ``session``."""
    from .local.copy import CopyError, read_deployment

    if session.region_name is None:
        raise CommandError(
            "the deployment to copy needs a region: give --region, set AWS_REGION, or "
            "name a profile that has one"
        )
    try:
        copy = read_deployment(session, os.environ, endpoint_url=endpoint_url)
    except CopyError as exc:
        raise CommandError(str(exc)) from None
    print(f"{PROG}: {copy.describe()} into an embedded AWS", file=sys.stderr)
    return copy


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API over HTTP until interrupted."""
    from .local.serve import ServeOptions, serve

    mode: Mode = "aws" if args.aws else ("endpoint" if args.endpoint_url else "embedded")
    return serve(
        ServeOptions(
            mode=mode,
            endpoint_url=args.endpoint_url,
            port=args.port,
            demo=not args.no_demo,
            auth=not args.no_auth,
            consume_queue=args.queue if args.queue is not None else mode != "aws",
            group_name=args.group_name,
            region=args.region,
            host=_serve_host(args.host, args.allow_remote),
            aws_port=args.aws_port,
        )
    )


def _serve_host(host: str, allow_remote: bool) -> str:
    """``--host``, refused unless it is loopback or ``--allow-remote`` says so."""
    if _is_loopback(host):
        return host
    if not allow_remote:
        raise CommandError(
            f"--host {host} is not a loopback address: other machines could call the API "
            "with the printed credentials; add --allow-remote if that is what you want",
            EXIT_USAGE,
        )
    print(
        f"{PROG}: warning: serving on {host}, reachable from other machines: anyone who "
        "can reach it and holds the printed credentials can call the API",
        file=sys.stderr,
    )
    return host


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))
