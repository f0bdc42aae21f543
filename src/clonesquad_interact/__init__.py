"""clonesquad-interact: the CloneSquad Interact API as a plugin-based operation dispatcher.

The core turns API Gateway and SQS events into one :class:`Request`, routes it to
an :class:`Operation` contributed by a plugin, validates it against the
operation's JSON Schema, and renders the answer.
"""

from .configuration import ConfigurationKey
from .dispatcher import Dispatcher
from .errors import (
    BadRequest,
    Forbidden,
    InteractError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PluginError,
    ServiceUnavailable,
    TooManyRequests,
    ValidationFailed,
)
from .hookspecs import hookimpl, hookspec
from .middleware import CallNext, Middleware
from .operation import Body, CachePolicy, Handler, Operation
from .request import Interface, Request
from .response import Response

__version__ = "0.1.0"

__all__ = [
    "BadRequest",
    "Body",
    "CachePolicy",
    "CallNext",
    "ConfigurationKey",
    "Dispatcher",
    "Forbidden",
    "Handler",
    "InteractError",
    "Interface",
    "InternalError",
    "MethodNotAllowed",
    "Middleware",
    "NotFound",
    "Operation",
    "PluginError",
    "Request",
    "Response",
    "ServiceUnavailable",
    "TooManyRequests",
    "ValidationFailed",
    "__version__",
    "hookimpl",
    "hookspec",
]
