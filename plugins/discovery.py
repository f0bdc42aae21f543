"""``discovery``: the deployment's settings and the caller's identity."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from clonesquad_interact import Deployment, Forbidden, Operation, Request, hookimpl
from clonesquad_interact.request import thaw


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="discovery",
            handler=discovery,
            summary="Show the deployment's resources and the caller's identity.",
            schema=files("clonesquad_interact.schemas") / "discovery.json",
        )
    ]


def discovery(request: Request) -> dict[str, Any]:
    """``{"discovery": settings, "identity": the caller's requestContext.identity}``.

    Only the settings that name resources are shown, never credentials.
    """
    deployment: Deployment = request.deployment
    identity = request.identity or {}
    if not (request.caller or identity.get("userArn")):
        raise Forbidden(
            "discovery answers authenticated callers only: call it through API Gateway "
            "with SigV4-signed requests (an identity with a caller or a userArn; in-process, "
            "pass identity=)"
        )
    return {
        "discovery": deployment.settings.discovery(),
        "identity": thaw(request.identity),
    }
