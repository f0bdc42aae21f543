"""What creating the package's dataclasses costs a cold start, in instructions.

Run from the repository root, with valgrind installed::

    python bench/dataclass_cost.py [PYTHON]

A cold ``GET /`` (``tests/events/apigw_rest_root.json``) is served in a fresh
interpreter (``PYTHON``, default this one), which lists the dataclasses of the
package's loaded modules and their fields. Then two children are counted under
cachegrind: one makes classes of the same shapes (the same number of fields, the
second half with defaults) with ``@dataclass(frozen=True, slots=True)``, the other
makes the same classes without the decorator. The difference is what the decorator
costs for those classes (it writes and compiles each generated method). Information,
not a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from coldstart import ROOT, count_instructions

#: A cold ``GET /`` as API Gateway sends it.
ROOT_EVENT = ROOT / "tests" / "events" / "apigw_rest_root.json"

LIST = """
import dataclasses, json, sys
from clonesquad_interact.lambda_handler import handler
with open(sys.argv[1]) as event:
    handler(json.load(event), None)
shapes = sorted(
    (value.__module__ + "." + value.__qualname__, len(dataclasses.fields(value)))
    for name, module in list(sys.modules.items()) if name.startswith("clonesquad_interact")
    for value in vars(module).values()
    if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == name
)
print(json.dumps(shapes))
"""

MAKE = """
import sys
from dataclasses import dataclass
decorate = sys.argv[1] == "dataclass"
for index, count in enumerate(map(int, sys.argv[2:])):
    namespace = {"__annotations__": {f"f{n}": "int" for n in range(count)}}
    namespace.update((f"f{n}", 0) for n in range(count // 2, count))
    made = type(f"C{index}", (), namespace)
    if decorate:
        dataclass(frozen=True, slots=True)(made)
"""


def instructions(python: str, *args: str) -> int:
    """Instructions of the child that makes the classes (``dataclass`` or ``plain``)."""
    command = [python, "-I", "-c", MAKE, *args]
    return count_instructions(command, {"PATH": os.environ.get("PATH", os.defpath)})


def main(argv: list[str]) -> int:
    python = argv[0] if argv else sys.executable
    listed = subprocess.run(
        [python, "-c", LIST, str(ROOT_EVENT)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[-1]
    shapes: list[tuple[str, int]] = [(name, count) for name, count in json.loads(listed)]
    counts = [str(count) for _, count in shapes]
    cost = instructions(python, "dataclass", *counts) - instructions(python, "plain", *counts)
    for name, count in shapes:
        print(f"{name}: {count} fields")
    print(
        f"{len(shapes)} dataclasses, {sum(map(int, counts))} fields: "
        f"the decorator costs {cost / 1e6:,.1f} M instructions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
