"""Layered configuration: registered defaults, then YAML documents at URLs, then
the Configuration table.

A value set by a higher layer hides the lower ones. The URL documents
(``ConfigurationURLs``: ``s3://``, ``https://``, ``file://``) are read at most
once a minute per warm container; the table is read on every request, so that a
``POST configuration`` is seen at once.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import structlog

from .aws import AWS
from .configuration import ConfigurationKey, as_bool, parse_duration, to_text
from .errors import BadRequest, NotFound
from .formats import parse_document
from .metastrings import parse_list
from .settings import Settings
from .tables import Item, KeyValueTable

__all__ = ["Entry", "LayeredConfiguration", "fetch_url"]

logger = structlog.get_logger(__name__)

#: Seconds a warm container keeps the documents read from ``ConfigurationURLs``.
URL_CACHE_SECONDS = 60.0
#: Seconds to wait for an ``https://`` document.
URL_TIMEOUT = 5.0
#: Largest document read from a URL.
URL_MAX_BYTES = 1 << 20

DEFAULT_ORIGIN = "Built-in default"
#: The documents read before ``ConfigurationURLs``, from ``$LAMBDA_TASK_ROOT`` or
#: ``/opt`` (directly or in ``custo/``) when an operator puts one there, else the
#: ones this package ships.
INTERNAL_DOCUMENTS = ("predefined.config.yaml", "custom.config.yaml")
ACTIVE_SET_KEY = "config.active_parameter_set"
#: A document layer: its origin, its top-level values, its parameter sets.
DocumentLayer = tuple[str, dict[str, str], dict[str, dict[str, str]]]


@dataclass(frozen=True, slots=True)
class Entry:
    """A key's effective value and where it comes from."""

    key: str
    value: str
    #: The layer that set it (``"Built-in default"``, ``"URL 's3://...'"``, the table).
    origin: str
    #: The registration, ``None`` for a key that no plugin declares.
    registration: ConfigurationKey | None

    def dump(self) -> dict[str, Any]:
        """The key as ``GET configuration`` shows it."""
        registration = self.registration
        if registration is None:
            status = (
                f"Warning: key found in '{self.origin}' but declared by no installed "
                "plugin (misspelt, or its plugin is not installed)"
            )
        elif self.origin == DEFAULT_ORIGIN:
            status = "Key not found in any layer: default value used"
        else:
            status = f"Key found in '{self.origin}'"
        return {
            "Key": self.key,
            "Value": self.value,
            "DefaultValue": registration.default if registration else None,
            "Format": registration.format if registration else None,
            "Description": registration.description if registration else "",
            "Stable": registration.stable if registration else False,
            "Status": status,
            "ConfigurationOrigin": self.origin,
        }


def fetch_url(url: str, aws: AWS) -> str:
    """The text of the document at ``url`` (``s3://``, ``https://`` or ``file://``).

    :raises ValueError: the URL's scheme is not one of those.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "s3":
        answer = aws.client("s3").get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))
        data: bytes = answer["Body"].read(URL_MAX_BYTES + 1)
    elif parts.scheme == "file":
        path = Path(urllib.parse.unquote(parts.path))
        with path.open("rb") as stream:
            data = stream.read(URL_MAX_BYTES + 1)
    elif parts.scheme == "https":
        from urllib.request import urlopen  # here: importing it slows a cold start

        with urlopen(url, timeout=URL_TIMEOUT) as stream:  # noqa: S310 (https only)
            data = stream.read(URL_MAX_BYTES + 1)
    else:
        raise ValueError(f"configuration URL {url!r}: use an s3://, https:// or file:// URL")
    if len(data) > URL_MAX_BYTES:
        raise ValueError(f"configuration URL {url!r}: the document exceeds {URL_MAX_BYTES} bytes")
    return data.decode("utf-8")


class LayeredConfiguration:
    """The effective configuration of a deployment.

    :param keys: the registered keys, by name.
    :param settings: where ``ConfigurationTable`` and ``ConfigurationURLs`` are read.
    :param aws: the clients to read the table and ``s3://`` documents with.
    :param clock: the current time in epoch seconds.
    """

    def __init__(
        self,
        keys: Mapping[str, ConfigurationKey],
        settings: Settings,
        aws: AWS,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.settings = settings
        self.aws = aws
        self.clock = clock
        self._urls: tuple[float, dict[str, tuple[str, str]]] | None = None
        self._lock = threading.Lock()

    # -- layers -----------------------------------------------------------

    @property
    def table(self) -> KeyValueTable:
        """The Configuration table (:exc:`SettingMissing` when it is not configured)."""
        name = self.settings.require("ConfigurationTable")
        return KeyValueTable(self.aws.client("dynamodb"), name, clock=self.clock)

    def table_origin(self, table: KeyValueTable) -> str:
        return f"DynamoDB configuration table '{table.name}'"

    def url_values(self) -> dict[str, tuple[str, str]]:
        """The keys set by the document layers: key -> (value, origin).

        The layers, lowest first: ``internal:predefined.config.yaml``,
        ``internal:custom.config.yaml``, then each ``ConfigurationURLs`` document. In
        each, a top-level mapping is a parameter set: the one named by the highest
        ``config.active_parameter_set`` of these layers wins over that layer's own
        top-level keys. A document that cannot be read or is not a mapping is skipped
        with a warning in the log: the other layers still apply.
        """
        now = time.monotonic()
        cached = self._urls
        if cached is not None and now - cached[0] < URL_CACHE_SECONDS:
            return cached[1]
        with self._lock:
            layers = [self._read_internal(name) for name in INTERNAL_DOCUMENTS]
            layers += [self._read_url(url) for url in self.settings.configuration_urls]
            active = ""
            for _, top, _ in layers:
                active = top.get(ACTIVE_SET_KEY, active)
            values: dict[str, tuple[str, str]] = {}
            for origin, top, sets in layers:
                merged = {**top, **sets.get(active, {})} if active else top
                values.update((key, (value, origin)) for key, value in merged.items())
            self._urls = (now, values)
        return values

    def _read_internal(self, name: str) -> DocumentLayer:
        origin = f"internal:{name}"
        for directory in (os.environ.get("LAMBDA_TASK_ROOT"), "/opt"):
            if not directory:
                continue
            for sub in (".", "custo"):
                path = Path(directory, sub, name)
                if path.is_file():
                    return self._read_document(path.as_uri(), origin)
        text = (files("clonesquad_interact.resources") / name).read_text("utf-8")
        return self._layer(parse_document(text), origin)

    def _read_url(self, url: str) -> DocumentLayer:
        return self._read_document(url, f"URL '{url}'")

    def _read_document(self, url: str, origin: str) -> DocumentLayer:
        try:
            return self._layer(parse_document(fetch_url(url, self.aws)), origin)
        except Exception as exc:
            message = exc.message if isinstance(exc, BadRequest) else str(exc)
            logger.warning("configuration url skipped", url=url, error=message)
            return (origin, {}, {})

    def _layer(self, document: Any, origin: str) -> DocumentLayer:
        """A parsed document as (origin, top-level values, parameter sets)."""
        if document is None:
            return (origin, {}, {})
        if not isinstance(document, dict):
            raise ValueError(f"the document is a {type(document).__name__}, not a mapping")
        top: dict[str, str] = {}
        sets: dict[str, dict[str, str]] = {}
        for key, value in document.items():
            name = str(key)
            if isinstance(value, dict):
                sets[name] = {str(k): self._text(str(k), v) for k, v in value.items()}
            elif not name.startswith("#"):
                try:
                    top[name] = self._text(name, value)
                except ValueError:  # a list for a key that takes none: not a value
                    continue
        return (origin, top, sets)

    def _text(self, key: str, value: Any) -> str:
        registration = self.keys.get(key)
        return to_text(value, registration.format if registration else None)

    # -- reads ------------------------------------------------------------

    def entry(self, key: str, *, table_required: bool = True) -> Entry:
        """The effective value of ``key``: one ``GetItem``, plus the URL documents.

        :param table_required: with ``False`` (how operations read the keys they
            use), a deployment with no ``ConfigurationTable`` setting reads the other
            layers instead of failing.
        :raises NotFound: no plugin declares ``key`` and no layer sets it.
        :raises SettingMissing: ``ConfigurationTable`` is not configured and ``table_required``.
        """
        registration = self.keys.get(key)
        if table_required or self.settings.get("ConfigurationTable") is not None:
            table = self.table
            item = table.get(key)
            if item is not None and item.value != "":
                return Entry(key, item.value, self.table_origin(table), registration)
        from_url = self.url_values().get(key)
        if from_url is not None and from_url[0] != "":
            return Entry(key, from_url[0], from_url[1], registration)
        if registration is None:
            raise NotFound(
                f"configuration key {key!r} is declared by no installed plugin and set in "
                "no layer; GET configuration?unstable=true lists the keys"
            )
        return Entry(key, registration.default, DEFAULT_ORIGIN, registration)

    def entries(self, *, unstable: bool = False) -> dict[str, Entry]:
        """Every key, sorted: one paginated ``Scan`` of the table plus the URL documents.

        :param unstable: include the keys declared unstable.
        """
        table = self.table
        items: dict[str, Item] = table.scan()
        url_values = self.url_values()
        entries: dict[str, Entry] = {}
        for key in sorted(set(self.keys) | set(url_values) | set(items)):
            registration = self.keys.get(key)
            if registration is not None and not registration.stable and not unstable:
                continue
            item = items.get(key)
            from_url = url_values.get(key)
            if item is not None and item.value != "":
                entries[key] = Entry(key, item.value, self.table_origin(table), registration)
            elif from_url is not None and from_url[0] != "":
                entries[key] = Entry(key, from_url[0], from_url[1], registration)
            elif registration is not None:
                entries[key] = Entry(key, registration.default, DEFAULT_ORIGIN, registration)
        return entries

    def value(self, key: str) -> str:
        """The effective value of ``key`` as text (the table is optional: see :meth:`entry`)."""
        return self.entry(key, table_required=False).value

    def get_bool(self, key: str) -> bool:
        """The effective value of a ``Bool`` key."""
        return as_bool(self.value(key))

    def get_int(self, key: str) -> int:
        """The effective value of an ``Integer`` key (its default when unreadable)."""
        entry = self.entry(key, table_required=False)
        try:
            return int(entry.value.strip())
        except ValueError:
            if entry.registration is None:
                raise
            return int(entry.registration.default)

    def get_duration(self, key: str) -> float:
        """The effective value of a ``Duration`` key, in seconds."""
        entry = self.entry(key, table_required=False)
        try:
            return parse_duration(entry.value)
        except ValueError:
            if entry.registration is None:
                raise
            return parse_duration(entry.registration.default)

    def get_list(self, key: str) -> list[str]:
        """The effective value of a ``StringList`` key: its ``;``-separated items."""
        return parse_list(self.value(key))
