"""YAML documents: bounded before they are parsed, read safely, written by libyaml.

YAML goes through libyaml's C classes (``yaml.CSafeLoader``, ``yaml.CSafeDumper``)
when PyYAML was built with them, and through PyYAML's pure-Python ones otherwise.
Imported only when a YAML document arrives or is asked for.

A request document is read in two passes. The first streams libyaml's parser
events and stops at the first of these, so that what it costs is bounded by the
limits (:mod:`.formats`' limits, JSON's too), not by what was sent:

* more than :data:`~.formats.MAX_DOCUMENT_BYTES` bytes (checked before any parsing);
* more than :data:`~.formats.MAX_NODES` values (scalars, lists and mappings together);
* lists and mappings nested more than :data:`~.formats.MAX_DEPTH` deep;
* an alias (``*name``), so that a small body cannot expand into a huge one (the
  "billion laughs" document).

Only a document within them is then built into Python values, by a safe loader
that keeps dates as text and refuses the numbers JSON has not (``.nan``, ``.inf``)
and the tags that have no JSON form.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from .errors import BadRequest, unencodable
from .formats import MAX_DEPTH, MAX_NODES, check_size, too_deep, too_many_values

__all__ = [
    "NOT_YAML",
    "check_bounds",
    "dump_yaml",
    "load_yaml",
]

#: How the message of a document that is not YAML starts.
NOT_YAML = "the body is not valid YAML"

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
#: libyaml's parser and PyYAML's safe constructor, or PyYAML's own safe loader.
_SafeLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)
_START_EVENTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_END_EVENTS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


class _DocumentLoader(_SafeLoader):  # type: ignore[misc]
    """A safe loader that keeps dates as text and refuses non-finite numbers.

    Dates and times stay text (``2024-01-01`` is the string it looks like), as
    they would in JSON.
    """

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML reads this class attribute
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_float(self, node: Any) -> float:
        value: float = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value} is not a number JSON allows", node.start_mark
            )
        return value


_DocumentLoader.add_constructor("tag:yaml.org,2002:float", _DocumentLoader.construct_yaml_float)


def _refuse_tag(loader: _DocumentLoader, node: Any) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, f"{node.tag} values have no JSON form", node.start_mark
    )


for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    _DocumentLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


def _where(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def check_bounds(text: str) -> None:
    """Refuse, before building anything, a YAML document over the limits.

    :raises PayloadTooLarge: larger than :data:`~.formats.MAX_DOCUMENT_BYTES`.
    :raises BadRequest: an alias, too many values, nested too deeply, or not YAML.
    """
    check_size(text)
    parser = _SafeLoader(text)
    nodes = depth = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, _NODE_EVENTS):
                nodes += 1
                if nodes > MAX_NODES:
                    raise too_many_values(_where(event.start_mark))
                if isinstance(event, _START_EVENTS):
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise too_deep(_where(event.start_mark))
            elif isinstance(event, _END_EVENTS):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                raise BadRequest(
                    f"{NOT_YAML}{_where(event.start_mark)}: YAML aliases "
                    "(*name) are not accepted here: write each value out"
                )
    finally:
        parser.dispose()


def load_yaml(text: str) -> Any:
    """Parse a YAML request document, within the limits of :func:`check_bounds`.

    :raises BadRequest: with the line and column of the first problem.
    :raises PayloadTooLarge: the document is larger than :data:`~.formats.MAX_DOCUMENT_BYTES`.
    """
    if unencodable(text):
        position = next(i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff")
        raise BadRequest(
            "the body must be text that UTF-8 can encode: it holds a lone surrogate "
            f"(character {position + 1})",
            details=[{"where": "body", "what": "a lone surrogate"}],
        )
    try:
        check_bounds(text)
        return yaml.load(text, Loader=_DocumentLoader)  # noqa: S506 - a safe loader
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        where = _where(exc.problem_mark)
        raise BadRequest(
            f"{NOT_YAML}{where}: {exc.problem or exc}",
            details=[{"where": "body", "what": f"{exc.problem or exc}{where}"}],
        ) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise BadRequest(f"{NOT_YAML}: {exc}") from None


def dump_yaml(value: Any) -> str:
    """Write a JSON-like value as a block-style YAML document, keys in their order."""
    return yaml.dump(
        value, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True
    )
