"""Access to resources that are not the caller's own: the ``authorize_access`` hook."""

from __future__ import annotations

from .request import Request

__all__ = ["allows"]


def allows(request: Request, action: str, resource: str) -> bool:
    """Whether a plugin lets the caller of ``request`` ``action`` ``resource``.

    Denied unless some ``authorize_access`` implementation returns ``True``, and none
    returns ``False``.
    """
    dispatcher = request.dispatcher
    if dispatcher is None:
        return False
    hook = dispatcher.plugins.manager.hook.authorize_access
    decisions = hook(request=request, action=action, resource=resource)
    return any(d is True for d in decisions) and not any(d is False for d in decisions)
