"""Helpers shared by the tests: plugins built from a list of operations, tables filled."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from aws_calls import RawTable
from clonesquad_interact import (
    ConfigurationKey,
    Dispatcher,
    Operation,
    Request,
    hookimpl,
)
from clonesquad_interact.manager import BUILTIN_PLUGINS
from clonesquad_interact.testing import InteractClient

#: A schema that accepts any parameter.
OPEN_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"params": {"type": "object", "additionalProperties": True}},
}


def echo(request: Request) -> dict[str, Any]:
    """A handler that answers with what it received."""
    return {
        "op": request.op,
        "method": request.method,
        "params": dict(request.params),
        "args": list(request.path_args),
        "kwargs": dict(request.path_params),
        "body": request.body,
    }


def make_operation(
    route: Any, handler: Callable[[Request], Any] = echo, **fields: Any
) -> Operation:
    """An operation with defaults: a one-line summary and a schema accepting no parameter."""
    fields.setdefault("summary", f"Test operation {route!r}.")
    fields.setdefault("schema", {})
    return Operation(route=route, handler=handler, **fields)


class OperationsPlugin:
    """A plugin contributing the given operations (and optionally configuration keys)."""

    def __init__(
        self,
        *operations: Operation,
        name: str = "test-plugin",
        keys: Iterable[ConfigurationKey] = (),
    ) -> None:
        self.__name__ = name
        self.operations = list(operations)
        self.keys = list(keys)

    @hookimpl
    def register_operations(self) -> list[Operation]:
        return self.operations

    @hookimpl
    def register_configuration_keys(self) -> list[ConfigurationKey]:
        return self.keys


#: The built-in plugins other than the root operation: the core's tests leave them
#: out, so that their test operations may use CloneSquad's names.
OPERATION_PLUGINS = tuple(name for name in BUILTIN_PLUGINS if not name.endswith(".root"))


def build(*plugins: object, **kwargs: Any) -> Dispatcher:
    """A dispatcher with only the root operation and ``plugins`` (no entry points);
    ``block=()`` loads every built-in plugin."""
    kwargs.setdefault("entry_points", False)
    kwargs.setdefault("block", OPERATION_PLUGINS)
    kwargs.setdefault("environ", {})
    return Dispatcher(plugins, **kwargs)


def client_for(*plugins: object, http_api: bool = False, **kwargs: Any) -> InteractClient:
    """A test client of ``build(*plugins)`` that re-raises unexpected errors."""
    kwargs.setdefault("raise_unexpected", True)
    return InteractClient(build(*plugins, **kwargs), http_api=http_api)


EVENTS = Path(__file__).parent / "events"


@functools.cache
def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def sample(name: str) -> dict[str, Any]:
    """A private copy of the sample event ``tests/events/<name>.json``."""
    return copy.deepcopy(_load(name))


def fill(table: RawTable, content: Mapping[str, str]) -> None:
    """Write each key of ``content`` with its value into ``table``, one item each."""
    for key, value in content.items():
        table.put_item(Item={"Key": key, "Value": value})
