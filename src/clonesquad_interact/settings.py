"""Deployment settings: the environment variables of a CloneSquad deployment.

The names are the ones a CloneSquad deployment already gives its Interact
function (``GroupName``, ``ConfigurationTable``...), so that this library is a
drop-in replacement. They are read once, when the dispatcher is built; a missing
one is an error only for the operations that need it.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Mapping
from types import MappingProxyType

import structlog

from .errors import InternalError

__all__ = ["DISCOVERABLE", "OPERATIONAL", "SettingMissing", "Settings"]

logger = structlog.get_logger(__name__)

#: The settings that ``discovery`` shows: names of resources, never credentials.
DISCOVERABLE = (
    "AlarmStateEC2Table",
    "ApplicationName",
    "ConfigurationTable",
    "ConfigurationURL",
    "ConfigurationURLs",
    "EventTable",
    "FunctionName",
    "GenericInsufficientDataActions_SNSTopicArn",
    "GenericOkActions_SNSTopicArn",
    "GroupName",
    "InteractAPIGWUrl",
    "InteractQueue",
    "LoggingS3Path",
    "LongTermEventTable",
    "MainFunctionArn",
    "ScaleUp_SNSTopicArn",
    "SchedulerTable",
    "StateTable",
)

#: Settings that operations read but ``discovery`` does not show.
OPERATIONAL = (
    #: ``enabled``: the producer writes ``interact.precomputed`` (off by default).
    "InteractPrecompute",
    #: The queue of CloneSquad's main function (``control/reschedulenow``).
    "MainSQSQueue",
    #: Where ``backup`` writes, ``s3://bucket/prefix``.
    "MetadataAndBackupS3Path",
    #: The zone of ``localcron(...)`` Scheduler entries (``Europe/Paris``; default UTC).
    "TimeZone",
)
_KNOWN = frozenset(DISCOVERABLE) | frozenset(OPERATIONAL)


class SettingMissing(InternalError):
    """An operation needs a deployment setting that is not configured (500)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"setting {name} is not configured: the Interact function needs the "
            f"environment variable {name}",
            details=[{"setting": name}],
        )
        self.name = name


class Settings:
    """The deployment settings, read once from an environment.

    :param environ: the environment to read (``Dispatcher`` passes its own).
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._values: Mapping[str, str] = MappingProxyType(
            {
                name: value.strip()
                for name, value in environ.items()
                if name in _KNOWN and value.strip()
            }
        )
        self._reported: set[str] = set()
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        """The value of setting ``name``, ``None`` when it is unset or empty."""
        return self._values.get(name)

    def require(self, name: str) -> str:
        """The value of setting ``name``.

        :raises SettingMissing: it is not configured (logged once per setting).
        """
        value = self._values.get(name)
        if value is None:
            with self._lock:
                first = name not in self._reported
                self._reported.add(name)
            if first:
                logger.error("setting missing", setting=name)
            raise SettingMissing(name)
        return value

    @property
    def group_name(self) -> str:
        """``GroupName``: the fleet this deployment manages (required)."""
        return self.require("GroupName")

    @property
    def configuration_urls(self) -> tuple[str, ...]:
        """``ConfigurationURLs`` (or CloneSquad's ``ConfigurationURL``), split on ``;``
        and white space, in order: a later document overrides an earlier one."""
        text = self.get("ConfigurationURLs") or self.get("ConfigurationURL") or ""
        return tuple(url for part in text.split(";") for url in part.split())

    def discovery(self) -> dict[str, str]:
        """The settings that locate the deployment's resources, by name.

        Configuration URLs are shown without their query string and user part, which
        may hold credentials (a presigned URL's signature and token).
        """
        shown = {
            name: value for name, value in sorted(self._values.items()) if name in DISCOVERABLE
        }
        for name in ("ConfigurationURL", "ConfigurationURLs"):
            if name in shown:
                shown[name] = ";".join(_without_secrets(url) for url in shown[name].split(";"))
        return shown


def _without_secrets(text: str) -> str:
    """``text``'s URLs without query strings, fragments or ``user:password@``."""
    shown = []
    for url in text.split():
        parts = urllib.parse.urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        shown.append(urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", "")))
    return " ".join(shown)
