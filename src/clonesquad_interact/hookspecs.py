"""The hooks a plugin can implement.

A plugin is any object (usually a module) with functions marked
``@clonesquad_interact.hookimpl`` and named like the specs below. Hooks are called
with keyword arguments, so a plugin may take only the arguments it needs, and a
spec may gain arguments without breaking plugins.

The start-up hooks (``register_*``) are called plugin by plugin, so that each
contribution is attributed to its plugin; they cannot be wrappers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .configuration import ConfigurationKey
    from .middleware import Middleware
    from .operation import Operation
    from .production import Producer
    from .request import Request

PROJECT_NAME = "clonesquad_interact"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -------------------------------------------------------------------------
# Start-up: what plugins contribute (called once per dispatcher)
# -------------------------------------------------------------------------


@hookspec
def register_operations() -> Iterable[Operation] | None:
    """Contribute operations.

    Called once when a :class:`~clonesquad_interact.Dispatcher` is built.
    Two operations on the same exact name (or the same regex), serving a common
    method and interface, stop start-up with a :class:`~clonesquad_interact.PluginError`
    unless exactly one of them is declared with ``overrides=True``.

    :returns: the plugin's :class:`~clonesquad_interact.Operation` objects.
    """


@hookspec
def register_configuration_keys() -> Iterable[ConfigurationKey] | None:
    """Contribute the configuration keys that the plugin's code reads.

    Called once when a dispatcher is built. A key declared by two plugins stops
    start-up with a :class:`~clonesquad_interact.PluginError`.

    :returns: the plugin's :class:`~clonesquad_interact.ConfigurationKey` objects.
    """


@hookspec
def register_middleware() -> Iterable[Middleware] | None:
    """Contribute middleware that wraps the dispatch of every routed request.

    Called once when a dispatcher is built; the chain is composed then. The first
    plugin called (the last registered) is outermost.

    :returns: callables ``(request, operation, call_next) -> Response``
        (see :data:`~clonesquad_interact.Middleware`).
    """


@hookspec
def register_producers() -> Iterable[Producer] | None:
    """Contribute producers: code that precomputes an operation's data.

    Called once per run of the producer (:func:`clonesquad_interact.producer.produce`,
    the scheduled Lambda function ``clonesquad_interact.producer.handler``). Each
    producer runs in isolation; what they compute is written as one
    ``interact.precomputed`` blob in the State table, which operations read with
    :func:`clonesquad_interact.precomputed.obtain`. Two producers of the same name
    stop the run with a :class:`~clonesquad_interact.PluginError`.

    :returns: the plugin's :class:`~clonesquad_interact.producer.Producer` objects.
    """


# -------------------------------------------------------------------------
# Per request
# -------------------------------------------------------------------------


@hookspec
def authorize_request(request: Request, operation: Operation) -> bool | None:
    """Decide whether ``request`` may run ``operation``.

    Called for every routed request, before validation. API Gateway has already
    checked the caller's IAM permission for the path; this hook adds what IAM
    cannot express. Any plugin can deny; with no denial the request proceeds.

    To deny with a message of your own, raise
    :class:`~clonesquad_interact.Forbidden`.

    :param request: the routed request (``params`` not yet validated); its ``op`` is
        the name as routed (for an SQS ``OpType`` matched regardless of case, the
        operation's own spelling; captured values as sent).
    :param operation: the operation it routes to.
    :returns: ``False`` to deny (403), ``True`` or ``None`` to let other plugins decide.
    """


@hookspec
def authorize_access(request: Request, action: str, resource: str) -> bool | None:
    """Decide whether the caller of ``request`` may ``action`` a resource not its own.

    Operations that serve the caller's own resource (``metadata`` serves the calling
    instance) call this hook, through :func:`clonesquad_interact.access.allows`, when
    the request names another resource. Access is denied unless a plugin returns
    ``True``, and any ``False`` denies: with no plugin implementing it, nobody may
    read another's resource.

    :param request: the validated request (its ``identity`` says who calls).
    :param action: what is asked, by operation name (``"metadata"``).
    :param resource: what the request names (an instance id for ``metadata``).
    :returns: ``True`` to allow, ``False`` to deny, ``None`` to let other plugins decide.
    """
