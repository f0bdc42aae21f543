"""The root operation (``GET /``): what this API offers."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from clonesquad_interact import Deployment, Interface, Operation, Request, hookimpl


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="",
            handler=list_operations,
            summary="List the operations callable through API Gateway, with their summaries.",
            schema=files("clonesquad_interact.schemas") / "root.json",
        )
    ]


def list_operations(request: Request) -> dict[str, Any]:
    """Every operation that API Gateway can reach, sorted by name: a regex route
    named as its OpenAPI path template (``configuration/{key}``), with its regex."""
    deployment: Deployment = request.deployment
    operations = sorted(
        (op for op in deployment.operations if Interface.APIGW in op.interfaces),
        key=lambda op: op.title,
    )
    return {
        "operations": [
            {
                "name": op.title,
                "methods": sorted(op.methods),
                "summary": op.summary,
                **({"regex": op.name} if op.is_regex else {}),
            }
            for op in operations
        ]
    }
