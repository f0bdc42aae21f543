"""YAML documents: read with a safe loader that refuses aliases, written by libyaml.

YAML goes through libyaml's C classes when PyYAML was built with them. Request
documents are read with a safe loader that refuses aliases, so a small body
cannot expand into a huge one (the "billion laughs" document). Imported only
when a YAML document arrives or is asked for.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from .errors import BadRequest

__all__ = ["dump_yaml", "load_yaml"]

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _DocumentLoader(yaml.SafeLoader):
    """A safe loader that refuses aliases (``*name``) and non-finite numbers.

    Dates and times stay text (``2024-01-01`` is the string it looks like), as
    they would in JSON.
    """

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML reads this class attribute
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_float(self, node: Any) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value} is not a number JSON allows", node.start_mark
            )
        return value

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                "YAML aliases (*name) are not accepted here: write each value out",
                mark,
            )
        return super().compose_node(parent, index)


_DocumentLoader.add_constructor("tag:yaml.org,2002:float", _DocumentLoader.construct_yaml_float)


def _refuse_tag(loader: _DocumentLoader, node: Any) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, f"{node.tag} values have no JSON form", node.start_mark
    )


for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    _DocumentLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


def load_yaml(text: str) -> Any:
    """Parse a YAML request document.

    :raises BadRequest: with the line and column of the first problem.
    """
    try:
        return yaml.load(text, Loader=_DocumentLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BadRequest(
            f"the body is not valid YAML{where}: {exc.problem or exc}",
            details=[{"where": "body", "what": str(exc)}],
        ) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise BadRequest(f"the body is not valid YAML: {exc}") from None


def dump_yaml(value: Any) -> str:
    """Write a JSON-like value as a block-style YAML document, keys in their order."""
    return yaml.dump(
        value, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True
    )
