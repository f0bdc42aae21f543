"""Data that operations serve: precomputed in the State table, or computed live.

A CloneSquad deployment precomputes the data of some operations and writes it in
the State table under ``interact.precomputed``: the JSON document
``{"data": {"<operation>": <value>, ...}}``, gzip-compressed (level 9) then
base64-encoded. The producer of this library (:mod:`clonesquad_interact.producer`)
writes the same format and adds ``"generated_at"`` (epoch seconds), which tells how
old the data is (a blob without it is of unknown age), and, per name, when its data
was computed and when it expires (``"generated"`` and ``"expires"``): a run of some
producers keeps the others' data, which stays as old as it was and expires when it
would have.

:func:`obtain` serves an operation's data from that blob when it is present and not
expired, else computes it live; every answer says which, and how old the data is
(:data:`SOURCE_HEADER`, :data:`AGE_HEADER`). Data that cannot be had is a 503
with ``Retry-After``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from .errors import AWSCallRefused, InteractError, ServiceUnavailable, aws_error_name, from_aws
from .response import Response
from .tables import KeyValueTable

if TYPE_CHECKING:
    from .deployment import Deployment
    from .request import Request

__all__ = [
    "AGE_HEADER",
    "LAST_WRITE_INDEX_KEY",
    "PRECOMPUTED_KEY",
    "SOURCE_HEADER",
    "Precomputed",
    "Source",
    "Sourced",
    "decode",
    "decode_value",
    "encode",
    "encode_value",
    "live",
    "obtain",
    "read_precomputed",
    "state_table",
]

logger = structlog.get_logger(__name__)

#: The State table key of the precomputed blob.
PRECOMPUTED_KEY = "interact.precomputed"
#: The State table key that changes whenever the data a cache holds may have changed.
LAST_WRITE_INDEX_KEY = "cache.last_write_index"

#: Response header: ``precomputed`` or ``live``.
SOURCE_HEADER = "X-Clonesquad-Data-Source"
#: Response header: the data's age in whole seconds, or ``unknown``.
AGE_HEADER = "X-Clonesquad-Data-Age"

#: Seconds a caller is asked to wait when data cannot be had.
RETRY_AFTER = 30


class Source(enum.StrEnum):
    """Where an answer's data comes from."""

    PRECOMPUTED = "precomputed"
    LIVE = "live"


@dataclass(frozen=True, slots=True)
class Sourced:
    """A value, where it comes from and how old it is."""

    value: Any
    source: Source
    #: Seconds since the data was computed; ``None`` when unknown.
    age: float | None

    @property
    def headers(self) -> dict[str, str]:
        """The response headers that tell the source and the age."""
        age = "unknown" if self.age is None else str(max(0, int(self.age)))
        return {SOURCE_HEADER: self.source.value, AGE_HEADER: age}

    def response(self, body: Any = None) -> Response:
        """A 200 answer with ``body`` (default: the value) and the source headers."""
        return Response(body=self.value if body is None else body, headers=self.headers)


@dataclass(frozen=True, slots=True)
class Precomputed:
    """A decoded ``interact.precomputed`` blob."""

    data: Mapping[str, Any]
    #: Epoch seconds of its computation, when the writer said.
    generated_at: float | None = None
    #: Epoch seconds of its expiry, from the item's ``ExpirationTime``.
    expiration_time: int | None = field(default=None, compare=False)
    #: Name -> epoch seconds of the computation of its data, when it differs.
    generated: Mapping[str, float] = field(default_factory=dict)
    #: Name -> epoch seconds of the expiry of its data, when the writer said.
    expires: Mapping[str, float] = field(default_factory=dict)

    def generated_at_of(self, name: str) -> float | None:
        """Epoch seconds of the computation of ``name``'s data, when known."""
        return self.generated.get(name, self.generated_at)

    def expires_at(self, name: str) -> float | None:
        """Epoch seconds of the expiry of ``name``'s data, when known."""
        return self.expires.get(name, self.expiration_time)

    def get(self, name: str, now: float) -> Sourced | None:
        """The data of ``name``, or ``None`` when the blob does not hold it (or no longer)."""
        if name not in self.data:
            return None
        expires = self.expires.get(name)
        if expires is not None and expires <= now:
            return None
        generated_at = self.generated_at_of(name)
        age = None if generated_at is None else now - generated_at
        return Sourced(self.data[name], Source.PRECOMPUTED, age)


def encode(
    data: Mapping[str, Any],
    *,
    generated_at: float | None = None,
    generated: Mapping[str, float] | None = None,
    expires: Mapping[str, float] | None = None,
) -> str:
    """The blob of ``data`` as a CloneSquad deployment writes it (:func:`encode_value`).

    :param generated_at: when the data was computed (epoch seconds).
    :param generated: per name, when its data was computed, if not ``generated_at``.
    :param expires: per name, when its data expires.
    """
    document: dict[str, Any] = {"data": dict(data)}
    if generated_at is not None:
        document["generated_at"] = generated_at
    if generated:
        document["generated"] = dict(generated)
    if expires:
        document["expires"] = dict(expires)
    return encode_value(document)


def encode_value(value: Any) -> str:
    """``value`` encoded as a CloneSquad deployment encodes the JSON it keeps in the State
    table (``interact.precomputed``, ``ec2.control.state``, ``cloudwatch.metrics.cache``):
    ``json.dumps`` with sorted keys and the default separators (other values as their
    ``str()``), gzip level 9 stamped with the time 1, then base64 with padding.
    """
    import gzip  # imported by the requests that read or write an encoded value

    text = json.dumps(value, sort_keys=True, default=str)
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=1)).decode(
        "ascii"
    )


def decode_value(text: str) -> Any:
    """A JSON value the State table holds, encoded as :func:`encode_value` does, or
    plain JSON text, or either inside the ``b'...'`` wrapper that some writers leave.

    :raises ValueError: it is none of these.
    """
    stripped = text.strip()
    if (
        len(stripped) >= 3
        and stripped[0] == "b"
        and stripped[1] in "'\""
        and stripped[-1] == stripped[1]
    ):
        stripped = stripped[2:-1]
    import gzip

    try:
        return json.loads(gzip.decompress(base64.b64decode(stripped, validate=True)))
    except (binascii.Error, OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        compressed_error = exc
    try:
        return json.loads(stripped)
    except ValueError:
        raise ValueError(
            f"neither base64 of gzip-compressed JSON ({compressed_error}) nor JSON text"
        ) from None


def decode(blob: str) -> Precomputed:
    """The content of a blob (see :func:`decode_value` for the encodings read).

    :raises ValueError: it is not an encoded JSON ``{"data": {...}}`` document.
    """
    document = decode_value(blob)
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise ValueError('the document is not shaped {"data": {...}}')
    generated_at = document.get("generated_at")
    if not _is_time(generated_at):
        generated_at = None
    return Precomputed(
        document["data"],
        generated_at,
        generated=_times(document.get("generated")),
        expires=_times(document.get("expires")),
    )


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _times(value: Any) -> dict[str, float]:
    """A name -> epoch seconds map of a document, without what is not one."""
    if not isinstance(value, dict):
        return {}
    return {str(name): float(when) for name, when in value.items() if _is_time(when)}


def state_table(deployment: Deployment) -> KeyValueTable | None:
    """The State table, or ``None`` when the deployment names none."""
    if deployment.settings.get("StateTable") is None:
        return None
    return deployment.table("StateTable")


def read_precomputed(table: KeyValueTable) -> Precomputed | None:
    """The blob in ``table``, or ``None`` when it is absent, expired or unreadable.

    A blob that cannot be decoded, or a State table that cannot be read, is logged
    and treated as absent: the data is then computed live.
    """
    try:
        item = table.get(PRECOMPUTED_KEY)
    except Exception as exc:
        logger.warning("precomputed data unreadable", table=table.name, error=repr(exc))
        return None
    if item is None or not item.value:
        return None
    try:
        precomputed = decode(item.value)
    except ValueError as exc:
        logger.warning("precomputed data corrupt", table=table.name, error=str(exc))
        return None
    return Precomputed(
        precomputed.data,
        precomputed.generated_at,
        item.expiration_time,
        generated=precomputed.generated,
        expires=precomputed.expires,
    )


def live(name: str, compute: Callable[[], Any]) -> Sourced:
    """Compute ``name``'s data now.

    An AWS failure is classified by :func:`~clonesquad_interact.errors.from_aws`:

    :raises ServiceUnavailable: AWS throttled, failed (its 5xx), timed out or could not
        be reached: the data cannot be had right now (503 with ``Retry-After``).
    :raises AWSCallRefused: AWS refused a call for good (access denied, a request it
        finds invalid): trying again cannot help until the deployment is fixed.
    """
    try:
        value = compute()
    except InteractError:
        raise
    except Exception as exc:
        mapped = from_aws(exc)
        if mapped is None:
            raise
        code = aws_error_name(exc)
        logger.warning("live computation failed", data=name, error=repr(exc))
        details = [{"data": name, "aws_error": code}]
        if mapped.retryable:
            raise ServiceUnavailable(
                f"the data of {name!r} cannot be had: no precomputed data, and computing it "
                f"failed ({code}); try again shortly",
                retry_after=RETRY_AFTER,
                details=details,
            ) from exc
        raise AWSCallRefused(
            f"the data of {name!r} cannot be computed: {mapped.message}",
            details=details,
        ) from exc
    return Sourced(value, Source.LIVE, 0.0)


def obtain(
    request: Request,
    name: str,
    compute: Callable[[], Any],
    *,
    convert: Callable[[Any], Any] | None = None,
    clock: Callable[[], float] = time.time,
) -> Sourced:
    """``name``'s data: from the precomputed blob when it holds it, else computed live.

    :param request: the request being served (its deployment locates the State table).
    :param name: the key of the data in the blob (an operation name, ``metadata``...).
    :param compute: computes the data live (boto3 errors are classified by :func:`live`).
    :param convert: turns the blob's value into the shape served (for data that the
        writers of different releases shape differently); ``None`` from it means the
        blob does not hold usable data, which is then computed live.
    :raises ServiceUnavailable: no precomputed data, and the live computation failed in
        a way worth trying again.
    :raises AWSCallRefused: no precomputed data, and AWS refused the live computation
        for good.
    """
    deployment: Deployment | None = request.deployment
    assert deployment is not None, "obtain() serves routed requests"
    table = state_table(deployment)
    if table is not None:
        precomputed = read_precomputed(table)
        if precomputed is not None:
            found = precomputed.get(name, clock())
            if found is not None and convert is not None:
                value = convert(found.value)
                found = None if value is None else Sourced(value, found.source, found.age)
            if found is not None:
                return found
    return live(name, compute)
