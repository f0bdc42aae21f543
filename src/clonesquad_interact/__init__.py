"""clonesquad-interact: the CloneSquad Interact API as a plugin-based operation dispatcher.

The core turns API Gateway and SQS events into one :class:`Request`, routes it to
an :class:`Operation` contributed by a plugin, validates it against the
operation's JSON Schema, and renders the answer.
"""

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
from .version import __version__

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
