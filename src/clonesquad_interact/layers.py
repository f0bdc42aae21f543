"""The effective configuration of a deployment, resolved as CloneSquad resolves it.

Layers, lowest first, each named as CloneSquad's dumps name it:

1. ``Built-in defaults``: the keys that plugins declare;
2. ``internal:predefined.config.yaml`` and 3. ``internal:custom.config.yaml``;
4. each URL of ``config.loaded_files`` (the table's value when it sets one, else
   the declared default), then 5. each URL of ``ConfigurationURLs``, then the URLs
   that a document's own top-level ``config.loaded_files`` chains;
6. ``DynamoDB configuration table '<name>'``;
7. a layer a request adds above them (:meth:`Snapshot.with_layer`), such as
   ``SSM Maintenance Window override``.

A layer holds top-level entries and parameter sets (a top-level mapping of a
document; ``[<set>]<key>`` items of the table). A key ``K`` resolves in two passes:
first the highest layer with a top-level ``override:K`` wins; else, from the highest
layer down, a layer's active parameter set holding ``K`` wins, then that layer's
own ``K``. The active set is the ``config.active_parameter_set`` of the highest
layer that sets one.

The documents are read at most once a minute per warm container; the table is
read on every request: one ``BatchGetItem`` of the few items a key needs, or one
``Scan`` for a dump.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import structlog

from .aws import AWS
from .configuration import (
    OVERRIDE_PREFIX,
    ConfigurationKey,
    as_bool,
    base_key,
    parameter_set_item,
    parse_duration,
    to_text,
)
from .errors import BadRequest, NotFound
from .formats import parse_document
from .metastrings import parse_list
from .settings import Settings
from .tables import BATCH_GET_SIZE, Item, KeyValueTable, check_key, key_problem

__all__ = [
    "BUILT_IN",
    "MAINTENANCE_LAYER",
    "Entry",
    "Layer",
    "LayeredConfiguration",
    "Snapshot",
    "fetch_url",
    "resolve",
]

logger = structlog.get_logger(__name__)

#: Seconds a warm container keeps the documents it read.
URL_CACHE_SECONDS = 60.0
#: Seconds to wait for an ``https://`` or ``http://`` document.
URL_TIMEOUT = 5.0
#: Largest document read from a URL.
URL_MAX_BYTES = 1 << 20

#: The name of the layer of declared defaults.
BUILT_IN = "Built-in defaults"
#: The name of the layer above the table that active SSM maintenance windows make.
MAINTENANCE_LAYER = "SSM Maintenance Window override"
#: The documents always read first, before ``config.loaded_files``.
INTERNAL_DOCUMENTS = ("internal:predefined.config.yaml", "internal:custom.config.yaml")
#: The package's copies of the internal documents, parsed.
SHIPPED_DOCUMENTS = "internal-documents.json"
ACTIVE_SET_KEY = "config.active_parameter_set"
LOADED_FILES_KEY = "config.loaded_files"
DEPTH_KEY = "config.max_file_hierarchy_depth"
#: The active sets of the table that a container remembers as guesses for its reads.
ACTIVE_SETS_REMEMBERED = 4
#: Documents read at most, when ``config.max_file_hierarchy_depth`` is not declared.
DEFAULT_DEPTH = 10
#: A Lambda layer's files: where ``internal:<name>`` documents are looked for third.
LAYER_DIRECTORY = "/opt"
#: The sub-directories of each directory searched, in order.
_INTERNAL_SUBDIRECTORIES = (".", "custo", "resources")

_DEFAULT = object()


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer: its name, its top-level entries and its parameter sets.

    Values are kept as the layer holds them (a document's ``2`` stays a number,
    the table's values are text); lists and mappings are not values.
    """

    source: str
    values: Mapping[str, Any] = field(default_factory=dict)
    sets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def active_set(self) -> str | None:
        """The ``config.active_parameter_set`` this layer sets, or ``None``."""
        if ACTIVE_SET_KEY not in self.values:
            return None
        value = self.values[ACTIVE_SET_KEY]
        return "" if value is None else _as_text(value)


def _is_value(value: Any) -> bool:
    return not isinstance(value, list | tuple | dict | Mapping)


def _document_value(value: Any) -> Any:
    """A document's value as a layer keeps it: a number JSON cannot hold becomes text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _as_text(value: Any, fmt: str | None = None) -> str:
    """A layer's value as the text a read answers (a boolean is ``1``/``0``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float) or value is None:
        return to_text(value, fmt)
    return str(value)  # a YAML date: as it was written


@dataclass(frozen=True, slots=True)
class Entry:
    """A key's effective value and where it comes from."""

    key: str
    #: The value as text (``None`` when the winning layer sets it to null).
    value: str | None
    #: The layer that set it (``Built-in defaults``, a URL, the table).
    origin: str
    #: The declaration of the key (``None`` for a key no plugin declares, and for
    #: an ``override:`` entry listed on its own).
    registration: ConfigurationKey | None
    #: Whether the value comes from an ``override:`` entry.
    override: bool = False
    #: The parameter set that held the value, if one did.
    parameter_set: str | None = None
    #: The value as the layer holds it (a document's number stays a number).
    raw: Any = _DEFAULT
    #: Whether the key (without ``override:``) is declared stable.
    stable: bool | None = None
    #: Whether the key (without ``override:``) is declared at all.
    declared: bool | None = None

    @property
    def shown_value(self) -> Any:
        """``Value`` as dumps show it."""
        return self.value if self.raw is _DEFAULT else self.raw

    def dump(self) -> dict[str, Any]:
        """The key as ``GET configuration`` shows it, with CloneSquad's fields."""
        registration = self.registration
        status = f"Key found in '{self.origin}'"
        if self.parameter_set is not None:
            status += f" (ParameterSet='{self.parameter_set}')"
        declared = self.declared if self.declared is not None else registration is not None
        if not declared:
            status = (
                f"[WARNING] Key '{self.key}' doesn't exist as built-in default "
                f"(Misconfiguration??) but {status}!"
            )
        stable = self.stable
        if stable is None:
            stable = registration.stable if registration is not None else False
        shown: dict[str, Any] = {
            "ConfigurationOrigin": self.origin,
            "Key": self.key,
            "Override": self.override,
            "Stable": stable,
            "Status": status,
            "Value": self.shown_value,
        }
        if registration is not None:
            shown["DefaultValue"] = registration.dumped_default
            shown["Description"] = registration.description
            if registration.shown_format:
                shown["Format"] = registration.shown_format
        return dict(sorted(shown.items()))


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the declaration of a key (without ``override:``) says of an entry."""

    stable: bool
    declared: bool


def resolve(
    key: str,
    layers: Sequence[Layer],
    keys: Mapping[str, ConfigurationKey],
    active: str | None,
) -> Entry | None:
    """``key`` resolved over ``layers`` (lowest first, above the declared defaults).

    :param active: the active parameter set (``None`` or ``""``: none).
    :returns: ``None`` when no layer sets the key and nothing declares it.
    """
    declared = keys.get(base_key(key))
    facts = _Facts(declared.stable if declared is not None else False, declared is not None)
    registration = keys.get(key)
    is_override = key.startswith(OVERRIDE_PREFIX)
    if not is_override:
        name = OVERRIDE_PREFIX + key
        for layer in reversed(layers):
            if name in layer.values and _is_value(layer.values[name]):
                return _entry(key, layer.values[name], layer.source, registration, facts, True)
    for layer in reversed(layers):
        if active and not is_override:
            members = layer.sets.get(active)
            if members is not None and key in members and _is_value(members[key]):
                return _entry(key, members[key], layer.source, registration, facts, False, active)
        if key in layer.values and _is_value(layer.values[key]):
            return _entry(key, layer.values[key], layer.source, registration, facts, is_override)
    if registration is None:
        return None
    return Entry(
        key,
        registration.default,
        BUILT_IN,
        registration,
        raw=registration.dumped_default,
        stable=facts.stable,
        declared=facts.declared,
    )


def _entry(
    key: str,
    raw: Any,
    source: str,
    registration: ConfigurationKey | None,
    facts: _Facts,
    override: bool,
    parameter_set: str | None = None,
) -> Entry:
    fmt = registration.format if registration is not None else None
    text = None if raw is None else _as_text(raw, fmt)
    return Entry(
        key,
        text,
        source,
        registration,
        override=override,
        parameter_set=parameter_set,
        raw=raw,
        stable=facts.stable,
        declared=facts.declared,
    )


def active_set(layers: Sequence[Layer], keys: Mapping[str, ConfigurationKey]) -> str:
    """The active parameter set: that of the highest layer that names one, else the
    declared default (``""``: none)."""
    for layer in reversed(layers):
        name = layer.active_set
        if name is not None:
            return name
    registration = keys.get(ACTIVE_SET_KEY)
    return registration.default if registration is not None else ""


def table_layer(source: str, items: Iterable[Item]) -> Layer:
    """The table's items as a layer: ``[<set>]<key>`` items become parameter sets."""
    values: dict[str, Any] = {}
    sets: dict[str, dict[str, Any]] = {}
    for item in items:
        member = parameter_set_item(item.key)
        if member is not None:
            sets.setdefault(member[0], {})[member[1]] = item.value
        else:
            values[item.key] = item.value
    return Layer(source, values, sets)


def document_layer(source: str, document: Any) -> Layer:
    """A parsed document as a layer (a top-level mapping is a parameter set).

    :raises ValueError: the document is not a mapping.
    """
    if document is None:
        return Layer(source)
    if not isinstance(document, dict):
        raise ValueError(f"the document is a {type(document).__name__}, not a mapping")
    values: dict[str, Any] = {}
    sets: dict[str, dict[str, Any]] = {}
    for key, value in document.items():
        name = str(key)
        if isinstance(value, dict):
            sets[name] = {str(k): _document_value(v) for k, v in value.items() if _is_value(v)}
        elif _is_value(value):
            values[name] = _document_value(value)
    return Layer(source, values, sets)


def fetch_url(url: str, aws: AWS) -> str:
    """The text of the document at ``url`` (``s3://``, ``https://``, ``http://`` or
    ``file://``; an HTTP one is fetched signed, as CloneSquad fetches it).

    :raises ValueError: the URL's scheme is not one of those.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "s3":
        key = "/".join(part for part in parts.path.split("/") if part)  # as CloneSquad reads it
        answer = aws.client("s3").get_object(Bucket=parts.netloc, Key=key)
        data: bytes = answer["Body"].read(URL_MAX_BYTES + 1)
    elif parts.scheme == "file":
        path = Path(urllib.parse.unquote(parts.path))
        with path.open("rb") as stream:
            data = stream.read(URL_MAX_BYTES + 1)
    elif parts.scheme in ("https", "http"):
        data = _signed_get(url, parts.hostname or "", aws)
    else:
        raise ValueError(
            f"configuration URL {url!r}: use an internal:, s3://, https://, http:// or file:// URL"
        )
    if len(data) > URL_MAX_BYTES:
        raise ValueError(f"configuration URL {url!r}: the document exceeds {URL_MAX_BYTES} bytes")
    return data.decode("utf-8")


def _signed_get(url: str, host: str, aws: AWS) -> bytes:
    """``GET url``, signed with Signature Version 4 for the service its host names
    (``execute-api`` for an API Gateway or any other host) with the function's
    credentials, as CloneSquad fetches such a URL; unsigned when there are none."""
    # Imported here: they slow a cold start, and few deployments read such a URL.
    from urllib.request import Request, urlopen

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    labels = host.split(".")
    on_aws = len(labels) >= 5 and host.endswith(".amazonaws.com")  # <id>.<service>.<region>...
    service = labels[1] if on_aws else "execute-api"
    region = labels[2] if on_aws else (aws.region or "us-east-1")
    request = AWSRequest(method="GET", url=url)
    credentials = aws.credentials()
    if credentials is not None:
        SigV4Auth(credentials.get_frozen_credentials(), service, region).add_auth(request)
    sent = Request(url, headers=dict(request.headers.items()), method="GET")  # noqa: S310
    with urlopen(sent, timeout=URL_TIMEOUT) as stream:  # noqa: S310 (http(s) only)
        data: bytes = stream.read(URL_MAX_BYTES + 1)
    return data


def internal_directories(environ: Mapping[str, str] | None = None) -> list[str]:
    """Where an ``internal:<name>`` document an operator supplies is looked for, in
    order (each with its sub-directories ``.``, ``custo`` and ``resources``), before the
    package's own copies: ``$LAMBDA_TASK_ROOT``, the current directory, ``/opt``,
    ``$CLONESQUAD_DIR`` and ``$CLONESQUAD_DIR/src/resources``, as CloneSquad looks."""
    environ = os.environ if environ is None else environ
    found: list[str] = []
    task_root = environ.get("LAMBDA_TASK_ROOT")
    if task_root:
        found.append(task_root)
    with contextlib.suppress(OSError):  # the current directory was removed
        found.append(os.getcwd())
    found.append(LAYER_DIRECTORY)
    home = environ.get("CLONESQUAD_DIR")
    if home:
        found += [home, str(Path(home, "src", "resources"))]
    return found


@dataclass(frozen=True, slots=True)
class _Documents:
    """The document layers, as read at ``read_at`` with ``loaded_files``."""

    read_at: float
    loaded_files: str | None
    layers: tuple[Layer, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Layers read once, resolved in memory: what a dump, or a request that reads many
    keys, resolves from.

    :param layers: the layers above the declared defaults, lowest first.
    :param keys: the declared keys, by name.
    """

    layers: tuple[Layer, ...]
    keys: Mapping[str, ConfigurationKey]

    @property
    def active(self) -> str:
        """The active parameter set (``""``: none)."""
        return active_set(self.layers, self.keys)

    def with_layer(
        self, layer: Layer | None, keys: Mapping[str, ConfigurationKey] | None = None
    ) -> Snapshot:
        """This snapshot with ``layer`` above every other one (``None``: none), and
        ``keys`` declared too (they do not replace a declaration of the same name)."""
        layers = self.layers if layer is None else (*self.layers, layer)
        declared = self.keys if not keys else {**keys, **self.keys}
        return Snapshot(layers, declared)

    def find(self, key: str) -> Entry | None:
        """The effective value of ``key``, ``None`` when nothing declares or sets it."""
        return resolve(key, self.layers, self.keys, self.active)

    def entry(self, key: str) -> Entry:
        """The effective value of ``key``.

        :raises NotFound: nothing declares ``key`` and no layer sets it.
        """
        found = self.find(key)
        if found is None:
            raise NotFound(
                f"configuration key {key!r} is declared by no installed plugin and set in "
                "no layer; GET configuration?unstable=true lists the keys"
            )
        return found

    def value(self, key: str) -> str:
        """The effective value of ``key`` as text (a key set to null reads as its
        declared default)."""
        return _value_of(self.entry(key))

    def entries(self, *, unstable: bool = False, prefix: str = "") -> dict[str, Entry]:
        """The keys a dump lists, sorted, resolved.

        :param unstable: also the keys declared unstable and the keys nothing declares
            (by default only the stable ones, and the ``override:`` entries of stable ones).
        :param prefix: only the keys that start with it.
        """
        layers = self.layers
        active = self.active
        if active and not any(active in layer.sets for layer in layers):
            logger.warning(
                "active parameter set exists in no layer",
                parameter_set=active,
                hint="no parameter set with this name exists",
            )
        names: set[str] = set(self.keys)
        for layer in layers:
            names.update(name for name in layer.values if not name.startswith(("#", "[")))
        entries: dict[str, Entry] = {}
        for name in sorted(names):
            if prefix and not name.startswith(prefix):
                continue
            if not unstable:
                declared = self.keys.get(base_key(name))
                if declared is None or not declared.stable:
                    continue
            found = resolve(name, layers, self.keys, active)
            if found is not None:
                entries[name] = found
        return entries


def _value_of(entry: Entry) -> str:
    if entry.value is None:
        return entry.registration.default if entry.registration is not None else ""
    return entry.value


class LayeredConfiguration:
    """The effective configuration of a deployment: the one resolver that every
    operation and plugin reads (``request.deployment.configuration``).

    :param keys: the declared keys, by name.
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
        self._documents: _Documents | None = None
        self._lock = threading.Lock()
        #: The active sets the table named at its last reads, the latest first (the
        #: guesses for the next one); empty until the first read.
        self._table_active: tuple[str, ...] = ()
        self._table: KeyValueTable | None = None

    # -- the table ----------------------------------------------------------

    @property
    def table(self) -> KeyValueTable:
        """The Configuration table (:exc:`SettingMissing` when it is not configured)."""
        table = self._table
        if table is None:
            name = self.settings.require("ConfigurationTable")
            table = KeyValueTable(self.aws.client("dynamodb"), name, clock=self.clock)
            self._table = table
        return table

    def table_origin(self, table: KeyValueTable) -> str:
        """The table's layer name, as CloneSquad's dumps write it."""
        return f"DynamoDB configuration table '{table.name}'"

    def registration_for(self, name: str) -> ConfigurationKey | None:
        """The declaration whose format a value of ``name`` must have: that of ``K``
        for ``K``, ``override:K`` and ``[<set>]K``."""
        return self.keys.get(base_key(name))

    # -- the documents --------------------------------------------------------

    def document_layers(self, loaded_files: str | None = None) -> tuple[Layer, ...]:
        """The layers read from documents, lowest first (read at most once a minute,
        and again at once when the table's ``config.loaded_files`` changes).

        :param loaded_files: the table's ``config.loaded_files`` (``None``: it sets none).
        """
        now = time.monotonic()
        cached = self._documents
        if (
            cached is not None
            and now - cached.read_at < URL_CACHE_SECONDS
            and cached.loaded_files == loaded_files
        ):
            return cached.layers
        with self._lock:
            cached = self._documents
            if (
                cached is not None
                and now - cached.read_at < URL_CACHE_SECONDS
                and cached.loaded_files == loaded_files
            ):
                return cached.layers
            layers = tuple(self._read_documents(loaded_files))
            self._documents = _Documents(now, loaded_files, layers)
        return layers

    def _read_documents(self, loaded_files: str | None) -> Iterable[Layer]:
        if loaded_files is None:
            registration = self.keys.get(LOADED_FILES_KEY)
            loaded_files = registration.default if registration is not None else ""
        queue = [*INTERNAL_DOCUMENTS, *loaded_files.split(";"), *self.settings.configuration_urls]
        depth = self._depth()
        done: set[str] = set()
        position = 0
        while position < len(queue):
            url = queue[position].strip()
            position += 1
            if not url or url in done:
                continue
            done.add(url)
            layer = self._read(url)
            if layer is None:
                continue
            yield layer
            chained = layer.values.get(LOADED_FILES_KEY)
            if isinstance(chained, str) and chained:
                queue.extend(chained.split(";"))
            if position > depth:
                if position < len(queue):
                    logger.warning(
                        "configuration documents not read: too deep a chain",
                        limit=depth,
                        skipped=queue[position:],
                    )
                return

    def _depth(self) -> int:
        registration = self.keys.get(DEPTH_KEY)
        try:
            return int(registration.default) if registration is not None else DEFAULT_DEPTH
        except ValueError:
            return DEFAULT_DEPTH

    def _read(self, url: str) -> Layer | None:
        """The document at ``url`` as a layer; ``None`` (logged) when it cannot be read."""
        try:
            if url.startswith("internal:"):
                document = self._internal(url.removeprefix("internal:"))
            else:
                document = parse_document(fetch_url(url, self.aws))
            return document_layer(url, document)
        except Exception as exc:
            message = exc.message if isinstance(exc, BadRequest) else str(exc)
            logger.warning("configuration url skipped", url=url, error=message)
            return None

    def _internal(self, name: str) -> Any:
        """The document ``internal:<name>``: an operator's file, else the package's copy
        (kept parsed as JSON beside the YAML, so that a cold start parses no YAML)."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"internal:{name} is not a document name")
        for directory in internal_directories():
            for sub in _INTERNAL_SUBDIRECTORIES:
                path = Path(directory, sub, name)
                if path.is_file():
                    return parse_document(path.read_text("utf-8"))
        if f"internal:{name}" in INTERNAL_DOCUMENTS:
            shipped = files("clonesquad_interact.resources") / SHIPPED_DOCUMENTS
            return json.loads(shipped.read_text("utf-8"))["documents"][name]
        raise ValueError(f"internal:{name} is in none of the directories searched")

    # -- reads ----------------------------------------------------------------

    def entry(self, key: str, *, table_required: bool = True) -> Entry:
        """The effective value of ``key``: one ``BatchGetItem`` of the table items it
        needs (``key``, ``override:key``, ``[<active set>]key``,
        ``config.active_parameter_set``, ``config.loaded_files``), plus the documents;
        a ``GetItem`` more when the table names a set that was not guessed.

        :param table_required: with ``False`` (how operations read the keys they
            use), a deployment with no ``ConfigurationTable`` setting reads the other
            layers instead of failing.
        :raises NotFound: nothing declares ``key`` and no layer sets it.
        :raises ValidationFailed: ``key`` cannot be a DynamoDB key.
        :raises SettingMissing: ``ConfigurationTable`` is not configured and ``table_required``.
        """
        if not table_required and self.settings.get("ConfigurationTable") is None:
            documents = self.document_layers()
            layers: list[Layer] = list(documents)
        else:
            layers = self._with_table_items(key)
        found = resolve(key, layers, self.keys, active_set(layers, self.keys))
        if found is None:
            raise NotFound(
                f"configuration key {key!r} is declared by no installed plugin and set in "
                "no layer; GET configuration?unstable=true lists the keys"
            )
        return found

    def _with_table_items(self, key: str) -> list[Layer]:
        """The document layers and the table's items that ``key`` needs, as layers."""
        table = self.table
        check_key(key)
        documents = self.document_layers(self._loaded_files_seen())
        wanted = [key, ACTIVE_SET_KEY, LOADED_FILES_KEY]
        if not key.startswith(OVERRIDE_PREFIX):
            wanted.append(OVERRIDE_PREFIX + key)
        wanted += [f"[{name}]{key}" for name in self._set_guesses(documents)]
        del wanted[BATCH_GET_SIZE:]  # one call
        items = table.batch_get(name for name in wanted if key_problem(name) is None)
        loaded = items.get(LOADED_FILES_KEY)
        if (loaded.value if loaded is not None else None) != self._loaded_files_seen():
            documents = self.document_layers(loaded.value if loaded is not None else None)
        in_table = items.get(ACTIVE_SET_KEY)
        seen = in_table.value if in_table is not None else ""
        if not self._table_active or self._table_active[0] != seen:
            recent = (seen, *(name for name in self._table_active if name != seen))
            self._table_active = recent[:ACTIVE_SETS_REMEMBERED]
        origin = self.table_origin(table)
        layers = [*documents, table_layer(origin, items.values())]
        active = active_set(layers, self.keys)
        missing = f"[{active}]{key}"
        if active and missing not in wanted and key_problem(missing) is None:
            item = table.get(missing)  # the active set changed since the last read
            if item is not None:
                items[missing] = item
                layers[-1] = table_layer(origin, items.values())
        return layers

    def _set_guesses(self, documents: Sequence[Layer]) -> list[str]:
        """The parameter sets whose item of the key is asked with it: the set the
        documents make active and the last few that the table named (a Scheduler that
        alternates sets costs a ``GetItem`` only the first time each is met); before
        the first read, every set the documents define instead (so that a cold read is
        one call whichever of them the table names)."""
        first = [active_set(documents, self.keys)]
        if not self._table_active:
            first += sorted({name for layer in documents for name in layer.sets})
        else:
            first += self._table_active
        return [name for name in dict.fromkeys(first) if name]

    def _loaded_files_seen(self) -> str | None:
        cached = self._documents
        return cached.loaded_files if cached is not None else None

    def layers(self) -> list[Layer]:
        """Every layer above the declared defaults, lowest first: the documents, then
        the whole table (one paginated ``Scan``)."""
        table = self.table
        items = table.scan()
        loaded = items.get(LOADED_FILES_KEY)
        documents = self.document_layers(loaded.value if loaded is not None else None)
        return [*documents, table_layer(self.table_origin(table), items.values())]

    def snapshot(self) -> Snapshot:
        """Every layer (the documents, then the whole table: one paginated ``Scan``),
        to resolve any number of keys from without another read."""
        return Snapshot(tuple(self.layers()), self.keys)

    def entries(self, *, unstable: bool = False, prefix: str = "") -> dict[str, Entry]:
        """The keys a dump lists, sorted, resolved: one paginated ``Scan`` of the
        table plus the documents (see :meth:`Snapshot.entries`)."""
        return self.snapshot().entries(unstable=unstable, prefix=prefix)

    def value(self, key: str) -> str:
        """The effective value of ``key`` as text (the table is optional: see
        :meth:`entry`); a key set to null reads as its declared default."""
        return _value_of(self.entry(key, table_required=False))

    def get_bool(self, key: str) -> bool:
        """The effective value of a ``Bool`` key."""
        return as_bool(self.value(key))

    def get_int(self, key: str) -> int:
        """The effective value of an ``Integer`` key (its default when unreadable)."""
        entry = self.entry(key, table_required=False)
        try:
            return int((entry.value or "").strip())
        except ValueError:
            if entry.registration is None:
                raise
            return int(entry.registration.default)

    def get_duration(self, key: str) -> float:
        """The effective value of a ``Duration`` key, in seconds."""
        entry = self.entry(key, table_required=False)
        try:
            return parse_duration(entry.value or "")
        except ValueError:
            if entry.registration is None:
                raise
            return parse_duration(entry.registration.default)

    def get_list(self, key: str) -> list[str]:
        """The effective value of a ``StringList`` key: its ``;``-separated items."""
        return parse_list(self.value(key))
