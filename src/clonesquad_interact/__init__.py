"""clonesquad-interact: the CloneSquad Interact API as a plugin-based operation dispatcher.

The core turns API Gateway and SQS events into one :class:`Request`, routes it to
an :class:`Operation` contributed by a plugin, validates it against the
operation's JSON Schema, and renders the answer.

Each name is imported from its module when it is first asked for (PEP 562), so that
a cold Lambda container imports only the modules its request needs: ``import
clonesquad_interact.lambda_handler`` does not import the producer, the scheduler's
events or the layered configuration until a request uses them. ``from
clonesquad_interact import Request`` and ``clonesquad_interact.Request`` work as
with eager imports, and type checkers read the imports below.
"""

from __future__ import annotations

from importlib import import_module
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .aws import AWS
    from .configuration import FORMATS, ConfigurationKey, parse_duration
    from .deployment import Deployment, PluginInfo
    from .dispatcher import Dispatcher
    from .errors import (
        AWSCallRefused,
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
    from .layers import Entry, LayeredConfiguration
    from .middleware import CallNext, Middleware
    from .operation import Body, CachePolicy, Handler, Operation
    from .production import Producer, Production
    from .request import Interface, Request
    from .response import Response
    from .settings import SettingMissing, Settings
    from .tables import Item, KeyValueTable

#: Each public name -> the module (relative to this package) that defines it.
_MODULES = MappingProxyType(
    {
        "AWS": "aws",
        "AWSCallRefused": "errors",
        "BadRequest": "errors",
        "Body": "operation",
        "CachePolicy": "operation",
        "CallNext": "middleware",
        "ConfigurationKey": "configuration",
        "Deployment": "deployment",
        "Dispatcher": "dispatcher",
        "Entry": "layers",
        "FORMATS": "configuration",
        "Forbidden": "errors",
        "Handler": "operation",
        "InteractError": "errors",
        "Interface": "request",
        "InternalError": "errors",
        "Item": "tables",
        "KeyValueTable": "tables",
        "LayeredConfiguration": "layers",
        "MethodNotAllowed": "errors",
        "Middleware": "middleware",
        "NotFound": "errors",
        "Operation": "operation",
        "PluginError": "errors",
        "PluginInfo": "deployment",
        "Producer": "production",
        "Production": "production",
        "Request": "request",
        "Response": "response",
        "ServiceUnavailable": "errors",
        "SettingMissing": "settings",
        "Settings": "settings",
        "TooManyRequests": "errors",
        "ValidationFailed": "errors",
        "hookimpl": "hookspecs",
        "hookspec": "hookspecs",
        "parse_duration": "configuration",
    }
)


if not TYPE_CHECKING:  # type checkers read the imports above, and flag a misspelt name

    def __getattr__(name: str) -> Any:
        module = _MODULES.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "AWS",
    "FORMATS",
    "AWSCallRefused",
    "BadRequest",
    "Body",
    "CachePolicy",
    "CallNext",
    "ConfigurationKey",
    "Deployment",
    "Dispatcher",
    "Entry",
    "Forbidden",
    "Handler",
    "InteractError",
    "Interface",
    "InternalError",
    "Item",
    "KeyValueTable",
    "LayeredConfiguration",
    "MethodNotAllowed",
    "Middleware",
    "NotFound",
    "Operation",
    "PluginError",
    "PluginInfo",
    "Producer",
    "Production",
    "Request",
    "Response",
    "ServiceUnavailable",
    "SettingMissing",
    "Settings",
    "TooManyRequests",
    "ValidationFailed",
    "__version__",
    "hookimpl",
    "hookspec",
    "parse_duration",
]
