"""The access policy: IAM-style statements checked inside the function (opt-in).

With ``CLONESQUAD_INTERACT_ACCESS_POLICY`` naming a JSON policy document
(``s3://bucket/key``, or ``file:///path`` for one shipped with the function), every
routed request, from API Gateway, SQS, a scheduled event or a direct call, is
checked before it is validated or run: the action ``execute-api:Invoke`` on the
resource ``arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<name>``
(``<name>`` the operation name as routed) by the caller's principal. An explicit
``Deny`` wins; with none, an ``Allow`` lets the request run; with neither, it is
refused. A refused request is a 403 saying which statement (or the absence of one)
refused it; over SQS it is recorded as refused and never run.

The document is read when the first request needs it, then at most once a minute.
It is the deployment's to write: the setting is the function's environment and the
object is the operator's, where a configuration key could be rewritten through the
API it guards.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from clonesquad_interact import (
    Deployment,
    Forbidden,
    Interface,
    InternalError,
    Operation,
    Request,
    ServiceUnavailable,
    hookimpl,
)
from clonesquad_interact.errors import excerpt, from_aws
from clonesquad_interact.globs import GlobSet
from clonesquad_interact.layers import fetch_url

__all__ = ["ACTION", "POLICY_SETTING", "AccessPolicy", "PolicyDocument", "PolicyError", "plugin"]

logger = structlog.get_logger(__name__)

#: The setting that names the policy document.
POLICY_SETTING = "CLONESQUAD_INTERACT_ACCESS_POLICY"
#: The action every request asks for, as API Gateway's IAM authorization names it.
ACTION = "execute-api:Invoke"
#: Seconds a read document is used before it is read again.
RELOAD_SECONDS = 60.0
#: Seconds before a failed read is tried again, while the last document read is used.
RETRY_SECONDS = 5.0
#: The policy language versions IAM knows.
VERSIONS = frozenset({"2012-10-17", "2008-10-17"})
#: A part of a resource ARN that a request does not tell.
UNKNOWN = "-"

_STATEMENT_FIELDS = frozenset({"Sid", "Effect", "Action", "Resource", "Principal"})
_UNSUPPORTED = ("NotAction", "NotResource", "NotPrincipal", "Condition")
_PRINCIPAL_KINDS = frozenset({"AWS", "Service"})


def plugin(environ: Mapping[str, str]) -> AccessPolicy | None:
    """The plugin for one dispatcher: ``None`` when :data:`POLICY_SETTING` is unset."""
    source = environ.get(POLICY_SETTING, "").strip()
    return AccessPolicy(source) if source else None


class PolicyError(ValueError):
    """A policy document that cannot be used, with what is wrong in it."""


# -------------------------------------------------------------------------
# The document
# -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends a request, as statements' ``Principal`` names them."""

    #: AWS principal names: ARNs, the account, the unique id (``AROA...:session``).
    names: tuple[str, ...] = ()
    #: The AWS service that sends it (``events.amazonaws.com``), if one does.
    service: str | None = None
    #: How an answer names the caller.
    shown: str = "an unidentified caller"


@dataclass(frozen=True, slots=True)
class Principals:
    """A statement's ``Principal``."""

    anyone: bool
    aws: GlobSet
    services: GlobSet

    def include(self, caller: Caller) -> bool:
        if self.anyone:
            return True
        if caller.service is not None and self.services.matches(caller.service):
            return True
        return any(self.aws.matches(name) for name in caller.names)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement: its effect, and what it applies to."""

    sid: str
    allow: bool
    actions: GlobSet
    resources: GlobSet
    principals: Principals

    def applies(self, action: str, resource: str, caller: Caller) -> bool:
        return (
            self.actions.matches(action)
            and self.resources.matches(resource)
            and self.principals.include(caller)
        )


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """The statements of a policy document, checked and compiled."""

    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, text: str) -> PolicyDocument:
        """Read a JSON policy document.

        :raises PolicyError: it is not JSON, or not a policy this evaluator reads
            (each problem says where and what to write instead).
        """
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise PolicyError(f"it is not JSON ({exc})") from None
        if not isinstance(document, dict):
            raise PolicyError('it must be a JSON object {"Version": ..., "Statement": [...]}')
        unknown = sorted(set(document) - {"Version", "Id", "Statement"})
        if unknown:
            raise PolicyError(f"unknown field(s) {', '.join(unknown)}: use Version and Statement")
        version = document.get("Version", "2012-10-17")
        if version not in VERSIONS:
            raise PolicyError(f"Version {version!r} is unknown: write 2012-10-17")
        statements = document.get("Statement")
        if isinstance(statements, dict):
            statements = [statements]
        if not isinstance(statements, list) or not statements:
            raise PolicyError("Statement must be a statement or a non-empty list of them")
        return cls(tuple(_statement(s, i) for i, s in enumerate(statements)))

    def decide(self, action: str, resource: str, caller: Caller) -> tuple[bool, Statement | None]:
        """Whether ``caller`` may ``action`` ``resource``, and the statement that decided
        (a ``Deny``; else an ``Allow``; ``None`` when no statement applies)."""
        allowing: Statement | None = None
        for statement in self.statements:
            if statement.applies(action, resource, caller):
                if not statement.allow:
                    return False, statement
                allowing = allowing or statement
        return allowing is not None, allowing


def _statement(raw: Any, index: int) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be an object")
    sid = raw.get("Sid", "")
    if not isinstance(sid, str):
        raise PolicyError(f"{where}.Sid must be text")
    if sid:
        where = f"{where} ({sid!r})"
    for name in _UNSUPPORTED:
        if name in raw:
            raise PolicyError(
                f"{where}: {name} is not supported here; write the statement with "
                "Action, Resource and Principal only"
            )
    unknown = sorted(set(raw) - _STATEMENT_FIELDS)
    if unknown:
        raise PolicyError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}: Effect must be Allow or Deny, not {effect!r}")
    return Statement(
        sid=sid or f"#{index}",
        allow=effect == "Allow",
        actions=GlobSet(_patterns(raw, "Action", where), fold_case=True),
        resources=GlobSet(_patterns(raw, "Resource", where)),
        principals=_principals(raw.get("Principal"), where),
    )


def _patterns(raw: Mapping[str, Any], name: str, where: str) -> list[str]:
    value = raw.get(name)
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise PolicyError(f"{where}: {name} must be a pattern or a non-empty list of patterns")
    return values


def _principals(value: Any, where: str) -> Principals:
    if value == "*":
        return Principals(True, GlobSet(()), GlobSet(()))
    if not isinstance(value, dict) or not value:
        raise PolicyError(
            f'{where}: Principal must be "*" or {{"AWS": [...], "Service": [...]}} '
            "(a statement without one would apply to nobody)"
        )
    unknown = sorted(set(value) - _PRINCIPAL_KINDS)
    if unknown:
        raise PolicyError(f"{where}: Principal {', '.join(unknown)} is not supported: use AWS")
    aws = _patterns(value, "AWS", f"{where}.Principal") if "AWS" in value else []
    services = _patterns(value, "Service", f"{where}.Principal") if "Service" in value else []
    return Principals("*" in aws, GlobSet(aws), GlobSet(services))


# -------------------------------------------------------------------------
# A request as the policy sees it
# -------------------------------------------------------------------------


def caller_of(request: Request) -> Caller:
    """The principal names of the caller of ``request``.

    Through API Gateway: the caller's ARN, and for a role session also the role's ARN
    (``arn:aws:iam::<account>:role/<name>``), the account (``<account>`` and
    ``arn:aws:iam::<account>:root``) and the unique id (``caller``); over SQS: the
    sender id (``<role id>:<session>``); for a scheduled event, the service
    ``events.amazonaws.com`` and the rule's ARN (``sourceArn``).
    """
    identity = request.identity or {}
    names: list[str] = []
    arn = _text(identity.get("userArn"))
    if arn:
        names.append(arn)
        names.extend(_role_of(arn))
    account = _text(identity.get("accountId"))
    if account:
        names.extend((account, f"arn:aws:iam::{account}:root"))
    for field in ("sourceArn", "caller", "senderId"):
        value = _text(identity.get(field))
        if value and value not in names:
            names.append(value)
    service = _text(identity.get("service")) or None
    shown = arn or (names[0] if names else "") or service or "an unidentified caller"
    return Caller(tuple(names), service, shown)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _role_of(arn: str) -> list[str]:
    """``arn:aws:iam::<account>:role/<name>`` for a role session's ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sts" or not parts[5].startswith("assumed-role/"):
        return []
    role = parts[5].split("/")
    if len(role) < 3:
        return []
    return [f"arn:{parts[1]}:iam::{parts[4]}:role/{role[1]}"]


def resource_of(request: Request) -> str:
    """The ``execute-api`` ARN of ``request``: ``<region>:<account>:<api>/<stage>``, then
    the method and the name as routed.

    Through API Gateway, the API's parts come from the event's ``requestContext``; over
    SQS the region and account are the queue's, and elsewhere the function's region;
    the API id and stage are those of ``InteractAPIGWUrl``. A part not known is ``-``.
    """
    deployment: Deployment = request.deployment
    region = account = api = stage = ""
    event = request.raw_event if isinstance(request.raw_event, Mapping) else {}
    if request.interface is Interface.APIGW:
        context = event.get("requestContext")
        context = context if isinstance(context, Mapping) else {}
        account, api = _text(context.get("accountId")), _text(context.get("apiId"))
        stage = _text(context.get("stage"))
        region = _api_region(_text(context.get("domainName")))
    else:
        if request.interface is Interface.SQS:
            queue = _text(event.get("eventSourceARN")).split(":")
            if len(queue) == 6:
                region, account = queue[3], queue[4]
        elif _text(event.get("source")) == "aws.events":
            region, account = _text(event.get("region")), _text(event.get("account"))
        url = deployment.settings.get("InteractAPIGWUrl") or ""
        api, stage, url_region = _api_of(url)
        region = region or url_region
    region = region or deployment.aws.region or ""
    region, account, api, stage = (p or UNKNOWN for p in (region, account, api, stage))
    return f"arn:aws:execute-api:{region}:{account}:{api}/{stage}/{request.method}/{request.op}"


def _api_region(domain: str) -> str:
    labels = domain.split(".")
    if len(labels) >= 4 and labels[1] == "execute-api":
        return labels[2]
    return ""


def _api_of(url: str) -> tuple[str, str, str]:
    """The API id, stage and region of an ``https://<id>.execute-api.<region>...`` URL."""
    if not url:
        return "", "", ""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    stage = parts.path.strip("/").split("/")[0]
    return host.split(".")[0] if _api_region(host) else "", stage, _api_region(host)


# -------------------------------------------------------------------------
# The plugin
# -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Read:
    document: PolicyDocument
    #: When it is to be read again (the clock's seconds).
    due: float


class AccessPolicy:
    """Checks every routed request against the policy document at ``source``.

    :param source: where the document is (``s3://``, ``file://``).
    :param clock: seconds, to know when to read it again.
    """

    def __init__(self, source: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.__name__ = __name__
        self.source = source
        self._clock = clock
        self._read: _Read | None = None
        self._lock = threading.Lock()

    @hookimpl
    def authorize_request(self, request: Request, operation: Operation) -> bool | None:
        document = self.document(request.deployment)
        resource = resource_of(request)
        caller = caller_of(request)
        allowed, statement = document.decide(ACTION, resource, caller)
        if allowed:
            return None  # other plugins may still deny
        target = f"{ACTION} on {excerpt(resource, 300)}"
        shown_resource = _short(resource)
        who = _short(caller.shown)
        if statement is not None:
            raise Forbidden(
                f"the access policy denies {who} {target} (statement "
                f"{_short(statement.sid)!r}); ask an operator for access",
                details=[{"statement": _short(statement.sid), "resource": shown_resource}],
            )
        raise Forbidden(
            f"no statement of the access policy allows {who} {target}; ask an operator for access",
            details=[{"resource": shown_resource}],
        )

    def document(self, deployment: Deployment) -> PolicyDocument:
        """The document, read again when it is due.

        :raises InternalError: it cannot be read or used (every request is refused
            until it is fixed).
        :raises ServiceUnavailable: S3 fails for now and no document was read yet.
        """
        read = self._read
        if read is not None and self._clock() < read.due:
            return read.document
        with self._lock:
            read = self._read
            now = self._clock()
            if read is not None and now < read.due:
                return read.document
            try:
                document = PolicyDocument.parse(fetch_url(self.source, deployment.aws))
            except PolicyError as exc:
                self._read = None
                raise self._unusable(str(exc)) from None
            except (ValueError, OSError) as exc:  # not UTF-8, too large, no such file...
                self._read = None
                logger.error("access policy unreadable", source=self.source, exc_info=exc)
                said = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
                raise self._unusable(f"it cannot be read ({said})") from None
            except Exception as exc:
                mapped = from_aws(exc)
                if isinstance(mapped, ServiceUnavailable):
                    if read is not None:  # keep the last document for now
                        logger.warning("access policy not read again", error=repr(exc))
                        self._read = _Read(read.document, now + RETRY_SECONDS)
                        return read.document
                    raise ServiceUnavailable(
                        f"the access policy cannot be read for now ({mapped.message})"
                    ) from None
                self._read = None
                logger.error("access policy unreadable", source=self.source, exc_info=exc)
                reason = mapped.message if mapped is not None else type(exc).__name__
                raise self._unusable(f"it cannot be read: {reason}") from None
            self._read = _Read(document, now + RELOAD_SECONDS)
            return document

    def _unusable(self, reason: str) -> InternalError:
        return InternalError(
            f"the access policy that {POLICY_SETTING} names cannot be used, so every request "
            f"is refused until an operator fixes it: {reason}"
        )


def _short(text: str, limit: int = 300) -> str:
    """``text`` as an answer shows it: whole, or a short escaped excerpt when long."""
    return text if len(text) <= limit else excerpt(text, limit)
