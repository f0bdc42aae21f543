"""A plugin module named in ``CLONESQUAD_INTERACT_PLUGINS`` by the command-line tests."""

from __future__ import annotations

from clonesquad_interact import Body, Interface, Operation, Request, hookimpl


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="cli/hello",
            handler=hello,
            summary="Echo what the command line sent.",
            methods={"GET", "POST"},
            interfaces={Interface.APIGW, Interface.SQS, Interface.DIRECT},
            body=Body.TEXT,
            schema={
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "properties": {
                    "params": {
                        "properties": {
                            "times": {"type": "integer"},
                            "tag": {"type": "array", "items": {"type": "string"}},
                        }
                    }
                },
            },
        )
    ]


def hello(request: Request) -> dict[str, object]:
    return {
        "times": request.params.get("times"),
        "tag": list(request.params["tag"]) if "tag" in request.params else None,
        "method": request.method,
        "body": request.body,
    }
