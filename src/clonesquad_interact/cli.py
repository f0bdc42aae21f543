"""The command line: ``clonesquad-interact`` (also ``python -m clonesquad_interact``).

Subcommands:

* ``serve``: the Interact API over HTTP on this machine, with SigV4 checked as
  API Gateway checks it, on an embedded AWS (moto's server), another AWS-compatible
  endpoint, or real AWS; it also consumes the Interact queue;
* ``ops``: every operation, with its route, interfaces, methods, schema, cache
  policy and the plugin that provides it;
* ``plugins``: the installed plugins and the hooks they implement;
* ``invoke``: run one request in-process and print the answer;
* ``openapi``: print the OpenAPI 3.1 document;
* ``precompute``: run the producer once, where a plugin provides it;
* ``replay``: serve recorded Lambda events again and summarize the answers.

Errors are one line on standard error and a non-zero exit code, never a
traceback. Logging (JSON lines, on standard error) is configured here: the
library never configures it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import structlog

from . import __version__
from .commands import (
    DEMO_INSTANCE,
    EXIT_ERROR,
    EXIT_USAGE,
    CommandError,
    cmd_invoke,
    cmd_openapi,
    cmd_ops,
    cmd_plugins,
    cmd_precompute,
    cmd_replay,
    cmd_serve,
)
from .errors import PluginError
from .local.backend import ServeError
from .log import configure_logging
from .request import Interface

__all__ = ["main"]

PROG = "clonesquad-interact"

logger = structlog.get_logger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors are one line that points to ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -------------------------------------------------------------------------
# The parser
# -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``clonesquad-interact``."""
    parser = _Parser(
        prog=PROG,
        description="Serve, inspect and call the CloneSquad Interact API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level",
        metavar="LEVEL",
        help="least level of the JSON log lines written on standard error (default: LOG_LEVEL "
        "from the environment, else INFO for serve and none for the other commands)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = commands.add_parser(
        "serve",
        help="serve the API over HTTP on this machine (embedded AWS by default)",
        description="Serve the Interact API on http://HOST:PORT/v1/<operation>, checking "
        "SigV4 signatures as API Gateway does, and consume the Interact queue. By default "
        "on an embedded AWS (moto's server; needs the 'local' extra) provisioned like a "
        "CloneSquad deployment and seeded with a demo fleet. Ctrl-C stops it.",
    )
    serve.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0: any free)")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="the address to listen on (default 127.0.0.1); an address that is not loopback "
        "needs --allow-remote",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --host to be an address other machines reach (anyone who can reach it "
        "and holds the printed credentials can call the API)",
    )
    serve.add_argument(
        "--aws-port",
        type=_port,
        default=0,
        metavar="PORT",
        help="the embedded AWS's port on 127.0.0.1 (default 0: any free port)",
    )
    where = serve.add_mutually_exclusive_group()
    where.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="use this AWS-compatible endpoint instead of an embedded AWS "
        "(missing resources are created)",
    )
    where.add_argument(
        "--aws",
        action="store_true",
        help="use real AWS: default credential chain, resource names from the environment "
        "(GroupName, ConfigurationTable...); nothing is created",
    )
    serve.add_argument("--no-demo", action="store_true", help="start empty: no demo fleet or keys")
    serve.add_argument(
        "--no-auth", action="store_true", help="accept unsigned requests (as the demo operator)"
    )
    serve.add_argument(
        "--queue",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="consume the Interact queue (default: yes, except with --aws)",
    )
    serve.add_argument("--group-name", default="demo", help="GroupName (default demo)")
    serve.add_argument(
        "--region", help="AWS region (default eu-west-3; with --aws, the configured one)"
    )
    serve.set_defaults(handler=cmd_serve)

    ops = commands.add_parser(
        "ops",
        help="list every operation",
        description="List every operation: route, interfaces, methods, body, parameters, "
        "cache policy and the plugin (distribution and version) that provides it.",
    )
    ops.add_argument("--json", action="store_true", help="as JSON, with each full schema")
    ops.set_defaults(handler=cmd_ops)

    plugins = commands.add_parser(
        "plugins",
        help="list the installed plugins and their hooks",
        description="List the plugins a dispatcher loads (built-in, entry points, "
        "CLONESQUAD_INTERACT_PLUGINS) and the hooks each implements.",
    )
    plugins.add_argument("--json", action="store_true", help="as JSON")
    plugins.set_defaults(handler=cmd_plugins)

    invoke = commands.add_parser(
        "invoke",
        help="run one request in-process and print the answer",
        description="Run one request in-process (no HTTP, no Lambda) and print the answer's "
        "body; the exit code is 3 when the operation answers an error. AWS is the one "
        "the environment designates, unless --endpoint-url or --embedded says otherwise.",
        epilog="examples: invoke fleet/status; invoke configuration --param format=yaml; "
        "invoke POST configuration/app.disable --body value.txt; "
        "invoke --embedded --interface sqs notify/ackevent --param 'EventData=[\"...\"]'",
    )
    invoke.usage = (
        "%(prog)s [-h] [METHOD] PATH [--param NAME=VALUE]... [--body FILE] "
        "[--interface {apigw,sqs,direct}] [--instance [INSTANCE_ID]] [-i] "
        "[--endpoint-url URL | --embedded] [--region REGION] [--no-demo]"
    )
    invoke.add_argument(
        "request",
        nargs="+",
        metavar="[METHOD] PATH",
        help="one request: its method, GET (default) or POST, and its path",
    )
    invoke.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter (repeat it for a list); for sqs and direct, VALUE is read as JSON "
        "when it is JSON",
    )
    invoke.add_argument("--body", metavar="FILE", help="the request body, from FILE (- for stdin)")
    invoke.add_argument(
        "--interface",
        choices=[i.value for i in Interface],
        default=Interface.APIGW.value,
        help="the interface to call it from (default apigw)",
    )
    invoke.add_argument(
        "--instance",
        nargs="?",
        const=DEMO_INSTANCE,
        metavar="INSTANCE_ID",
        help="call as this EC2 instance's role (apigw), as metadata needs; "
        "with --embedded and no id: the demo instance",
    )
    invoke.add_argument("--include", "-i", action="store_true", help="print status and headers")
    _add_backend_options(invoke)
    invoke.set_defaults(handler=cmd_invoke)

    openapi = commands.add_parser(
        "openapi",
        help="print the OpenAPI 3.1 document",
        description="Print the OpenAPI 3.1 document of the operations API Gateway serves.",
    )
    openapi.add_argument(
        "--server-url",
        metavar="URL",
        help="the server's URL, without the stage (default: the API Gateway URL template)",
    )
    openapi.add_argument("--yaml", action="store_true", help="as YAML instead of JSON")
    openapi.set_defaults(handler=cmd_openapi)

    precompute = commands.add_parser(
        "precompute",
        help="run the producer once",
        description="Run the producers once, as the scheduled producer function does: "
        "precompute operations' data into the State table (interact.precomputed), and "
        "print the report (written, failed, size). AWS is the one the environment "
        "designates, unless --endpoint-url or --embedded says otherwise.",
    )
    precompute.add_argument(
        "--only", action="append", metavar="NAME", help="run this producer only (repeatable)"
    )
    precompute.add_argument(
        "--ttl", type=int, default=240, metavar="SECONDS", help="the data's lifetime (240)"
    )
    _add_backend_options(precompute)
    precompute.set_defaults(handler=cmd_precompute)

    replay = commands.add_parser(
        "replay",
        help="serve recorded Lambda events again and summarize the answers",
        description="Serve recorded Lambda events (API Gateway, SQS, scheduled) in-process, "
        "as the Lambda handler serves them, and print per operation how many, their status "
        "classes and the first failures with the reason. SOURCE is a JSON file, a directory "
        "of them, or an S3 prefix (s3://<bucket>/<LoggingS3Path's path>InteractEvents/, "
        "read with the environment's AWS). Writes are refused unless --allow-writes. AWS is "
        "the one the environment designates, unless --endpoint-url or --embedded says "
        "otherwise: --embedded is an embedded AWS holding a copy of the deployment that "
        "the environment's settings name (GroupName, ConfigurationTable...: its tables "
        "and s3:// configuration documents, only read, from the environment's AWS, "
        "--copy-from-profile or --copy-from-endpoint-url), or the demo one with --no-copy.",
    )
    replay.add_argument("sources", nargs="+", metavar="SOURCE", help="file, directory or s3://")
    replay.add_argument(
        "--allow-writes",
        action="store_true",
        help="run the events that write (POST, SQS, scheduled) and let AWS writes through",
    )
    replay.add_argument("--json", action="store_true", help="the summary as JSON")
    _add_backend_options(replay)
    replay.add_argument(
        "--no-copy",
        action="store_true",
        help="with --embedded: the demo deployment instead of a copy of the environment's",
    )
    replay.add_argument(
        "--copy-from-endpoint-url",
        metavar="URL",
        help="with --embedded: copy the deployment from this AWS-compatible endpoint",
    )
    replay.add_argument(
        "--copy-from-profile",
        metavar="NAME",
        help="with --embedded: copy the deployment with this AWS profile's credentials",
    )
    replay.set_defaults(handler=cmd_replay)
    return parser


def _port(text: str) -> int:
    """A TCP port, 0 to 65535 (argparse ``type``)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535)")
    return port


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    against = parser.add_mutually_exclusive_group()
    against.add_argument("--endpoint-url", metavar="URL", help="an AWS-compatible endpoint")
    against.add_argument(
        "--embedded",
        action="store_true",
        help="an embedded AWS, provisioned and seeded for the call (needs the 'local' extra)",
    )
    parser.add_argument(
        "--region",
        help="the AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the AWS configuration)",
    )
    parser.add_argument(
        "--no-demo", action="store_true", help="with --embedded: do not seed the demo fleet"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    level = (
        args.log_level
        or os.environ.get("LOG_LEVEL")
        or ("INFO" if args.command == "serve" else "CRITICAL")
    )
    configure_logging(level, stream=sys.stderr, force=True)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CommandError as exc:
        _fail(exc.message)
        return exc.code
    except PluginError as exc:
        _fail(f"the plugins cannot start: {exc}")
        return EXIT_ERROR
    except ServeError as exc:
        _fail(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (| head): say nothing more.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_ERROR
    except Exception as exc:  # a bug, or the environment: one line, not a traceback
        logger.debug("command failed", exc_info=exc)
        _fail(f"{type(exc).__name__}: {exc}")
        return EXIT_ERROR


def _fail(message: str) -> None:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
