"""YAML dump benchmark: ``GET configuration?format=yaml`` of 150 keys.

Run from the repository root::

    python bench/yaml_dump.py            # full run (a few seconds)
    python bench/yaml_dump.py --quick    # a short run, rougher figures

The document is what ``GET configuration`` answers for 150 registered keys (the
eight fields of each, built by :meth:`clonesquad_interact.Entry.dump`). It is
written by the library's own writer, :func:`clonesquad_interact.formats.dump`,
which uses libyaml's C dumper when PyYAML was built with it; the same document
written by PyYAML's pure-Python ``SafeDumper`` and by the library's JSON writer
are measured in the same run, as peers. Figures are the best of several timed
loops; nothing is compared with a fixed time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable
from typing import Any

import yaml

from clonesquad_interact import ConfigurationKey, Entry
from clonesquad_interact.formats import dump, jsonable
from clonesquad_interact.yamldocs import _Dumper

KEYS = 150


def document(count: int = KEYS) -> dict[str, Any]:
    """A configuration dump of ``count`` keys: half set in the table, half defaults."""
    entries: dict[str, Any] = {}
    for n in range(count):
        fmt = ("Integer", "Bool", "Duration", "String")[n % 4]
        key = ConfigurationKey(
            key=f"ec2.schedule.setting_{n:03}",
            default=str(n % 2) if fmt == "Bool" else str(n % 7),
            format=fmt,
            description=(
                f"Setting number {n}: what it changes in the scheduling of the fleet, "
                "when it applies, and which other keys it interacts with.\n\n"
                "A second paragraph, as real descriptions have."
            ),
            stable=n % 5 != 0,
        )
        origin = (
            "DynamoDB configuration table 'CloneSquad-test-Configuration'"
            if n % 2
            else "Built-in default"
        )
        value = key.default if n % 2 == 0 else ("1" if key.format == "Bool" else key.default)
        entries[key.key] = Entry(key.key, value, origin, key).dump()
    return entries


def pure_python(value: Any) -> str:
    """The same document through PyYAML's pure-Python dumper (the peer)."""
    return yaml.dump(
        jsonable(value),
        Dumper=yaml.SafeDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
    )


def best(function: Callable[[], object], loops: int, repeat: int) -> float:
    """Microseconds per call: the best of ``repeat`` timed loops."""
    return min(timeit.repeat(function, number=loops, repeat=repeat)) / loops * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer loops, rougher figures")
    options = parser.parse_args(argv)
    loops, repeat = (5, 3) if options.quick else (30, 7)
    value = document()
    ours = dump(value, "yaml")
    if yaml.safe_load(ours) != value or yaml.safe_load(pure_python(value)) != value:
        print("the dumps do not read back as the document", file=sys.stderr)
        return 1
    c_dumper = _Dumper is not yaml.SafeDumper
    print(f"Python {platform.python_version()}, PyYAML {yaml.__version__}")
    print(
        f"libyaml: {'present' if yaml.__with_libyaml__ else 'absent'}; "
        f"the library writes YAML with {_Dumper.__name__}"
    )
    print(f"Document: GET configuration of {KEYS} keys ({len(ours)} bytes of YAML)\n")
    figures = {
        "formats.dump(yaml)": best(lambda: dump(value, "yaml"), loops, repeat),
        "pure-Python SafeDumper": best(lambda: pure_python(value), loops, repeat),
        "formats.dump(json)": best(lambda: dump(value, "json"), loops, repeat),
    }
    peer = figures["pure-Python SafeDumper"]
    print(f"  {'writer':<26}{'ms/dump':>10}{'vs pure Python':>16}")
    for name, micros in figures.items():
        print(f"  {name:<26}{micros / 1000:>10.2f}{micros / peer:>15.2f}x")
    if not c_dumper:
        print("\nNote: libyaml is absent, so the library's YAML writer is the pure-Python one.")
    print("\n" + json.dumps({name: round(micros, 1) for name, micros in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
