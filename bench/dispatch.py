"""Dispatch benchmark: the clonesquad-interact pipeline next to Powertools and a minimal floor.

Run from the repository root::

    python bench/dispatch.py            # full run (well under a minute on 2 cores)
    python bench/dispatch.py --quick    # a short run, rougher figures
    python bench/dispatch.py --json     # the table, then the figures as JSON
    python bench/dispatch.py --profile  # also where the pipeline's time goes (cProfile)

Three contenders serve the same two API Gateway REST (payload 1.0) GET requests,
``/fleet/status?format=json`` (an exact route) and ``/configuration/app.disable``
(a regex route):

* the full clonesquad-interact pipeline, through the Lambda entry point
  ``clonesquad_interact.lambda_handler.handler``: normalize, route, authorize,
  validate, run the operation, log one JSON line (to ``os.devnull``), render;
* AWS Lambda Powertools' ``APIGatewayRestResolver`` (no validation, no logging);
* a hand-written minimal dispatcher: a dict lookup, a regex list, ``json.dumps``.

It prints microseconds per request (the best of several timed loops, after a
warm-up), the ratios between contenders, the per-message cost of an SQS batch,
and the cold start of a fresh interpreter serving one request. Every figure is
measured in the same run; nothing is compared with a fixed time.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import importlib.metadata
import io
import json
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from itertools import cycle, repeat
from pathlib import Path
from typing import Any, TextIO

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, content_types
from aws_lambda_powertools.event_handler import Response as PowertoolsResponse

from clonesquad_interact import Interface, Operation, Request, hookimpl
from clonesquad_interact.lambda_handler import get_dispatcher, handler
from clonesquad_interact.log import configure_logging
from clonesquad_interact.manager import BUILTIN_PLUGINS, ENV_BLOCK, ENV_PLUGINS, ENV_TRACE
from clonesquad_interact.testing import apigw_rest_event, sqs_event

TARGET = "full pipeline no slower than Powertools' bare resolver"

#: The built-in operation plugins, left out: this module serves the same names.
BLOCKED = " ".join(name for name in BUILTIN_PLUGINS if not name.endswith(".root"))

INTERACT = "clonesquad-interact pipeline"
POWERTOOLS = "Powertools APIGatewayRestResolver"
MINIMAL = "minimal dispatcher"
CONTENDERS = (INTERACT, POWERTOOLS, MINIMAL)

STATUS_ROUTE = "fleet/status"
CONFIG_ROUTE = "configuration/<key>"
#: The regex route again, with a name never seen lately on each request: routing
#: cannot answer from what it remembers.
FRESH_ROUTE = "configuration/<new key>"
ROUTES = (STATUS_ROUTE, CONFIG_ROUTE, FRESH_ROUTE)
#: Short names of the routes, for the table's columns.
COLUMNS = {STATUS_ROUTE: "status", CONFIG_ROUTE: "config", FRESH_ROUTE: "new key"}
#: How many different keys the FRESH_ROUTE requests cycle through (more than the
#: router remembers).
FRESH_KEYS = 4096
CONFIG_KEY = "app.disable"
SQS_BATCH = 10

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"


# -------------------------------------------------------------------------
# What every contender serves
# -------------------------------------------------------------------------


def fleet_status() -> dict[str, Any]:
    """The small document that ``fleet/status`` answers."""
    return {"fleet": "main", "desired": 4, "running": 3, "pending": 1, "draining": 0}


def configuration_value(key: str) -> str:
    """What ``configuration/<key>`` answers: the key it captured, as text."""
    return key


# -------------------------------------------------------------------------
# Contender 1: the clonesquad-interact pipeline (this module is the plugin)
# -------------------------------------------------------------------------


@hookimpl
def register_operations() -> list[Operation]:
    """The benchmark's operations, with inline schemas."""
    return [
        Operation(
            route=STATUS_ROUTE,
            handler=_status_operation,
            summary="The fleet's instance counts.",
            schema={
                "type": "object",
                "properties": {
                    "params": {
                        "type": "object",
                        "properties": {"verbose": {"type": "boolean"}},
                    }
                },
            },
        ),
        Operation(
            route=re.compile("configuration/(.+)"),
            handler=_configuration_operation,
            summary="One configuration key, as text.",
            schema={"type": "object", "properties": {"params": {"type": "object"}}},
        ),
        Operation(
            route="fleet/scale",
            handler=_scale_operation,
            summary="Set the fleet's desired size (from the SQS queue).",
            schema={
                "type": "object",
                "properties": {
                    "params": {
                        "type": "object",
                        "properties": {"desired": {"type": "integer", "minimum": 0}},
                        "required": ["desired"],
                    }
                },
            },
            interfaces=frozenset({Interface.SQS, Interface.DIRECT}),
            methods=frozenset({"POST"}),
        ),
    ]


def _status_operation(request: Request) -> dict[str, Any]:
    return fleet_status()


def _configuration_operation(request: Request) -> str:
    return configuration_value(request.path_args[0])


def _scale_operation(request: Request) -> dict[str, Any]:
    return {"desired": request.params["desired"]}


def interact_handler() -> Callable[[Mapping[str, Any], Any], Any]:
    """The Lambda entry point, with this module found through ``CLONESQUAD_INTERACT_PLUGINS``.

    This is how a deployment names its plugin modules; the dispatcher is then built
    on the first event, like in a fresh Lambda container.
    """
    for name in (ENV_PLUGINS, ENV_BLOCK, ENV_TRACE):
        os.environ.pop(name, None)
    os.environ[ENV_PLUGINS] = __name__
    os.environ[ENV_BLOCK] = BLOCKED
    get_dispatcher.cache_clear()
    return handler


# -------------------------------------------------------------------------
# Contender 2: AWS Lambda Powertools
# -------------------------------------------------------------------------


def powertools_app() -> APIGatewayRestResolver:
    """The same routes on Powertools' REST resolver (no data validation, no logging)."""
    app = APIGatewayRestResolver(debug=False)

    @app.get("/fleet/status")
    def _status() -> dict[str, Any]:
        return fleet_status()

    @app.get("/configuration/<key>")
    def _configuration(key: str) -> PowertoolsResponse[str]:
        return PowertoolsResponse(
            status_code=200, content_type=content_types.TEXT_PLAIN, body=configuration_value(key)
        )

    return app


class FakeLambdaContext:
    """The attributes of a Lambda context object that handlers commonly read."""

    function_name = "clonesquad-interact-bench"
    function_version = "$LATEST"
    invoked_function_arn = (
        "arn:aws:lambda:eu-west-1:111111111111:function:clonesquad-interact-bench"
    )
    memory_limit_in_mb = 512
    aws_request_id = "5e2b6a1c-1111-4222-8333-944455556666"
    log_group_name = "/aws/lambda/clonesquad-interact-bench"
    log_stream_name = "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


# -------------------------------------------------------------------------
# Contender 3: the floor
# -------------------------------------------------------------------------

_MINIMAL_EXACT: dict[str, Callable[[], Any]] = {STATUS_ROUTE: fleet_status}
_MINIMAL_REGEXES: list[tuple[re.Pattern[str], Callable[..., Any]]] = [
    (re.compile("configuration/(.+)"), configuration_value)
]


def minimal_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Route on ``pathParameters.proxy``: exact names, then regexes; answer a proxy dict."""
    name = event["pathParameters"]["proxy"]
    function = _MINIMAL_EXACT.get(name)
    if function is not None:
        result = function()
    else:
        for pattern, function in _MINIMAL_REGEXES:
            found = pattern.fullmatch(name)
            if found is not None:
                result = function(*found.groups())
                break
        else:
            return {"statusCode": 404, "headers": {}, "body": "", "isBase64Encoded": False}
    if isinstance(result, str):
        body, content_type = result, TEXT_TYPE
    else:
        body, content_type = json.dumps(result), JSON_TYPE
    return {
        "statusCode": 200,
        "headers": {"Content-Type": content_type},
        "body": body,
        "isBase64Encoded": False,
    }


# -------------------------------------------------------------------------
# Timing
# -------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    """One thing to time: a call, and how many requests one call serves."""

    contender: str
    route: str
    call: Callable[[], object]
    requests_per_call: int = 1
    number: int = 0
    samples_ns: list[float] = dataclasses.field(default_factory=list)

    @property
    def best_us(self) -> float:
        return min(self.samples_ns) / 1000

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples_ns) / 1000


@dataclasses.dataclass(frozen=True)
class Settings:
    repeats: int
    loop_seconds: float
    warmup_seconds: float
    cold_runs: int


FULL = Settings(repeats=15, loop_seconds=0.1, warmup_seconds=0.1, cold_runs=9)
QUICK = Settings(repeats=5, loop_seconds=0.02, warmup_seconds=0.02, cold_runs=3)


def _loop_ns(call: Callable[[], object], number: int) -> int:
    start = time.perf_counter_ns()
    for _ in repeat(None, number):
        call()
    return time.perf_counter_ns() - start


def measure(cases: Sequence[Case], settings: Settings) -> None:
    """Warm each case up, size its loop, then time the cases in turn, ``repeats`` rounds.

    The rounds interleave the cases, so a slow spell of the machine touches them all,
    and each case has one time per round, which ratios pair up (:meth:`Results.ratio`).
    The garbage collector stays on: it is part of what a request costs.
    """
    for case in cases:
        calls, elapsed = 0, 0
        while elapsed < settings.warmup_seconds * 1e9 or calls < 20:
            elapsed += _loop_ns(case.call, 10)
            calls += 10
        case.number = max(1, int(settings.loop_seconds * 1e9 * calls / elapsed))
    for _ in range(settings.repeats):
        for case in cases:
            elapsed = _loop_ns(case.call, case.number)
            case.samples_ns.append(elapsed / (case.number * case.requests_per_call))


# -------------------------------------------------------------------------
# Checks: every contender answers what it should before it is timed
# -------------------------------------------------------------------------


class BenchmarkError(Exception):
    """A contender did not answer as expected: the figures would mean nothing."""


def check_answer(contender: str, route: str, answer: Any, key: str = CONFIG_KEY) -> None:
    if not isinstance(answer, Mapping) or answer.get("statusCode") != 200:
        raise BenchmarkError(f"{contender} on {route} answered {answer!r}")
    body = answer.get("body")
    expected: object = fleet_status() if route == STATUS_ROUTE else key
    got = json.loads(body) if route == STATUS_ROUTE and isinstance(body, str) else body
    if got != expected:
        raise BenchmarkError(f"{contender} on {route} answered the body {body!r}")


def check_sqs_answer(answer: Any) -> None:
    if answer != {"batchItemFailures": []}:
        raise BenchmarkError(f"{INTERACT} on an SQS batch answered {answer!r}")


# -------------------------------------------------------------------------
# Cold start: fresh interpreters
# -------------------------------------------------------------------------

#: Each child that serves a request times, inside itself, its imports and then the rest
#: (routes or plugins set up, the event read and served), and writes both to stderr.
_CHILD_PROLOGUE = """\
import json, re, sys, time
started = time.perf_counter()
"""

_CHILD_EPILOGUE = """\
with open(sys.argv[1], encoding="utf-8") as file:
    event = json.load(file)
answer = serve(event, None)
done = time.perf_counter()
times = {"import": (imported - started) * 1e3, "first_request": (done - imported) * 1e3}
print(json.dumps(times), file=sys.stderr)
sys.exit(0 if answer["statusCode"] == 200 else 1)
"""

#: The benchmark's operations again, as a deployment's handler module would hold them;
#: the child names itself (``__main__``) in CLONESQUAD_INTERACT_PLUGINS.
CHILD_INTERACT = (
    _CHILD_PROLOGUE
    + """\
from clonesquad_interact import Operation, hookimpl
from clonesquad_interact.lambda_handler import handler
imported = time.perf_counter()

@hookimpl
def register_operations():
    params = {"type": "object", "properties": {"params": {"type": "object"}}}
    return [
        Operation(
            route="fleet/status",
            handler=lambda request: {"fleet": "main", "desired": 4, "running": 3},
            summary="The fleet's instance counts.",
            schema=params,
        ),
        Operation(
            route=re.compile("configuration/(.+)"),
            handler=lambda request: request.path_args[0],
            summary="One configuration key, as text.",
            schema=params,
        ),
    ]

serve = handler
"""
    + _CHILD_EPILOGUE
)

CHILD_POWERTOOLS = (
    _CHILD_PROLOGUE
    + """\
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
imported = time.perf_counter()

app = APIGatewayRestResolver()

@app.get("/fleet/status")
def status():
    return {"fleet": "main", "desired": 4, "running": 3}

@app.get("/configuration/<key>")
def configuration(key):
    return Response(status_code=200, content_type=content_types.TEXT_PLAIN, body=key)

serve = app.resolve
"""
    + _CHILD_EPILOGUE
)

COLD_BARE = "python -c pass"
COLD_INTERACT_IMPORT = "import clonesquad_interact.lambda_handler"
COLD_INTERACT = "clonesquad-interact: import + 1 request"
COLD_POWERTOOLS_IMPORT = "import Powertools APIGatewayRestResolver"
COLD_POWERTOOLS = "Powertools: import + 1 request"


@dataclasses.dataclass
class Child:
    """A fresh interpreter: its program, and what it must write to standard output."""

    label: str
    code: str
    env: Mapping[str, str]
    #: JSON log lines expected on standard output.
    log_lines: int = 0
    #: Whether it times its own import and first request (on standard error).
    timed: bool = False
    samples_ms: list[float] = dataclasses.field(default_factory=list)
    inside_ms: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def min_ms(self) -> float:
        return min(self.samples_ms)

    def inside_median_ms(self, part: str) -> float:
        return statistics.median(self.inside_ms[part])


def cold_children(pycache: Path) -> list[Child]:
    """The programs, in an environment without the settings that would change their work.

    ``CLONESQUAD_INTERACT_*``, ``POWERTOOLS_*`` and ``LOG_LEVEL`` are removed (the
    pipeline's child must write its one log line at level INFO).

    Byte code is cached under ``pycache`` (filled by an unmeasured first run), so
    that every child reads compiled modules, whatever ``PYTHONDONTWRITEBYTECODE``
    says and whether or not the installed packages ship ``.pyc`` files.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CLONESQUAD_INTERACT_", "POWERTOOLS_"))
        and name not in ("LOG_LEVEL", "PYTHONDONTWRITEBYTECODE")
    }
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    interact_env = {**env, ENV_PLUGINS: "__main__", ENV_BLOCK: BLOCKED}
    return [
        Child(COLD_BARE, "pass", env),
        Child(COLD_INTERACT_IMPORT, "import clonesquad_interact.lambda_handler", env),
        Child(COLD_INTERACT, CHILD_INTERACT, interact_env, log_lines=1, timed=True),
        Child(
            COLD_POWERTOOLS_IMPORT,
            "from aws_lambda_powertools.event_handler import APIGatewayRestResolver",
            env,
        ),
        Child(COLD_POWERTOOLS, CHILD_POWERTOOLS, env, timed=True),
    ]


def run_child(child: Child, event_file: Path, record: bool) -> None:
    """Run the child once and check what it wrote; ``record`` its times."""
    start = time.perf_counter_ns()
    done = subprocess.run(
        [sys.executable, "-c", child.code, str(event_file)],
        env=dict(child.env),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if done.returncode != 0:
        raise BenchmarkError(
            f"cold start {child.label!r} exited with {done.returncode}: {done.stderr.strip()}"
        )
    lines = done.stdout.splitlines()
    if len(lines) != child.log_lines or any(
        json.loads(line).get("event") != "request" for line in lines
    ):
        raise BenchmarkError(f"cold start {child.label!r} wrote {done.stdout!r}")
    if not record:
        return
    child.samples_ms.append(elapsed)
    if child.timed:
        for part, value in json.loads(done.stderr.splitlines()[-1]).items():
            child.inside_ms.setdefault(part, []).append(value)


def measure_cold_start(runs: int) -> list[Child]:
    """Run every child ``runs`` times, in turn, after one unmeasured run of each."""
    with tempfile.TemporaryDirectory(prefix="clonesquad-bench-") as directory:
        event_file = Path(directory) / "event.json"
        event = apigw_rest_event("GET", "/fleet/status", params={"format": "json"})
        event_file.write_text(json.dumps(event), encoding="utf-8")
        children = cold_children(Path(directory) / "pycache")
        for child in children:  # unmeasured: byte code cached, files in the page cache
            run_child(child, event_file, record=False)
        for _ in range(runs):
            for child in children:
                run_child(child, event_file, record=True)
    return children


# -------------------------------------------------------------------------
# Profile
# -------------------------------------------------------------------------


def profile(call: Callable[[], object], requests: int, top: int = 30) -> str:
    """cProfile ``requests`` calls; the functions with the most cumulative time first."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in repeat(None, requests):
        call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(top)
    return out.getvalue()


# -------------------------------------------------------------------------
# Report
# -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Results:
    """Everything one run measured."""

    settings: Settings
    quick: bool
    cases: Mapping[tuple[str, str], Case]
    sqs: Case
    children: Sequence[Child]

    def best_us(self, contender: str, route: str) -> float:
        return self.cases[contender, route].best_us

    def ratio(self, contender: str, reference: str, route: str) -> float:
        """The median, over the rounds, of ``contender``'s time over ``reference``'s.

        Both were timed in the same round, one right after the other, so a slow
        spell of the machine touches both: the ratio moves less than the times do.
        """
        ours = self.cases[contender, route].samples_ns
        theirs = self.cases[reference, route].samples_ns
        return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))

    @property
    def target_ratios(self) -> dict[str, float]:
        """The pipeline over Powertools, per route: the target is <= 1 on each."""
        return {route: self.ratio(INTERACT, POWERTOOLS, route) for route in ROUTES}

    @property
    def target_met(self) -> bool:
        return all(ratio <= 1.0 for ratio in self.target_ratios.values())

    def child(self, label: str) -> Child:
        return next(child for child in self.children if child.label == label)

    def import_cost_ms(self) -> dict[str, float]:
        """Median wall time of the import-only child minus that of the bare interpreter."""
        bare = self.child(COLD_BARE).median_ms
        return {
            "clonesquad-interact": self.child(COLD_INTERACT_IMPORT).median_ms - bare,
            "powertools": self.child(COLD_POWERTOOLS_IMPORT).median_ms - bare,
        }

    def inside_ms(self, part: str) -> dict[str, float]:
        """Median of a part (``import``, ``first_request``) timed inside the serving children."""
        return {
            "clonesquad-interact": self.child(COLD_INTERACT).inside_median_ms(part),
            "powertools": self.child(COLD_POWERTOOLS).inside_median_ms(part),
        }


def _versions() -> dict[str, str]:
    names = ("clonesquad-interact", "aws-lambda-powertools", "structlog", "jsonschema")
    return {name: importlib.metadata.version(name) for name in names}


def _header_lines(results: Results) -> list[str]:
    settings = results.settings
    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.machine()}, {os.cpu_count()} CPUs; "
        + ", ".join(f"{name} {version}" for name, version in _versions().items()),
        f"{'quick' if results.quick else 'full'} run: best of {settings.repeats} loops of "
        f"~{settings.loop_seconds * 1000:.0f} ms per case, after a warm-up; GC on",
    ]


def _per_request_lines(results: Results) -> list[str]:
    name_width, width = 34, 10
    groups = ("us/request", "vs Powertools", "vs minimal")
    columns = "".join(COLUMNS[route].rjust(width) for route in ROUTES)
    lines = [
        "Per request, warm, API Gateway REST (payload 1.0) GET; best of the loops:",
        "  status  = /fleet/status?format=json (exact route, JSON answer)",
        f"  config  = /configuration/{CONFIG_KEY} (regex route, text answer)",
        f"  new key = /configuration/app.key-<n>, n cycling through {FRESH_KEYS} keys",
        "            (the regex route, with a name routing has not seen lately)",
        "",
        "  " + " " * name_width + "".join(group.center(len(ROUTES) * width) for group in groups),
        "  " + "contender".ljust(name_width) + columns * 3,
        "  " + "-" * (name_width + 3 * len(ROUTES) * width),
    ]
    for contender in CONTENDERS:
        cells = [f"{results.best_us(contender, route):.2f}" for route in ROUTES]
        cells += [
            f"{results.ratio(contender, reference, route):.2f}x"
            for reference in (POWERTOOLS, MINIMAL)
            for route in ROUTES
        ]
        lines.append(
            "  " + contender.ljust(name_width) + "".join(cell.rjust(width) for cell in cells)
        )
    measured = ", ".join(f"{route} {ratio:.2f}x" for route, ratio in results.target_ratios.items())
    lines += [
        "",
        f"Target: {TARGET} (ratio <= 1.00 on every request above)",
        f"  measured: {measured} -> {'MET' if results.target_met else 'NOT MET'}",
    ]
    return lines


def _sqs_lines(results: Results) -> list[str]:
    per_message = results.sqs.best_us
    versus = per_message / results.best_us(INTERACT, STATUS_ROUTE)
    return [
        f"SQS batch of {SQS_BATCH} messages through the pipeline (information):",
        f"  {per_message:.2f} us per message ({per_message * SQS_BATCH:.1f} us per batch; "
        f"{versus:.2f}x one fleet/status request)",
    ]


def _cold_start_lines(results: Results) -> list[str]:
    children = results.children
    bare = results.child(COLD_BARE).median_ms
    label_width = 44
    lines = [
        f"Cold start: a fresh `{Path(sys.executable).name} -c ...` (the event read from a "
        f"JSON file), {len(children[0].samples_ms)} runs each, ms:",
        "  "
        + " " * label_width
        + "".join(title.rjust(9) for title in ("median", "min", "max"))
        + "median-bare".rjust(13),
    ]
    for child in children:
        extra = "" if child.label == COLD_BARE else f"{child.median_ms - bare:+.1f}".rjust(13)
        lines.append(
            f"  {child.label:<{label_width}}{child.median_ms:>9.1f}{child.min_ms:>9.1f}"
            f"{max(child.samples_ms):>9.1f}{extra}"
        )
    imports = results.import_cost_ms()
    lines += [
        f"  import only (median - bare): clonesquad-interact {imports['clonesquad-interact']:.1f}"
        f" ms, Powertools {imports['powertools']:.1f} ms "
        f"({imports['clonesquad-interact'] / imports['powertools']:.2f}x)",
        "  timed inside the children that serve a request, medians, ms:",
        "    "
        + " " * 40
        + "clonesquad-interact".rjust(21)
        + "Powertools".rjust(12)
        + "ratio".rjust(9),
    ]
    for part, title in (
        ("import", "import of the library"),
        ("first_request", "then set-up and the first request"),
    ):
        times = results.inside_ms(part)
        ours, theirs = times["clonesquad-interact"], times["powertools"]
        lines.append(f"    {title:<40}{ours:>21.1f}{theirs:>12.1f}{ours / theirs:>8.2f}x")
    return lines


def text_report(results: Results) -> str:
    sections = (_header_lines, _per_request_lines, _sqs_lines, _cold_start_lines)
    lines: list[str] = []
    for section in sections:
        if lines:
            lines.append("")
        lines += section(results)
    return "\n".join(line.rstrip() for line in lines)


def json_report(results: Results) -> dict[str, Any]:
    def rounded(values: Mapping[str, float], digits: int) -> dict[str, float]:
        return {key: round(value, digits) for key, value in values.items()}

    children = results.children
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "versions": _versions(),
        "quick": results.quick,
        "settings": dataclasses.asdict(results.settings),
        "per_request_us": {
            contender: {
                route: {
                    "best": round(results.best_us(contender, route), 3),
                    "median": round(results.cases[contender, route].median_us, 3),
                    "loop_calls": results.cases[contender, route].number,
                }
                for route in ROUTES
            }
            for contender in CONTENDERS
        },
        "ratios": {
            f"{contender} / {reference}": {
                route: round(results.ratio(contender, reference, route), 3) for route in ROUTES
            }
            for contender, reference in (
                (INTERACT, POWERTOOLS),
                (INTERACT, MINIMAL),
                (POWERTOOLS, MINIMAL),
            )
        },
        "target": {
            "statement": TARGET,
            "ratios": rounded(results.target_ratios, 3),
            "met": results.target_met,
        },
        "sqs_per_message_us": {
            "batch": SQS_BATCH,
            "best": round(results.sqs.best_us, 3),
            "median": round(results.sqs.median_us, 3),
        },
        "cold_start_ms": {
            "runs": len(children[0].samples_ms),
            "median": {child.label: round(child.median_ms, 1) for child in children},
            "min": {child.label: round(child.min_ms, 1) for child in children},
            "import_only_minus_bare": rounded(results.import_cost_ms(), 1),
            "inside_child_median": {
                part: rounded(results.inside_ms(part), 2) for part in ("import", "first_request")
            },
        },
    }


# -------------------------------------------------------------------------
# Main
# -------------------------------------------------------------------------


def build_cases(log_stream: TextIO) -> tuple[dict[tuple[str, str], Case], Case]:
    """Configure logging, build the events and the contenders, and check their answers."""
    configure_logging("INFO", stream=log_stream, force=True)
    events = {
        STATUS_ROUTE: apigw_rest_event("GET", "/fleet/status", params={"format": "json"}),
        CONFIG_ROUTE: apigw_rest_event("GET", f"/configuration/{CONFIG_KEY}"),
    }
    batch = sqs_event([{"OpType": "fleet/scale", "desired": n} for n in range(SQS_BATCH)])
    context: Any = FakeLambdaContext()
    interact = interact_handler()
    app = powertools_app()
    handlers: dict[str, Callable[[Mapping[str, Any], Any], Any]] = {
        INTERACT: interact,
        POWERTOOLS: app.resolve,
        MINIMAL: minimal_handler,
    }
    cases: dict[tuple[str, str], Case] = {}
    for contender, serve in handlers.items():
        for route, event in events.items():
            check_answer(contender, route, serve(event, context))
            cases[contender, route] = Case(contender, route, partial(serve, event, context))
        new_keys = NewKeyRequests(serve, context)
        for n in range(3):
            check_answer(contender, FRESH_ROUTE, new_keys(), f"app.key-{n}")
        cases[contender, FRESH_ROUTE] = Case(contender, FRESH_ROUTE, new_keys)
    check_sqs_answer(interact(batch, context))
    sqs = Case(INTERACT, "sqs", partial(interact, batch, context), requests_per_call=SQS_BATCH)
    return cases, sqs


class NewKeyRequests:
    """``GET /configuration/app.key-<n>``, the next ``n`` on each call (one call, one request).

    One event, its path changed before each request: in Lambda the handler gets an
    event the runtime has just parsed, whose objects are in the processor's caches;
    thousands of events built in advance would instead be read from memory, which
    is not what a request costs there.
    """

    def __init__(self, serve: Callable[[Mapping[str, Any], Any], Any], context: Any) -> None:
        self.serve = serve
        self.context = context
        self.event = apigw_rest_event("GET", "/configuration/app.key-0")
        names = [f"configuration/app.key-{n}" for n in range(FRESH_KEYS)]
        self.paths: Iterator[tuple[str, str]] = cycle((name, f"/{name}") for name in names)

    def __call__(self) -> Any:
        proxy, path = next(self.paths)
        event = self.event
        event["pathParameters"]["proxy"] = proxy
        event["path"] = path
        return self.serve(event, self.context)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Per-request and cold-start cost of the clonesquad-interact dispatcher, "
        "next to AWS Lambda Powertools' REST resolver and a minimal dispatcher."
    )
    parser.add_argument("--quick", action="store_true", help="a short run (rougher figures)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of the pipeline"
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    with open(os.devnull, "w", encoding="utf-8") as log_stream:
        try:
            cases, sqs = build_cases(log_stream)
            # Route by route, the contenders one after the other: each ratio compares
            # loops timed seconds apart at most.
            measure([*(cases[c, r] for r in ROUTES for c in CONTENDERS), sqs], settings)
            children = measure_cold_start(settings.cold_runs)
        except BenchmarkError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        results = Results(settings, args.quick, cases, sqs, children)
        print(text_report(results))
        if args.profile:
            requests = 2000 if args.quick else 20000
            print(f"\nProfile of {requests} GET /fleet/status through the pipeline:")
            print(profile(cases[INTERACT, STATUS_ROUTE].call, requests).rstrip())
    if args.json:
        print(json.dumps(json_report(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
