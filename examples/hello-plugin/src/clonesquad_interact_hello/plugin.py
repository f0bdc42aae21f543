"""The ``hello`` plugin: one operation, ``GET /hello/{name}``, and one configuration key."""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

from clonesquad_interact import ConfigurationKey, Operation, Request, hookimpl


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route=re.compile(r"hello/(?P<name>[^/]+)"),
            handler=hello,
            summary="Greet someone by name (add shout=true to shout).",
            schema=files("clonesquad_interact_hello") / "schemas" / "hello.json",
            methods=frozenset({"GET"}),
        )
    ]


@hookimpl
def register_configuration_keys() -> list[ConfigurationKey]:
    return [
        ConfigurationKey(
            key="hello.greeting",
            default="hello",
            format="String",
            description="The word the hello plugin greets with.",
        )
    ]


def hello(request: Request) -> dict[str, Any]:
    """``GET /hello/{name}``: ``shout`` is already a bool here, as the schema declares it."""
    return {
        "hello": request.path_params["name"],
        "shout": request.params.get("shout", False),
    }
