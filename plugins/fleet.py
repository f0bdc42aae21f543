"""The fleet operations: ``metadata``, ``allmetadatas`` (alias ``fleet/metadata``)
and ``fleet/status``, and the producers of their data.

Their data comes from the precomputed blob (``metadata``: every managed instance's
metadata by instance id; ``fleet/status``) when it holds it, else from EC2 and the
State table (:mod:`clonesquad_interact.plugins.instances`). ``metadata`` of an
instance that the blob does not list (one booted since the blob was computed) is
looked up live: only an instance EC2 does not show as managed is a 404.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from clonesquad_interact import (
    CachePolicy,
    ConfigurationKey,
    Deployment,
    Forbidden,
    NotFound,
    Operation,
    Request,
    Response,
    hookimpl,
)
from clonesquad_interact.access import allows
from clonesquad_interact.errors import excerpt
from clonesquad_interact.precomputed import Source, live, obtain, state_table
from clonesquad_interact.production import Producer, Production

from .shapes import (
    SHAPES_KEY,
    SPECIFICATION,
    V0_27_1,
    flat_metadata,
    release_records,
    release_status,
    spec_metadata,
    spec_status,
)

#: The scaling states that replace the ``State`` of a precomputed record.
SCALING_STATES = frozenset({"draining", "error", "bounced"})
#: An EC2 instance id.
INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
#: The ARN of an assumed-role session: ``arn:aws:sts::<account>:assumed-role/<role>/<session>``.
ASSUMED_ROLE = re.compile(
    r"arn:aws[a-z-]*:sts::(?P<account>[0-9]{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)"
)
#: The principal id of a role session: ``<role id>:<session name>`` (a role's unique id
#: starts with ``AROA``; a federated user's ``<account>:<name>`` is not one).
ROLE_SESSION = re.compile(r"AROA[0-9A-Z]+:(?P<session>[^:]+)")
INSTANCE_ROLES_KEY = "metadata.instance_role_names"
INSTANCE_ROLES = ConfigurationKey(
    INSTANCE_ROLES_KEY,
    "",
    "StringList",
    "The IAM roles whose sessions metadata accepts as EC2 instances (role names separated "
    "by ;). Empty: any role session named like an instance id. Set it to the fleet's "
    "instance roles so that a principal that can assume some other role cannot pose as an "
    "instance by naming its session after it.",
    stable=False,
)
SHAPES = ConfigurationKey(
    SHAPES_KEY,
    SPECIFICATION,
    "String",
    f"The shapes in which metadata and fleet/status answer: {SPECIFICATION!r} (those of "
    f"the Interact API's specification) or {V0_27_1!r} (those of CloneSquad v0.27.1: "
    "metadata a flat record with a top-level State, fleet/status wrapped in EC2), for "
    "clients written against that release.",
    stable=False,
)
#: How an instance calls: the caller of an instance role session is ``<role-id>:<instance-id>``.
HOW_TO_CALL = (
    "call metadata from a managed EC2 instance, signing the request (SigV4) with the "
    "credentials of its instance role, for example with awscurl on the instance"
)


def _schema(name: str) -> Any:
    return files("clonesquad_interact.schemas") / name


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="metadata",
            handler=metadata,
            summary="The calling EC2 instance's state, health, AZ and tags.",
            schema=_schema("metadata.json"),
            cache=CachePolicy.PER_CALLER,
            description=(
                "Only for a managed EC2 instance calling with its instance role: the "
                "instance is the session name of the caller (`<role-id>:<instance-id>`). "
                "`instanceid` names another instance, which an `authorize_access` plugin "
                "must allow. Note that a principal allowed to assume a role can choose an "
                "instance id as its session name: restrict who may invoke this path with IAM."
            ),
        ),
        Operation(
            route="allmetadatas",
            handler=all_metadatas,
            summary="The metadata of every managed EC2 instance, by instance id.",
            schema=_schema("allmetadatas.json"),
            cache=CachePolicy.SHARED,
        ),
        Operation(
            route="fleet/metadata",
            handler=fleet_metadata,
            summary="The metadata of every managed EC2 instance, as a list of flat records.",
            schema=_schema("fleet-metadata.json"),
            cache=CachePolicy.SHARED,
        ),
        Operation(
            route="fleet/status",
            handler=fleet_status,
            summary="Synthetic indicators of the autoscaled fleet, and the subfleets.",
            schema=_schema("fleet-status.json"),
            cache=CachePolicy.SHARED,
        ),
    ]


@hookimpl
def register_configuration_keys() -> tuple[ConfigurationKey, ...]:
    return (INSTANCE_ROLES, SHAPES)


@hookimpl
def register_producers() -> list[Producer]:
    return [
        Producer("metadata", produce_metadata, "The metadata of every managed instance."),
        Producer("fleet/status", produce_status, "The fleet/status indicators."),
    ]


# -------------------------------------------------------------------------
# Operations
# -------------------------------------------------------------------------


def caller_instance(request: Request) -> str | None:
    """The instance id of a caller that is an EC2 instance role session, else ``None``.

    The caller (``requestContext.identity.caller``) is exactly ``<role id>:<instance id>``;
    where the identity also has a ``userArn``, it is the ARN of that same session
    (``arn:aws:sts::<account>:assumed-role/<role>/<instance id>``), so that the
    instance, and the per-caller cache key made of both, stand for one identity; and
    the caller's account (``accountId``, the ARN's) is the called API's, as the
    deployment's instances are: a session named after an instance in another account
    is no instance of this deployment.
    """
    caller = request.caller
    match = ROLE_SESSION.fullmatch(caller) if caller is not None else None
    if match is None or not INSTANCE_ID.fullmatch(match["session"]):
        return None
    identity = request.identity or {}
    arn = identity.get("userArn")
    accounts = {identity.get("accountId")}
    if arn is not None:
        session = ASSUMED_ROLE.fullmatch(arn) if isinstance(arn, str) else None
        if session is None or session["session"] != match["session"]:
            return None
        accounts.add(session["account"])
    own = api_account(request)
    if own is not None and not accounts <= {own, None}:
        return None
    return match["session"]


def api_account(request: Request) -> str | None:
    """The account of the API that was called (``requestContext.accountId``), where the
    event says it: the account whose instances this deployment manages."""
    event = request.raw_event
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    account = context.get("accountId") if isinstance(context, Mapping) else None
    return account if isinstance(account, str) and account else None


def _check_instance_role(request: Request, instance_id: str) -> None:
    """With ``metadata.instance_role_names`` set, the caller must be a session of one of
    those roles, named after the instance.

    :raises Forbidden: it is not.
    """
    deployment: Deployment = request.deployment
    roles = deployment.configuration.get_list(INSTANCE_ROLES_KEY)
    if not roles:
        return
    arn = (request.identity or {}).get("userArn")
    session = ASSUMED_ROLE.fullmatch(arn) if isinstance(arn, str) else None
    if session is None or session["role"] not in roles or session["session"] != instance_id:
        raise Forbidden(
            f"the caller {excerpt(arn, 300)} is not a session of an instance role named in "
            f"{INSTANCE_ROLES_KEY} ({', '.join(roles)}) for instance {instance_id}: "
            f"{HOW_TO_CALL}"
        )


def metadata(request: Request) -> Response:
    """``metadata``: the calling instance's (or, when allowed, another's) metadata."""
    own = caller_instance(request)
    named = request.params.get("instanceid")
    if named is not None and named != own:
        if not allows(request, "metadata", named):
            raise Forbidden(
                f"the caller may not read the metadata of instance {named!r}: an instance "
                "reads its own (omit instanceid), another needs an authorization plugin "
                "that allows it"
            )
        instance_id = named
    elif own is not None:
        _check_instance_role(request, own)
        instance_id = own
    elif request.identity is None or request.caller is None:
        raise Forbidden(f"metadata needs the caller's identity: {HOW_TO_CALL}")
    else:
        raise Forbidden(f"the caller {request.caller!r} is not an EC2 instance: {HOW_TO_CALL}")
    deployment: Deployment = request.deployment
    release = _release_shapes(request)

    def lookup() -> dict[str, Any]:
        from .instances import describe_fleet

        fleet = describe_fleet(deployment, [instance_id], target_groups=release)
        if release:
            return {r["InstanceId"]: r for r in fleet.release_metadata()}
        return fleet.all_metadata()

    convert = release_records if release else spec_metadata
    data = obtain(request, "metadata", lookup, convert=convert)
    found = data.value.get(instance_id) if isinstance(data.value, dict) else None
    if found is None and data.source is Source.PRECOMPUTED:
        # An instance booted since the blob was computed: ask EC2 about it alone.
        data = live("metadata", lookup)
        found = data.value.get(instance_id)
    if found is None:
        raise NotFound(
            f"instance {instance_id} is not managed by group "
            f"{deployment.settings.group_name!r} (it lacks the tag clonesquad:group-name, "
            "or is terminated)"
        )
    if data.source is Source.PRECOMPUTED:
        found = _with_scaling_state(deployment, instance_id, found, release)
    return data.response(found)


def _with_scaling_state(
    deployment: Deployment, instance_id: str, record: dict[str, Any], release: bool
) -> dict[str, Any]:
    """A precomputed record with the instance's scaling state as the State table holds it
    now (one ``GetItem``): ``draining``, ``error`` or ``bounced`` replaces its ``State``,
    as CloneSquad's Interact function does (the blob may be minutes old)."""
    from .instances import SCALING_STATE_PREFIX

    table = state_table(deployment)
    item = table.get(SCALING_STATE_PREFIX + instance_id) if table is not None else None
    state = item.value.strip().lower() if item is not None else ""
    if state not in SCALING_STATES:
        return record
    if release:
        return {**record, "State": state}
    instance = record.get("Instance")
    if not isinstance(instance, dict):
        return record
    return {**record, "Instance": {**instance, "State": state}}


def _release_shapes(request: Request) -> bool:
    """Whether the configuration selects the v0.27.1 shapes."""
    deployment: Deployment = request.deployment
    return deployment.configuration.value(SHAPES_KEY).strip().lower() == V0_27_1


def all_metadatas(request: Request) -> Response:
    """``allmetadatas``: every managed instance's metadata, by instance id."""
    from .instances import describe_fleet

    deployment: Deployment = request.deployment
    return obtain(
        request,
        "metadata",
        lambda: describe_fleet(deployment).all_metadata(),
        convert=spec_metadata,
    ).response()


def fleet_metadata(request: Request) -> Response:
    """``fleet/metadata``: every managed instance's metadata, as v0.27.1 lists it."""
    from .instances import describe_fleet

    deployment: Deployment = request.deployment
    return obtain(
        request,
        "metadata",
        lambda: describe_fleet(deployment, target_groups=True).release_metadata(),
        convert=flat_metadata,
    ).response()


def fleet_status(request: Request) -> Response:
    """``fleet/status``: the fleet's indicators."""
    from .instances import describe_fleet

    deployment: Deployment = request.deployment
    data = obtain(
        request, "fleet/status", lambda: describe_fleet(deployment).status(), convert=spec_status
    )
    if _release_shapes(request):
        return data.response(release_status(data.value))
    return data.response()


# -------------------------------------------------------------------------
# Producers
# -------------------------------------------------------------------------


def produce_metadata(production: Production) -> list[dict[str, Any]]:
    """``metadata`` as CloneSquad v0.27.1's main function writes it: flat records."""
    from .instances import shared_fleet

    return shared_fleet(production).release_metadata()


def produce_status(production: Production) -> dict[str, Any]:
    """``fleet/status`` as CloneSquad v0.27.1's main function writes it: ``{"EC2": ...}``."""
    from .instances import shared_fleet

    return release_status(shared_fleet(production).status())
