"""What an operation may use: :class:`Deployment`.

A deployment is one CloneSquad group's place in AWS as an operation sees it: its
settings, its layered configuration, its DynamoDB tables, the boto3 clients, the
clock, and the few facts about the running service a report tells (operations,
plugins). The dispatcher builds one and hands it to every operation as
``request.deployment``; producers get it as ``production.deployment``.

It sits below the request pipeline: nothing here knows how a request is routed,
validated or answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .aws import AWS
from .layers import LayeredConfiguration
from .settings import Settings
from .tables import KeyValueTable

if TYPE_CHECKING:
    from .operation import Operation
    from .request import Request

__all__ = ["AccessPolicy", "Deployment", "PluginInfo"]

#: ``policy(request, action, resource)``: whether the caller of ``request`` may.
AccessPolicy = Callable[["Request", str, str], bool]


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """What ``plugins`` listings show about one registered plugin."""

    name: str
    hooks: tuple[str, ...]
    distribution: str | None = None
    version: str | None = None


def _deny(request: Request, action: str, resource: str) -> bool:
    return False


def _no_plugins() -> Sequence[PluginInfo]:
    return ()


class Deployment:
    """The settings, configuration, tables, clients and clock an operation uses.

    :param settings: the deployment settings (``GroupName``, table names...).
    :param configuration: the effective configuration (defaults, URLs, the table).
    :param aws: the boto3 clients, created on first use.
    :param clock: epoch seconds now (tables' expirations, precomputed data).
    :param operations: the operations the service runs, for reports.
    :param plugins: lists the registered plugins, for reports (called when asked).
    :param access: decides :meth:`allows` (default: nothing is allowed).
    """

    __slots__ = ("_access", "_plugins", "aws", "clock", "configuration", "operations", "settings")

    def __init__(
        self,
        settings: Settings,
        configuration: LayeredConfiguration,
        aws: AWS,
        *,
        clock: Callable[[], float] = time.time,
        operations: Sequence[Operation] = (),
        plugins: Callable[[], Sequence[PluginInfo]] = _no_plugins,
        access: AccessPolicy = _deny,
    ) -> None:
        self.settings = settings
        self.configuration = configuration
        self.aws = aws
        self.clock = clock
        self.operations: tuple[Operation, ...] = tuple(operations)
        self._plugins = plugins
        self._access = access

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str],
        *,
        aws: AWS | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Deployment:
        """A deployment read from ``CLONESQUAD_INTERACT_*`` settings, with no configuration keys.

        For scripts and tests that use the tables and clients without a dispatcher.
        """
        settings = Settings(environ)
        clients = aws if aws is not None else AWS(environ)
        return cls(settings, LayeredConfiguration({}, settings, clients), clients, clock=clock)

    def client(self, service: str) -> Any:
        """The boto3 client of ``service`` (``"dynamodb"``, ``"s3"``...), created on first use."""
        return self.aws.client(service)

    def table(
        self,
        setting: str,
        *,
        hash_key: str = "Key",
        clock: Callable[[], float] | None = None,
    ) -> KeyValueTable:
        """The DynamoDB table named by ``setting`` (``"SchedulerTable"``...).

        :raises SettingMissing: the setting is not configured (a 500 that names it).
        """
        name = self.settings.require(setting)
        return KeyValueTable(
            self.aws.client("dynamodb"),
            name,
            hash_key=hash_key,
            clock=clock if clock is not None else self.clock,
        )

    def plugins(self) -> Sequence[PluginInfo]:
        """The registered plugins: names, hooks, distributions and versions."""
        return self._plugins()

    def allows(self, request: Request, action: str, resource: str) -> bool:
        """Whether a plugin lets the caller of ``request`` ``action`` ``resource``."""
        return self._access(request, action, resource)
