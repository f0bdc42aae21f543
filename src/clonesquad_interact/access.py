"""Access to resources that are not the caller's own: the ``authorize_access`` hook."""

from __future__ import annotations

from .request import Request

__all__ = ["allows"]


def allows(request: Request, action: str, resource: str) -> bool:
    """Whether a plugin lets the caller of ``request`` ``action`` ``resource``.

    Denied unless some ``authorize_access`` implementation returns ``True``, and none
    returns ``False``.
    """
    deployment = request.deployment
    if deployment is None:
        return False
    return bool(deployment.allows(request, action, resource))
