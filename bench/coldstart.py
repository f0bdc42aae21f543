"""What a caller waits for: cold starts in fresh processes, and warm SQS and API Gateway.

Run from the repository root, with the development environment (it has moto's
server, which plays DynamoDB)::

    python bench/coldstart.py               # 9 pairs per cold figure, 9 warm rounds
    python bench/coldstart.py --pairs 5     # shorter
    python bench/coldstart.py --venv DIR    # where the benchmark environment lives
    python bench/coldstart.py --instructions    # also count instructions (valgrind)
    python bench/coldstart.py --python python3.12 --venv DIR    # another interpreter

The benchmark environment is a virtual environment made from this project's own
files (``pip install '.[bench]'``: the runtime dependencies, Powertools and
fastjsonschema, nothing of the development tools), created when missing or when
``setup.cfg`` or the interpreter (``--python``) changed, as a Lambda package would
hold them. Every cold figure is one fresh interpreter serving one event, its wall
time from spawn to exit and its peak resident memory (VmHWM of its own address
space); the contenders of a figure run one after the other, in a changing order,
and each ratio is the median over the pairs. The warm figures come from
``bench/warm.py``, run in the same environment. It prints its tables and writes
``bench/results.json``; nothing is compared with a fixed time.

Wall times move with whatever else the machine runs. With ``--instructions`` (and
valgrind installed), each cold child is also run once under ``valgrind
--tool=cachegrind`` and the warm SQS batch is counted per message (a child serving
300 batches less one serving none), so that a second table gives the same ratios in
machine instructions, which do not move with the load (instructions are not time:
a cache miss costs many; this is a second view, not the verdict). The floors are
counted too: the dependencies alone, and the dependencies less each one in turn.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CONFIG_KEY = "app.disable"
CONFIG_VALUE = "1"

#: The children: each serves one event (a file) in a fresh interpreter and exits 0
#: when the answer is the expected one.
CHILDREN: dict[str, str] = {
    "interact": """
import json, sys
from clonesquad_interact.lambda_handler import handler
event = json.load(open(sys.argv[1]))
answer = handler(event, None)
ok = answer["statusCode"] == 200 and sys.argv[2] in answer["body"]
""",
    "powertools": """
import functools, json, os, sys
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, content_types
from aws_lambda_powertools.event_handler import Response

app = APIGatewayRestResolver()

@functools.cache
def dynamodb():  # boto3 only for the routes that need it, as the pipeline does
    import boto3
    return boto3.client("dynamodb")

@app.get("/")
def root():
    return {"operations": [{"name": "configuration/<key>", "summary": "Read one key."}]}

@app.get("/configuration/<key>")
def configuration(key):
    item = dynamodb().get_item(
        TableName=os.environ["ConfigurationTable"], Key={"Key": {"S": key}}
    ).get("Item")
    if item is None:
        return Response(status_code=404, content_type=content_types.TEXT_PLAIN, body="")
    return Response(
        status_code=200, content_type=content_types.TEXT_PLAIN, body=item["Value"]["S"]
    )

event = json.load(open(sys.argv[1]))
answer = app.resolve(event, None)
ok = answer["statusCode"] == 200 and sys.argv[2] in answer["body"]
""",
    "hand-written": """
import json, os, sys
import boto3

def handler(event, context):
    key = event["pathParameters"]["proxy"].removeprefix("configuration/")
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["ConfigurationTable"], Key={"Key": {"S": key}}
    ).get("Item")
    if item is None:
        return {"statusCode": 404, "body": json.dumps({"error": key})}
    return {"statusCode": 200, "body": item["Value"]["S"]}

event = json.load(open(sys.argv[1]))
answer = handler(event, None)
ok = answer["statusCode"] == 200 and sys.argv[2] in answer["body"]
""",
}


#: What the pipeline's own required dependencies cost before it does anything: the
#: modules a cold request imports (structlog, pluggy, orjson, fastjsonschema) and the
#: scan of the installed distributions' entry points that finds third-party plugins.
DEPENDENCY_PARTS: dict[str, str] = {
    "structlog": "import structlog\n",
    "pluggy": "import pluggy\n",
    "orjson": "import orjson\n",
    "fastjsonschema": "import fastjsonschema\n",
    "entry-points": (
        'import importlib.metadata\nimportlib.metadata.entry_points(group="clonesquad_interact")\n'
    ),
}


def dependencies(*, without: str | None = None) -> str:
    """The source that imports the dependencies (all of them, or all but ``without``)."""
    parts = (source for name, source in DEPENDENCY_PARTS.items() if name != without)
    return "import sys\n" + "".join(parts)


def floors() -> dict[str, str]:
    """The floors, counted with ``--instructions``: no peer can be beaten by less than
    what the dependencies cost on top of what the peer does. ``floor-root`` imports the
    dependencies and serves nothing (against the Powertools app's ``GET /``);
    ``floor-config`` is the hand-written handler with the dependencies imported too.
    Each ``floor-<figure>-without-<dependency>`` leaves one dependency out, so that the
    difference is what that one dependency adds to the floor."""
    bodies = {"root": "ok = True\n", "config": CHILDREN["hand-written"]}
    found: dict[str, str] = {}
    for figure, body in bodies.items():
        found[f"floor-{figure}"] = dependencies() + body
        for part in DEPENDENCY_PARTS:
            found[f"floor-{figure}-without-{part}"] = dependencies(without=part) + body
    return found


FLOORS = floors()


#: Appended to every child: its peak resident memory (VmHWM, this program's own
#: address space, not the parent's that a fork copied) into the file argv[3].
FOOTER = """
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
with open(sys.argv[3], "w") as out:
    out.write(peak)
sys.exit(0 if ok else 1)
"""


def benchmark_venv(path: Path, interpreter: Path | None = None) -> Path:
    """The benchmark environment's interpreter, the environment made when needed.

    :param interpreter: the Python that makes the environment (default: this one); a
        different one than the environment was made with makes it again.
    """
    base = str(interpreter) if interpreter is not None else sys.executable
    setup = (ROOT / "setup.cfg").read_bytes()
    stamp = hashlib.sha256(setup + python_version(base).encode()).hexdigest()
    python = path / "bin" / "python"
    marker = path / ".setup-cfg-sha256"
    if python.exists() and marker.exists() and marker.read_text() == stamp:
        # The project's own code may have changed: reinstall it alone, quickly.
        _pip(python, "install", "-q", "--no-deps", "--force-reinstall", str(ROOT))
        return python
    subprocess.run([base, "-m", "venv", "--clear", str(path)], check=True)
    _pip(python, "install", "-q", f"{ROOT}[bench]")
    marker.write_text(stamp)
    return python


def python_version(python: Path | str) -> str:
    """The full version of the interpreter ``python`` (``sys.version``)."""
    return subprocess.run(
        [str(python), "-c", "import sys; print(sys.version)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", *args],
        check=True,
        cwd=tempfile.gettempdir(),  # not the source tree: the wheel is built from ROOT
        stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return server, endpoint
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto's server did not start")


def deployment_environ(endpoint: str) -> dict[str, str]:
    """The environment of the cold processes: a deployment whose AWS is moto's server."""
    from clonesquad_interact.testing.deployment import DEPLOYMENT_ENVIRONMENT

    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": endpoint,
        "LOG_LEVEL": "INFO",
    }
    environ.update(
        (name, value)
        for name, value in DEPLOYMENT_ENVIRONMENT.items()
        if name in ("GroupName", "ApplicationName", "ConfigurationTable", "StateTable")
    )
    return environ


def provision_configuration(environ: dict[str, str]) -> None:
    import boto3

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=environ["AWS_ENDPOINT_URL"],
        region_name=environ["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for setting in ("ConfigurationTable", "StateTable"):
        dynamodb.create_table(
            TableName=environ[setting],
            KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    dynamodb.put_item(
        TableName=environ["ConfigurationTable"],
        Item={"Key": {"S": CONFIG_KEY}, "Value": {"S": CONFIG_VALUE}},
    )


def run_cold(
    python: Path, script: Path, event: Path, expected: str, environ: dict[str, str]
) -> tuple[float, float]:
    """One fresh process serving one event: (wall ms, peak RSS MiB)."""
    peak_file = event.with_suffix(".rss")
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(python), "-I", str(script), str(event), expected, str(peak_file)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, _ = os.wait4(process.pid, 0)
    wall = (time.perf_counter() - started) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{script.name} on {event.name} failed: {error}")
    if process.stderr:
        process.stderr.close()
    return wall, int(peak_file.read_text()) / 1024


def cold_figure(
    python: Path,
    scripts: dict[str, Path],
    event: Path,
    expected: str,
    environ: dict[str, str],
    pairs: int,
) -> dict[str, Any]:
    """Every contender once per round, in a rotating order; medians and paired ratios."""
    names = list(scripts)
    for name in names:  # a first run of each, not timed (the files reach the page cache)
        run_cold(python, scripts[name], event, expected, environ)
    walls: dict[str, list[float]] = {name: [] for name in names}
    rss: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(pairs):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            wall, peak = run_cold(python, scripts[name], event, expected, environ)
            walls[name].append(wall)
            rss[name].append(peak)
    first = names[0]
    return {
        "wall_ms": {name: statistics.median(values) for name, values in walls.items()},
        "rss_mib": {name: statistics.median(values) for name, values in rss.items()},
        "wall_ratio": {
            name: statistics.median(a / b for a, b in zip(walls[first], walls[name], strict=True))
            for name in names[1:]
        },
        "rss_ratio": {
            name: statistics.median(a / b for a, b in zip(rss[first], rss[name], strict=True))
            for name in names[1:]
        },
    }


#: The warm SQS child of ``--instructions``: the batch of ``bench/warm.py``, served
#: ``argv[2]`` times after a warm-up by ``argv[1]`` (``interact`` or the Powertools peer).
SQS_CHILD = """
import os, sys
import dispatch, warm
from clonesquad_interact.log import configure_logging
from clonesquad_interact.testing import sqs_event
contender, batches = sys.argv[1], int(sys.argv[2])
devnull = open(os.devnull, "w")
configure_logging("INFO", stream=devnull, force=True)
context = dispatch.FakeLambdaContext()
batch = sqs_event([{"OpType": "fleet/scale", "desired": n} for n in range(warm.SQS_BATCH)])
if contender == "interact":
    serve = dispatch.interact_handler()
else:
    serve = warm.powertools_batch(warm.powertools_logger(devnull))
for _ in range(100 + batches):
    assert serve(batch, context) == {"batchItemFailures": []}
"""
#: How instructions are counted: cachegrind without its cache simulation.
VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")
#: Batches counted by the warm SQS child (the figure is per message).
SQS_BATCHES = 300


def count_instructions(command: list[str], environ: dict[str, str]) -> int:
    """Machine instructions of ``command``, counted by valgrind's cachegrind."""
    done = subprocess.run(
        [*VALGRIND, *command],
        env={**environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{command[-3:]} failed under valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def instruction_figures(
    python: Path,
    scripts: dict[str, Path],
    events: dict[str, tuple[Path, str]],
    environ: dict[str, str],
    directory: Path,
) -> dict[str, Any]:
    """Instructions of each cold child (once each), and of a warm SQS message."""
    contenders = {
        "cold_config": ("interact", "powertools", "hand-written", "floor-config"),
        "cold_root": ("interact", "powertools", "floor-root"),
    }
    for figure, short in (("cold_config", "config"), ("cold_root", "root")):
        contenders[figure] += tuple(f"floor-{short}-without-{part}" for part in DEPENDENCY_PARTS)
    cold_jobs = [
        (figure, name, event, expected)
        for figure, (event, expected) in events.items()
        for name in contenders[figure]
    ]
    sqs_child = directory / "sqs_child.py"
    sqs_child.write_text(SQS_CHILD)
    sqs_environ = {**environ, "PYTHONPATH": str(BENCH)}

    def cold(job: tuple[str, str, Path, str]) -> int:
        _, name, event, expected = job
        peak = event.with_suffix(f".{name}.rss")
        command = [str(python), "-I", str(scripts[name]), str(event), expected, str(peak)]
        return count_instructions(command, environ)

    def sqs(job: tuple[str, int]) -> int:
        contender, batches = job
        command = [str(python), str(sqs_child), contender, str(batches)]
        return count_instructions(command, sqs_environ)

    sqs_jobs = [(name, n) for name in ("interact", "powertools_batch") for n in (0, SQS_BATCHES)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one child per CPU
        cold_counts = list(pool.map(cold, cold_jobs))
        sqs_counts = dict(zip(sqs_jobs, pool.map(sqs, sqs_jobs), strict=True))
    figures: dict[str, Any] = {"cold_config": {}, "cold_root": {}}
    for (figure, name, _, _), count in zip(cold_jobs, cold_counts, strict=True):
        figures[figure][name] = count
    messages = SQS_BATCHES * 10
    figures["sqs_per_message"] = {
        name: (sqs_counts[name, SQS_BATCHES] - sqs_counts[name, 0]) / messages
        for name in ("interact", "powertools_batch")
    }
    return figures


def instruction_table(figures: dict[str, Any]) -> str:
    """The cold and SQS figures in instructions, each next to its peer."""
    config, root, sqs = figures["cold_config"], figures["cold_root"], figures["sqs_per_message"]
    rows = [
        ("cold GET configuration/<key>", config["interact"], "Powertools app",
         config["powertools"], "<= 1.0"),
        ("cold GET configuration/<key>", config["interact"], "boto3 + json",
         config["hand-written"], "<= 1.15"),
        ("cold GET /", root["interact"], "Powertools app", root["powertools"], "<= 1.0"),
        ("warm SQS message (batch of 10)", sqs["interact"],
         "BatchProcessor+fastjsonschema+Logger", sqs["powertools_batch"], "<= 1.0"),
    ]  # fmt: skip
    lines = [
        "| figure (instructions) | clonesquad-interact | peer | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for figure, ours, name, peer, target in rows:
        ratio = ours / peer
        met = "yes" if ratio <= float(target.removeprefix("<= ")) else "no"
        scale, unit = (1e6, "M") if ours > 1e7 else (1e3, "k")
        lines.append(
            f"| {figure} | {ours / scale:,.1f} {unit} | {name} {peer / scale:,.1f} {unit} "
            f"| {ratio:.2f}x | {target} | {met} |"
        )
    return "\n".join(lines)


def floor_table(figures: dict[str, Any]) -> str:
    """For each cold target in instructions: what the dependencies alone cost, and so
    what the target leaves for the package's own code, next to what that code takes."""
    config, root = figures["cold_config"], figures["cold_root"]
    rows = [
        ("cold GET configuration/<key>", "Powertools app", config["powertools"], 1.0, config,
         "floor-config"),
        ("cold GET configuration/<key>", "boto3 + json", config["hand-written"], 1.15, config,
         "floor-config"),
        ("cold GET /", "Powertools app", root["powertools"], 1.0, root, "floor-root"),
    ]  # fmt: skip
    lines = [
        "| figure (instructions) | target | dependencies' floor | left for the package "
        "| the package takes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for figure, peer, count, bound, counts, floor in rows:
        target = count * bound
        left, taken = target - counts[floor], counts["interact"] - counts[floor]
        lines.append(
            f"| {figure} | {bound:g}x {peer} = {target / 1e6:,.1f} M "
            f"| {counts[floor] / 1e6:,.1f} M | {left / 1e6:,.1f} M | {taken / 1e6:,.1f} M |"
        )
    return "\n".join(lines)


def dependency_table(figures: dict[str, Any]) -> str:
    """What each dependency adds to each floor (the floor less the floor without it),
    and what the target would leave for the package without that dependency."""
    config, root = figures["cold_config"], figures["cold_root"]
    targets = (
        ("cold GET /, 1.0x Powertools", root, "root", root["powertools"]),
        ("cold GET configuration/<key>, 1.0x Powertools", config, "config", config["powertools"]),
        ("cold GET configuration/<key>, 1.15x boto3 + json", config, "config",
         config["hand-written"] * 1.15),
    )  # fmt: skip
    lines = [
        "| dependency | adds to the GET / floor | adds to the configuration floor "
        + "".join(f"| left without it: {name} " for name, *_ in targets)
        + "|",
        "| --- | --- | --- " + "| --- " * len(targets) + "|",
    ]
    for part in DEPENDENCY_PARTS:
        added = [counts[f"floor-{short}"] - counts[f"floor-{short}-without-{part}"]
                 for counts, short in ((root, "root"), (config, "config"))]  # fmt: skip
        left = [
            target - counts[f"floor-{short}-without-{part}"] for _, counts, short, target in targets
        ]
        lines.append(
            f"| {part} | {added[0] / 1e6:,.1f} M | {added[1] / 1e6:,.1f} M "
            + "".join(f"| {value / 1e6:,.1f} M " for value in left)
            + "|"
        )
    taken = [counts["interact"] - counts[f"floor-{short}"] for _, counts, short, _ in targets]
    lines.append(
        "| (the package takes) | | " + "".join(f"| {value / 1e6:,.1f} M " for value in taken) + "|"
    )
    return "\n".join(lines)


def table(results: dict[str, Any]) -> str:
    config, root = results["cold_config"], results["cold_root"]
    warm = results["warm"]
    rows = [
        (
            "cold GET configuration/<key> (GetItem), wall",
            f"{config['wall_ms']['interact']:.0f} ms",
            f"Powertools app {config['wall_ms']['powertools']:.0f} ms",
            config["wall_ratio"]["powertools"],
            "<= 1.0",
        ),
        (
            "cold GET configuration/<key> (GetItem), peak RSS",
            f"{config['rss_mib']['interact']:.1f} MiB",
            f"Powertools app {config['rss_mib']['powertools']:.1f} MiB",
            config["rss_ratio"]["powertools"],
            "<= 1.0",
        ),
        (
            "cold GET configuration/<key> (GetItem), wall",
            f"{config['wall_ms']['interact']:.0f} ms",
            f"boto3 + json {config['wall_ms']['hand-written']:.0f} ms",
            config["wall_ratio"]["hand-written"],
            "<= 1.15",
        ),
        (
            "cold GET / (no AWS), wall",
            f"{root['wall_ms']['interact']:.0f} ms",
            f"Powertools app {root['wall_ms']['powertools']:.0f} ms",
            root["wall_ratio"]["powertools"],
            "<= 1.0",
        ),
        (
            "warm SQS batch of 10",
            f"{warm['sqs']['us']['interact']:.0f} us",
            f"BatchProcessor+fastjsonschema+Logger {warm['sqs']['us']['powertools_batch']:.0f} us",
            warm["sqs"]["ratio"]["powertools_batch"],
            "<= 1.0",
        ),
    ]
    for route in ("exact", "regex", "new_key"):
        figures = warm[route]
        rows.append(
            (
                f"warm API GW request, {route.replace('_', ' ')} route",
                f"{figures['us']['interact']:.1f} us",
                f"resolver+fastjsonschema+Logger {figures['us']['powertools_validated']:.1f} us",
                figures["ratio"]["powertools_validated"],
                "<= 0.8",
            )
        )
        rows.append(
            (
                f"warm API GW request, {route.replace('_', ' ')} route",
                f"{figures['us']['interact']:.1f} us",
                f"bare resolver {figures['us']['powertools_bare']:.1f} us",
                figures["ratio"]["powertools_bare"],
                "<= 1.0",
            )
        )
    lines = [
        "| figure | clonesquad-interact | peer | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for figure, ours, peer, ratio, target in rows:
        met = "yes" if ratio <= float(target.removeprefix("<= ")) else "no"
        lines.append(f"| {figure} | {ours} | {peer} | {ratio:.2f}x | {target} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9, help="fresh processes per contender")
    parser.add_argument("--rounds", type=int, default=9, help="warm rounds")
    parser.add_argument("--venv", type=Path, default=BENCH / ".venv", help="benchmark env")
    parser.add_argument("--output", type=Path, default=BENCH / "results.json")
    parser.add_argument(
        "--python",
        type=Path,
        help="the interpreter of the benchmark environment (default: this one)",
    )
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions (valgrind)"
    )
    args = parser.parse_args(argv)
    from clonesquad_interact.testing import apigw_rest_event

    if args.instructions and shutil.which("valgrind") is None:
        print("error: --instructions needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    python = benchmark_venv(args.venv, args.python)
    server, endpoint = start_moto()
    try:
        environ = deployment_environ(endpoint)
        provision_configuration(environ)
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch)
            scripts: dict[str, Path] = {}
            floors: dict[str, Path] = {}
            for children, sources in ((scripts, CHILDREN), (floors, FLOORS)):
                for name, source in sources.items():
                    children[name] = directory / f"{name.replace('-', '_')}.py"
                    children[name].write_text(source + FOOTER)
            config_event = directory / "config.json"
            config_event.write_text(
                json.dumps(apigw_rest_event("GET", f"/configuration/{CONFIG_KEY}"))
            )
            root_event = directory / "root.json"
            root_event.write_text(json.dumps(apigw_rest_event("GET", "/")))
            results: dict[str, Any] = {
                "cold_config": cold_figure(
                    python, scripts, config_event, CONFIG_VALUE, environ, args.pairs
                ),
                "cold_root": cold_figure(
                    python,
                    {name: scripts[name] for name in ("interact", "powertools")},
                    root_event,
                    "configuration/",
                    environ,
                    args.pairs,
                ),
            }
            if args.instructions:
                results["instructions"] = instruction_figures(
                    python,
                    {**scripts, **floors},
                    {
                        "cold_config": (config_event, CONFIG_VALUE),
                        "cold_root": (root_event, "configuration/"),
                    },
                    environ,
                    directory,
                )
        warm = subprocess.run(
            [str(python), str(BENCH / "warm.py"), str(args.rounds)],
            env={**environ, "PYTHONPATH": str(BENCH)},
            check=True,
            capture_output=True,
            text=True,
        )
        results["warm"] = json.loads(warm.stdout)
    finally:
        server.terminate()
        server.wait()
    results["machine"] = {
        "python": python_version(python).split()[0],
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "pairs": args.pairs,
        "rounds": args.rounds,
    }
    report = table(results)
    if "instructions" in results:
        report += "\n\n" + instruction_table(results["instructions"])
        report += "\n\n" + floor_table(results["instructions"])
        report += "\n\n" + dependency_table(results["instructions"])
    results["table"] = report
    print(report)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
