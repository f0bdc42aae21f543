"""Hypothesis strategies of Lambda events, from well-formed to broken.

Well-formed events are built by :mod:`clonesquad_interact.testing`'s builders (API
Gateway REST and HTTP API, SQS records) or as EventBridge and direct invocations
send them; :func:`broken` then damages some of them: a field removed, replaced by
any JSON value, or added, anywhere in the event. Names, parameters and bodies mix
what the operations expect with what no caller should send (lone surrogates,
numbers DynamoDB cannot store, keys over 2048 bytes, non-canonical names).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from clonesquad_interact.testing import (
    OPERATOR_IDENTITY,
    apigw_http_event,
    apigw_rest_event,
    instance_identity,
    sqs_record,
)


@dataclass(frozen=True)
class World:
    """What the deployment under test holds, for events that name real things."""

    instance_ids: Sequence[str]
    event_dates: Sequence[str]
    #: Names of the EventBridge rules of the Scheduler table's entries.
    rules: Sequence[str] = ()
    account: str = "123456789012"
    region: str = "eu-west-3"


#: Text of any code point, lone surrogates included.
any_text = st.text(st.characters(exclude_categories=[]), max_size=12)

#: Values that have broken, or nearly broken, parsers and DynamoDB.
EDGE_TEXTS = (
    "",
    " ",
    "\ud800",
    "a\udfffb",
    "\x00",
    "%2F",
    "..",
    "é",
    "\uff11\uff12",
    "1e999",
    "-1",
    "0x10",
    "9" * 400,
    "1" + "0" * 130,
    "1e40",
    "NaN",
    "true",
    "yes",
    "null",
    "[]",
    "{}",
    "hours=1",
    "minutes=30,hours=1",
    "days=1e39",
    "seconds=-5",
    "k" * 2049,
    "a;b;c",
    "2026-12-01 19:13:42.471382+00:00",
    "cron(0 19 ? * MON-FRI *)",
    "{{ bad",
    "&a=b",
)
edge_text = st.sampled_from(EDGE_TEXTS)
texts = st.one_of(edge_text, any_text, st.text(max_size=30))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
#: Any JSON-shaped value (non-finite floats included: Python's json writes them).
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=4,
)

#: Keys of the Configuration and Scheduler tables: a small pool, so that the tables
#: stay small across examples, and any text now and then.
TABLE_KEYS = (
    "app.disable",
    "ec2.schedule.min_instance_count",
    "ec2.schedule.desired_instance_count",
    "notify.event.keep_acked_records",
    "ec2.az.unavailable_list",
    "custom.key.a",
    "custom.key.b",
    "demo-workday-end",
    "override:app.disable",
)
table_keys = st.one_of(st.sampled_from(TABLE_KEYS), st.sampled_from(EDGE_TEXTS), any_text)

#: Operations of the API, by name as routed (``{key}`` filled in by :func:`op_names`).
API_OPERATIONS = (
    "",
    "metadata",
    "allmetadatas",
    "fleet/metadata",
    "fleet/status",
    "discovery",
    "cloudwatch/sentmetrics",
    "cloudwatch/metriccache",
    "configuration",
    "configuration/{key}",
    "scheduler",
    "scheduler/{key}",
    "notify/ackevent",
    "debug/publishreportnow",
    "control/instances/unstoppable",
    "control/instances/unstartable",
    "backup",
    "control/reschedulenow",
)
#: Operations served over SQS (and the others, which answer 405 there).
SQS_OPERATIONS = (
    "notify/ackevent",
    "Notify/AckEvent",
    "debug/publishreportnow",
    "backup",
    "control/reschedulenow",
    "configuration",
    "no/such/operation",
)


@st.composite
def op_names(draw: st.DrawFn, names: Sequence[str] = API_OPERATIONS) -> str:
    """An operation name: one that exists, a non-canonical spelling of it, or any text."""
    name = draw(st.sampled_from(names))
    if "{key}" in name:
        name = name.replace("{key}", draw(table_keys))
    spelling = draw(st.sampled_from(["as is"] * 6 + ["upper", "slashes", "encoded", "any"]))
    if spelling == "upper":
        name = name.upper()
    elif spelling == "slashes":
        name = (
            draw(st.sampled_from(["/", "//", "./", "../"]))
            + name
            + draw(st.sampled_from(["", "/", "//", "/."]))
        )
    elif spelling == "encoded":
        name = name.replace("/", "%2F")
    elif spelling == "any":
        name = draw(texts)
    return name


#: Parameters each operation knows, with values it may be given.
_PARAMETER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "format": st.sampled_from(["json", "yaml", "xml", ""]),
    "unstable": st.sampled_from(["true", "false", "1", "maybe"]),
    "raw": st.sampled_from(["true", "false", "0"]),
    "restore": st.sampled_from(["true", "false"]),
    "confirm": st.sampled_from(["true", "false"]),
    "ttl": st.sampled_from(["3600", "hours=1", "minutes=30,hours=1", "0", "-1", "1e40"]),
    "mode": st.sampled_from(["add", "delete", "list", ""]),
    "instanceids": st.sampled_from(["all", "i-0aaa", "i-0aaa,i-0bbb", ""]),
    "instancenames": st.sampled_from(["demo-1", "demo-*", ""]),
    "subfleetnames": st.sampled_from(["static", "", "nope"]),
    "excluded": st.sampled_from(["true", "false"]),
    "delay": st.sampled_from(["0", "60", "900", "901", "-1", "x"]),
    "instanceid": st.sampled_from(["i-0aaa", ""]),
    "Events": st.sampled_from(["2026-12-01 19:13:42.471382+00:00", ""]),
}
parameter_names = st.one_of(st.sampled_from(sorted(_PARAMETER_VALUES)), texts)


@st.composite
def query_params(draw: st.DrawFn, world: World) -> dict[str, Any]:
    """Query-string parameters: known names with likely or hostile values, any names."""
    params: dict[str, Any] = {}
    for name in draw(st.lists(parameter_names, max_size=4, unique=True)):
        likely = _PARAMETER_VALUES.get(name, texts)
        if name == "instanceid" and world.instance_ids:
            likely = likely | st.sampled_from(world.instance_ids)
        if name == "Events" and world.event_dates:
            likely = likely | st.sampled_from(world.event_dates)
        value = draw(st.one_of(likely, likely, texts))
        params[name] = (
            draw(st.lists(texts, min_size=2, max_size=3)) if draw(st.integers(0, 9)) == 0 else value
        )
    return params


#: Values of a document's keys: what the formats take, and what they refuse.
document_values = st.one_of(
    st.sampled_from(["0", "1", "2", "", "hours=1", "a;b", "cron(0 19 ? * MON-FRI *)"]),
    st.none(),
    st.integers(-5, 10**20),
    st.booleans(),
    texts,
    json_values,
)
documents = st.dictionaries(table_keys, document_values, max_size=6)


@st.composite
def bodies(draw: st.DrawFn) -> str | bytes | None:
    """A request body: none, a JSON or YAML document, text, bytes that may not be UTF-8."""
    kind = draw(st.sampled_from(["none", "none", "json", "json", "yaml", "text", "bytes"]))
    if kind == "none":
        return None
    if kind == "json":
        return json.dumps(draw(st.one_of(documents, json_values)))
    if kind == "yaml":
        document = draw(documents)
        lines = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in document.items()]
        return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n- [", "\n&a [*a]"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    return draw(texts)


def identities(world: World) -> st.SearchStrategy[dict[str, Any] | None]:
    """Who calls: the operator, a managed instance, an unknown instance, nobody, odd ones."""
    instances = [*world.instance_ids, "i-0123456789abcdef0"]
    return st.one_of(
        st.just(dict(OPERATOR_IDENTITY)),
        st.sampled_from(instances).map(instance_identity),
        st.none(),
        st.dictionaries(
            st.sampled_from(["caller", "userArn", "user", "accountId", "accessKey"]),
            st.one_of(texts, st.none(), json_values),
            max_size=4,
        ),
    )


@st.composite
def apigw_events(draw: st.DrawFn, world: World, *, http_api: bool) -> dict[str, Any]:
    """An API Gateway proxy event (REST payload 1.0 or HTTP API payload 2.0), maybe broken."""
    method = draw(st.sampled_from(["GET", "GET", "POST", "POST", "PUT", "get", "DELETE"]))
    build = apigw_http_event if http_api else apigw_rest_event
    event = build(
        method,
        "/" + draw(op_names()),
        params=draw(query_params(world)),
        body=draw(bodies()),
        identity=draw(identities(world)),
    )
    return draw(broken(event))


def _sqs_message(draw: st.DrawFn, world: World) -> str:
    kind = draw(st.sampled_from(["message"] * 6 + ["any json", "text", "no optype"]))
    if kind == "text":
        return draw(texts)
    if kind == "any json":
        return json.dumps(draw(json_values))
    message: dict[str, Any] = {}
    if kind == "message":
        message["OpType"] = draw(st.one_of(op_names(SQS_OPERATIONS), json_values))
    for name, value in draw(query_params(world)).items():
        message[name] = value
    if draw(st.booleans()) and world.event_dates:
        dates = st.sampled_from(world.event_dates) | texts
        message["Events"] = draw(st.one_of(st.lists(dates, max_size=3), dates, json_values))
    if draw(st.integers(0, 4)) == 0:
        message[draw(texts)] = draw(json_values)
    return json.dumps(message)


@st.composite
def sqs_events(draw: st.DrawFn, world: World) -> dict[str, Any]:
    """An SQS batch of one to five records, some maybe broken, or a broken batch."""
    records = []
    batch = draw(st.integers(0, 2**60))
    for index in range(draw(st.integers(1, 5))):
        record = sqs_record(
            _sqs_message(draw, world),
            # Lambda never hands two records of one message id in a batch.
            message_id=str(uuid.UUID(int=batch << 3 | index)),
            sender_id=draw(st.one_of(st.just("AROA4XZPU6QWEXAMPLE02:i-0aaa"), texts)),
        )
        records.append(draw(broken(record, level=draw(st.sampled_from([0, 0, 0, 1])))))
    return draw(broken({"Records": records}, level=draw(st.sampled_from([0, 0, 0, 0, 1]))))


@st.composite
def scheduled_events(draw: st.DrawFn, world: World) -> dict[str, Any]:
    """An EventBridge event as a rule delivers it (a schedule, or another source), maybe broken."""
    event = {
        "version": "0",
        "id": str(uuid.UUID(int=draw(st.integers(0, 2**64)))),
        "detail-type": draw(st.sampled_from(["Scheduled Event", "EC2 Instance State-change"])),
        "source": draw(st.sampled_from(["aws.events", "aws.events", "aws.ec2", "custom"])),
        "account": world.account,
        "time": draw(st.sampled_from(["2026-12-01T19:13:42Z", "2026-12-01T19:13:42.471Z"])),
        "region": world.region,
        "resources": draw(
            st.lists(
                st.one_of(
                    st.sampled_from([*world.rules, "CS-Cron-test-0123456789", "CS-test-Main"]).map(
                        lambda rule: f"arn:aws:events:{world.region}:{world.account}:rule/{rule}"
                    ),
                    texts,
                ),
                min_size=1,
                max_size=3,
            )
        ),
        "detail": draw(st.one_of(st.just({}), st.dictionaries(texts, json_values, max_size=3))),
    }
    return draw(broken(event))


@st.composite
def direct_events(draw: st.DrawFn, world: World) -> Any:
    """A direct invocation ``{"OpType", "Method", "Params", "Body"}``, maybe broken."""
    event: dict[str, Any] = {"OpType": draw(op_names())}
    if draw(st.booleans()):
        event["Method"] = draw(st.sampled_from(["GET", "POST", "post", "PATCH"]))
    if draw(st.booleans()):
        event["Params"] = draw(query_params(world))
    body = draw(bodies())
    if isinstance(body, str):
        event["Body"] = body
    return draw(broken(event))


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return sorted(node, key=repr)
    if isinstance(node, list):
        return list(range(len(node)))
    return []


@st.composite
def broken(draw: st.DrawFn, event: Any, level: int | None = None) -> Any:
    """``event`` as it is, or with up to ``level`` fields removed, replaced or added.

    The field is drawn anywhere in the event (inside nested objects and lists); now
    and then the whole event is replaced by another JSON value.
    """
    if level is None:
        level = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))
    if level == 0:
        return event
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)
    event = copy.deepcopy(event)
    for _ in range(level):
        parent: Any = None
        key: Any = None
        node = event
        while _children(node) and (parent is None or draw(st.booleans())):
            parent, key = node, draw(st.sampled_from(_children(node)))
            node = parent[key]
        if parent is None:
            continue
        action = draw(st.sampled_from(["remove", "replace", "replace", "add"]))
        if action == "remove":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(json_values)
        elif isinstance(parent, dict):
            parent[draw(texts)] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return event
