"""Instructions per request, counted by valgrind: the dispatch benchmark without the noise.

Run from the repository root, on a machine with valgrind::

    python bench/instructions.py           # the three requests, both contenders (~1 min)
    python bench/instructions.py --requests 500

Wall-clock figures (``bench/dispatch.py``) move with whatever else the machine
does. This counts the machine instructions that one warm request costs, which do
not: each contender serves the same requests as in ``bench/dispatch.py`` in a
child process run under ``valgrind --tool=cachegrind --cache-sim=no``, once with
``--requests`` requests after a warm-up and once with none, and the difference is
divided by ``--requests``. Instructions are not time (a cache miss costs many), so
this is a second view, not the verdict; the ratios it prints are the same
contenders' counts side by side.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The child: builds the contender as bench/dispatch.py does, warms it up, then serves.
CHILD = """\
import importlib.util, os, sys
contender, route, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = importlib.util.spec_from_file_location("benchdispatch", {path!r})
bench = importlib.util.module_from_spec(spec)
sys.modules["benchdispatch"] = bench
spec.loader.exec_module(bench)
bench.configure_logging("INFO", stream=open(os.devnull, "w"), force=True)
context = bench.FakeLambdaContext()
serve = bench.interact_handler() if contender == "interact" else bench.powertools_app().resolve
if route == "new key":
    call = bench.NewKeyRequests(serve, context)
else:
    path = "/fleet/status" if route == "status" else "/configuration/" + bench.CONFIG_KEY
    params = {{"format": "json"}} if route == "status" else None
    event = bench.apigw_rest_event("GET", path, params=params)
    call = lambda: serve(event, context)
for _ in range(300):
    call()
for _ in range(count):
    call()
"""

ROUTES = ("status", "config", "new key")
CONTENDERS = {"interact": "clonesquad-interact pipeline", "powertools": "Powertools resolver"}


def count_instructions(contender: str, route: str, requests: int) -> int:
    """Instructions of a child serving ``requests`` requests after its warm-up."""
    program = CHILD.format(path=str(HERE / "dispatch.py"))
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-c",
        program,
        contender,
        route,
        str(requests),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"the child for {contender} {route} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_request(contender: str, route: str, requests: int) -> float:
    return (
        count_instructions(contender, route, requests) - count_instructions(contender, route, 0)
    ) / requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests counted (2000)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("error: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    cases = [(contender, route) for contender in CONTENDERS for route in ROUTES]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one child per CPU
        found = pool.map(lambda case: per_request(case[0], case[1], args.requests), cases)
        counts = dict(zip(cases, found, strict=True))
    print(f"Instructions per warm request ({args.requests} requests, valgrind cachegrind):")
    print("  " + "contender".ljust(32) + "".join(route.rjust(12) for route in ROUTES))
    for contender, label in CONTENDERS.items():
        cells = "".join(f"{counts[contender, route]:>12,.0f}" for route in ROUTES)
        print(f"  {label:<32}{cells}")
    ratios = "".join(
        f"{counts['interact', route] / counts['powertools', route]:>11.2f}x" for route in ROUTES
    )
    print(f"  {'pipeline / Powertools':<32}{ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
