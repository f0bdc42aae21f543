"""The access policy plugin: IAM-style statements checked against every request."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher, hookimpl
from clonesquad_interact.manager import OPT_IN_PLUGINS
from clonesquad_interact.schedules import rule_name, time_zone
from clonesquad_interact.testing import (
    OPERATOR_IDENTITY,
    InteractClient,
    apigw_rest_event,
    instance_identity,
)
from faults import SERVICE_UNAVAILABLE, injected

from helpers import OperationsPlugin, make_operation

# The built-in plugins are read as a third party's: through the installed package.
policy_plugin = importlib.import_module("clonesquad_interact.plugins.policy")
POLICY_SETTING: str = policy_plugin.POLICY_SETTING
RELOAD_SECONDS: float = policy_plugin.RELOAD_SECONDS
AccessPolicy = policy_plugin.AccessPolicy
Caller = policy_plugin.Caller
PolicyDocument = policy_plugin.PolicyDocument
PolicyError = policy_plugin.PolicyError

EVENTS = Path(__file__).parent / "events"
BUCKET = "clonesquad-test-logging"
KEY = "access/policy.json"
SOURCE = f"s3://{BUCKET}/{KEY}"
OPERATOR = OPERATOR_IDENTITY["userArn"]
INSTANCE_ROLE = "arn:aws:iam::111111111111:role/CloneSquad-test-InstanceRole"
INSTANCE = "i-0f3c5e2a9b8d71c46"
ANY_API = "arn:aws:execute-api:*:*:*"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


def allow(resource: str | list[str], principal: Any = "*", **fields: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Action": "execute-api:Invoke",
        "Resource": resource,
        "Principal": principal,
        **fields,
    }


def deny(resource: str | list[str], principal: Any = "*", **fields: Any) -> dict[str, Any]:
    return {**allow(resource, principal, **fields), "Effect": "Deny"}


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def s3(deployment: dict[str, str], aws_clients: AWS) -> Any:
    return aws_clients.client("s3")


def with_policy(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, s3: Any, *statements: dict[str, Any]
) -> Dispatcher:
    """The real dispatcher, the setting naming a policy of ``statements`` in S3."""
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=document(*statements).encode())
    monkeypatch.setenv(POLICY_SETTING, SOURCE)
    return Dispatcher(entry_points=False, aws=aws_clients)


def test_off_by_default_nothing_is_loaded_and_nothing_checked(
    deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(POLICY_SETTING, raising=False)
    dispatcher = Dispatcher(entry_points=False, aws=aws_clients)
    names = [info.name for info in dispatcher.plugins.describe()]
    assert not set(OPT_IN_PLUGINS) & set(names)
    assert dispatcher.plugins.manager.hook.authorize_request.get_hookimpls() == []
    monkeypatch.setenv(POLICY_SETTING, SOURCE)
    on = Dispatcher(entry_points=False, aws=aws_clients)
    assert "clonesquad_interact.plugins.policy" in [info.name for info in on.plugins.describe()]


def test_api_gateway_requests_are_checked_on_the_routed_name(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, s3: Any, deployment: dict[str, str]
) -> None:
    dispatcher = with_policy(
        monkeypatch,
        aws_clients,
        s3,
        allow(f"{ANY_API}/v1/GET/configuration/*", {"AWS": INSTANCE_ROLE}),
        allow(f"{ANY_API}/v1/*", {"AWS": OPERATOR}),
        deny(f"{ANY_API}/v1/POST/configuration/app.*", {"AWS": "arn:aws:iam::111111111111:root"}),
    )
    table = RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])
    # The instance reads a key (the sample event, as API Gateway sends it).
    event = sample("apigw_rest_get_configuration_key")
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    answer = dispatcher.handle(event, None)
    assert (answer["statusCode"], answer["body"]) == (200, "2")
    client = InteractClient(dispatcher)
    instance = instance_identity(INSTANCE, role_name="CloneSquad-test-InstanceRole")
    # ...but may not write one: no statement allows it, and nothing is written.
    refused = client.post("/configuration/ec2.schedule.min_instance_count", "5", identity=instance)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert "no statement" in error["message"]
    assert (
        "arn:aws:execute-api:eu-west-3:111111111111:pq264fab39/v1/POST/"
        "configuration/ec2.schedule.min_instance_count" in error["message"]
    )
    assert (
        f"arn:aws:sts::111111111111:assumed-role/CloneSquad-test-InstanceRole/{INSTANCE}"
        in (error["message"])
    )
    # The operator may write, except where the account-wide Deny says no: Deny wins.
    assert client.post("/configuration/ec2.schedule.min_instance_count", "3").status_code == 200
    denied = client.post("/configuration/app.disable", "1")
    assert denied.status_code == 403
    assert "denies" in denied.json()["error"]["message"]
    assert denied.json()["error"]["details"][0]["statement"] == "#2"
    assert table.content() == {"ec2.schedule.min_instance_count": "3"}


def test_http_api_requests_are_checked_with_the_iam_authorizer_identity(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, s3: Any
) -> None:
    dispatcher = with_policy(
        monkeypatch,
        aws_clients,
        s3,
        allow("arn:aws:execute-api:eu-west-3:111111111111:r2d2c3p0x1/v1/GET/*", "*"),
        deny(
            "arn:aws:execute-api:eu-west-3:111111111111:r2d2c3p0x1/v1/GET/fleet/*",
            {"AWS": "AROA4XZPU6QWEXAMPLE02:*"},
        ),
    )
    answer = dispatcher.handle(sample("apigw_http_v2"), None)
    assert answer["statusCode"] == 403
    assert "fleet/status" in json.loads(answer["body"])["error"]["message"]


def test_sqs_messages_are_checked_and_a_refused_one_never_runs(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, s3: Any, deployment: dict[str, str]
) -> None:
    events = RawTable(aws_clients.client("dynamodb"), deployment["EventTable"], "EventDate")
    for date in ("2026-11-25 08:10:00.123456+00:00", "2026-11-25 08:12:30.000014+00:00"):
        events.put_item(Item={"EventDate": date, "EventType": "scale_out", "Metadata": "{}"})
    dispatcher = with_policy(
        monkeypatch,
        aws_clients,
        s3,
        # Over SQS the principal is the sender id; the region and account, the queue's.
        allow(
            "arn:aws:execute-api:eu-west-3:111111111111:*/POST/notify/ackevent",
            {"AWS": "AROA4XZPU6QWEXAMPLE02:i-0f3c5e2a9b8d71c46"},
        ),
    )
    batch = sample("sqs_batch")
    with capture_logs() as logs:
        assert dispatcher.handle(batch, None) == {"batchItemFailures": []}
    outcomes = {e["message_id"]: e for e in logs if e["event"] == "sqs.record"}
    first, second, report = (r["messageId"] for r in batch["Records"])
    assert outcomes[first]["outcome"] == "done"
    assert (outcomes[second]["outcome"], outcomes[second]["status"]) == ("refused", 403)
    assert outcomes[report]["outcome"] == "refused"
    assert outcomes[report]["record"]["messageId"] == report
    assert [e["EventDate"] for e in events.items()] == ["2026-11-25 08:12:30.000014+00:00"]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/")
    assert listed.get("KeyCount", 0) == 0, "the refused report was never made"


def test_direct_invocations_have_no_principal(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, s3: Any
) -> None:
    monkeypatch.setenv(
        "InteractAPIGWUrl", "https://abc123defg.execute-api.eu-west-3.amazonaws.com/v1/"
    )
    dispatcher = with_policy(
        monkeypatch,
        aws_clients,
        s3,
        allow(f"{ANY_API}/*/GET/configuration/*", {"AWS": OPERATOR}),
        allow("arn:aws:execute-api:eu-west-3:-:abc123defg/v1/GET/scheduler", "*"),
    )
    refused = dispatcher.handle({"OpType": "configuration/app.disable"}, None)
    assert refused["statusCode"] == 403
    message = refused["body"]["error"]["message"]
    assert "an unidentified caller" in message
    assert "arn:aws:execute-api:eu-west-3:-:abc123defg/v1/GET/configuration/app.disable" in message
    assert dispatcher.handle({"OpType": "scheduler"}, None)["statusCode"] == 200


def test_literal_punctuation_in_arns(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, s3: Any, deployment: dict[str, str]
) -> None:
    dispatcher = with_policy(
        monkeypatch,
        aws_clients,
        s3,
        allow(f"{ANY_API}/*", {"AWS": "arn:aws:iam::111111111111:user/ops.team+admin"}),
        deny(f"{ANY_API}/v1/POST/scheduler/a.b+c[1](x)"),
    )
    client = InteractClient(dispatcher)
    ops = {**OPERATOR_IDENTITY, "userArn": "arn:aws:iam::111111111111:user/ops.team+admin"}
    lookalike = {**OPERATOR_IDENTITY, "userArn": "arn:aws:iam::111111111111:user/opsXteam+admin"}
    plus = {**OPERATOR_IDENTITY, "userArn": "arn:aws:iam::111111111111:user/ops.teamadmin"}
    assert client.get("/scheduler", identity=ops).status_code == 200
    assert client.get("/scheduler", identity=lookalike).status_code == 403
    assert client.get("/scheduler", identity=plus).status_code == 403
    assert (
        client.post(
            "/scheduler/a.b+c[1](x)", "rate(5 minutes),interact:backup", identity=ops
        ).status_code
        == 403
    )
    for near in ("aXb+c[1](x)", "a.bbc[1](x)", "a.b+c1x", "a.b+c[1](x)y"):
        answer = client.post(f"/scheduler/{near}", "rate(5 minutes),interact:backup", identity=ops)
        assert answer.status_code == 200, near
    table = RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])
    assert "a.b+c[1](x)" not in table.content()


def test_a_cached_answer_is_not_served_to_a_refused_caller(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, s3: Any, deployment: dict[str, str]
) -> None:
    state = RawTable(aws_clients.client("dynamodb"), deployment["StateTable"])
    state.put_item(Item={"Key": "cache.last_write_index", "Value": "1"})
    served: list[str] = []

    def handler(request: Any) -> str:
        served.append(request.op)
        return "fleet data"

    plugin = OperationsPlugin(make_operation("shared/data", handler=handler, cache="shared"))
    s3.put_object(
        Bucket=BUCKET,
        Key=KEY,
        Body=document(
            allow(f"{ANY_API}/*", {"AWS": OPERATOR}), deny(f"{ANY_API}/*", {"AWS": "*:i-*"})
        ).encode(),
    )
    monkeypatch.setenv(POLICY_SETTING, SOURCE)
    client = InteractClient(Dispatcher([plugin], entry_points=False, aws=aws_clients))
    assert client.get("/shared/data").headers["X-Clonesquad-Cache"] == "miss"
    assert client.get("/shared/data").headers["X-Clonesquad-Cache"] == "hit"
    refused = client.get("/shared/data", identity=instance_identity(INSTANCE))
    assert refused.status_code == 403
    assert "fleet data" not in refused.text
    assert served == ["shared/data"]


@pytest.mark.parametrize(
    ("stored", "said"),
    [
        (None, "NoSuchKey"),
        (b"{not json", "not JSON"),
        (document(allow("*", Condition={"Bool": {"aws:SecureTransport": "true"}})), "Condition"),
        (document({**allow("*"), "NotAction": "s3:*"}), "NotAction"),
        (document({"Effect": "Allow", "Action": "*", "Resource": "*"}), "Principal"),
        (document({**allow("*"), "Effect": "allow"}), "Effect"),
        (b"\xff\xfe", "utf-8"),
    ],
)
def test_an_unusable_policy_refuses_everything_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: AWS,
    s3: Any,
    stored: str | bytes | None,
    said: str,
) -> None:
    if stored is not None:
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=stored)
    monkeypatch.setenv(POLICY_SETTING, SOURCE)
    client = InteractClient(Dispatcher(entry_points=False, aws=aws_clients))
    answer = client.get("/scheduler")
    assert answer.status_code == 500
    message = answer.json()["error"]["message"]
    assert POLICY_SETTING in message
    assert said in message
    assert "Traceback" not in answer.text
    # Over SQS the message comes back: an operator fixes the policy, then it runs.
    assert client.sqs({"OpType": "notify/ackevent", "Events": ["x"]})["batchItemFailures"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_document_is_read_again_once_a_minute_and_kept_while_s3_fails(
    aws_clients: AWS, s3: Any
) -> None:
    clock = Clock()
    policy = AccessPolicy(SOURCE, clock=clock)
    dispatcher = Dispatcher([policy], entry_points=False, aws=aws_clients)
    client = InteractClient(dispatcher)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=document(allow(f"{ANY_API}/*")).encode())
    assert client.get("/scheduler").status_code == 200
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=document(deny(f"{ANY_API}/*")).encode())
    clock.now += RELOAD_SECONDS - 1
    assert client.get("/scheduler").status_code == 200, "read at most once a minute"
    clock.now += 1
    with injected(aws_clients.client("s3"), {"GetObject"}, SERVICE_UNAVAILABLE) as calls:
        assert client.get("/scheduler").status_code == 200, "the last document is kept"
    assert calls
    clock.now += 10
    assert client.get("/scheduler").status_code == 403


def test_s3_unavailable_before_any_document_is_a_503(aws_clients: AWS, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=document(allow("*")).encode())
    client = InteractClient(Dispatcher([AccessPolicy(SOURCE)], entry_points=False, aws=aws_clients))
    with injected(aws_clients.client("s3"), {"GetObject"}, SERVICE_UNAVAILABLE):
        answer = client.get("/scheduler")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    assert "secret AWS message" not in answer.text


def test_a_file_policy(tmp_path: Path, aws_clients: AWS, deployment: dict[str, str]) -> None:
    path = tmp_path / "policy.json"
    path.write_text(document(allow(f"{ANY_API}/*/GET/scheduler", {"AWS": OPERATOR})))
    environ = {**deployment, POLICY_SETTING: path.as_uri()}
    client = InteractClient(Dispatcher(entry_points=False, aws=aws_clients, environ=environ))
    assert client.get("/scheduler").status_code == 200
    assert client.get("/scheduler", identity=instance_identity(INSTANCE)).status_code == 403


def test_other_plugins_still_decide(aws_clients: AWS, s3: Any) -> None:
    class Veto:
        __name__ = "veto"

        @hookimpl
        def authorize_request(self) -> bool:
            return False

    s3.put_object(Bucket=BUCKET, Key=KEY, Body=document(allow("*")).encode())
    client = InteractClient(
        Dispatcher([AccessPolicy(SOURCE), Veto()], entry_points=False, aws=aws_clients)
    )
    assert client.get("/scheduler").status_code == 403


# -------------------------------------------------------------------------
# The evaluator alone
# -------------------------------------------------------------------------

ROLE_SESSION = Caller(
    (
        "arn:aws:sts::111111111111:assumed-role/Ops/alice",
        "arn:aws:iam::111111111111:role/Ops",
        "111111111111",
        "arn:aws:iam::111111111111:root",
        "AROAEXAMPLE:alice",
    )
)
RESOURCE = "arn:aws:execute-api:eu-west-3:111111111111:abc/v1/GET/fleet/status"


def decide(*statements: dict[str, Any], caller: Any = ROLE_SESSION) -> bool:
    parsed = PolicyDocument.parse(document(*statements))
    return bool(parsed.decide("execute-api:Invoke", RESOURCE, caller)[0])


def test_evaluation_rules() -> None:
    assert not decide(allow("*/POST/*")), "no statement applies: denied"
    assert decide(allow("*/GET/*"))
    assert not decide(allow("*"), deny("*/fleet/*")), "an explicit Deny wins"
    assert not decide(deny("*/fleet/*"), allow("*")), "whatever the order"
    assert decide(allow("*", {"AWS": "arn:aws:iam::111111111111:role/Ops"})), "a role's session"
    assert decide(allow("*", {"AWS": "111111111111"})), "the account"
    assert not decide(allow("*", {"AWS": "222222222222"}))
    assert decide(allow("*", {"AWS": ["arn:aws:iam::*:role/Op?"]}))
    assert not decide(allow("*", {"AWS": "arn:aws:iam::111111111111:role/Op"}))
    assert decide(allow("*", {"AWS": "*"}), caller=Caller())
    assert not decide(allow("*", {"AWS": "arn:*"}), caller=Caller())
    assert decide(
        allow("*", {"Service": "events.amazonaws.com"}),
        caller=Caller(service="events.amazonaws.com"),
    )
    assert decide({**allow("*"), "Action": ["s3:*", "Execute-API:*"]}), "actions ignore case"
    assert not decide({**allow("*"), "Action": "execute-api:ManageConnections"})
    assert not decide(allow("arn:aws:execute-api:eu-west-3:111111111111:abc/v1/GET/fleet/statu"))
    assert decide(allow("arn:aws:execute-api:eu-west-3:111111111111:abc/v1/GET/fleet/statu?"))
    assert decide(allow("arn:aws:execute-api:eu-west-?:*:abc/*/status"))


@pytest.mark.parametrize(
    ("policy", "said"),
    [
        ([], "JSON object"),
        ({"Statement": []}, "non-empty"),
        ({"Version": "2020-01-01", "Statement": [allow("*")]}, "Version"),
        ({"Statement": [allow("*")], "Extra": 1}, "Extra"),
        ({"Statement": [{**allow("*"), "Resource": []}]}, "Resource"),
        ({"Statement": [{**allow("*"), "Action": 3}]}, "Action"),
        ({"Statement": [{**allow("*"), "Principal": {"Federated": "x"}}]}, "Federated"),
        ({"Statement": [{**allow("*"), "NotResource": "x", "Sid": "S1"}]}, "'S1'"),
        ({"Statement": [{**allow("*"), "Unknown": 1}]}, "Unknown"),
    ],
)
def test_documents_refused_with_the_reason(policy: Any, said: str) -> None:
    with pytest.raises(PolicyError, match=said):
        PolicyDocument.parse(json.dumps(policy))


def test_a_single_statement_object_is_a_document() -> None:
    parsed = PolicyDocument.parse(json.dumps({"Statement": allow("*")}))
    assert len(parsed.statements) == 1


def test_hostile_patterns_cost_no_backtracking() -> None:
    resource = "arn:aws:execute-api:r:1:a/v1/GET/" + "a" * 20_000
    parsed = PolicyDocument.parse(document(allow("*a" * 40 + "*b")))
    assert parsed.decide("execute-api:Invoke", resource, ROLE_SESSION) == (False, None)


def test_api_gateway_event_fields_make_the_resource(aws_clients: AWS, s3: Any) -> None:
    s3.put_object(
        Bucket=BUCKET,
        Key=KEY,
        Body=document(
            allow("arn:aws:execute-api:eu-west-3:111111111111:pq264fab39/v2/GET/")
        ).encode(),
    )
    client = InteractClient(Dispatcher([AccessPolicy(SOURCE)], entry_points=False, aws=aws_clients))
    answer = client.dispatcher.handle(apigw_rest_event("GET", "/", stage="v2"), None)
    assert answer["statusCode"] == 200, "GET / is the resource .../GET/ (an empty path)"
    assert client.dispatcher.handle(apigw_rest_event("GET", "/"), None)["statusCode"] == 403


# -------------------------------------------------------------------------
# Scheduled events: their calls and their configuration writes
# -------------------------------------------------------------------------


def scheduled_event(name: str, value: str) -> dict[str, Any]:
    """EventBridge's event of the rule of Scheduler entry ``name``, as the samples are."""
    event = json.loads((EVENTS / "scheduled_event_scale_up.json").read_text())
    # The deployment sets no TimeZone: its rules are named in its region's (eu-west-3).
    rule = rule_name("test", name, value, time_zone(None, "eu-west-3"), datetime.now(UTC))
    event["resources"] = [f"arn:aws:events:eu-west-3:123456789012:rule/{rule}"]
    assert isinstance(event, dict)
    return event


def test_scheduled_configuration_writes_and_calls_are_checked(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, s3: Any, deployment: dict[str, str]
) -> None:
    scheduler = RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])
    configuration = RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])
    state = RawTable(aws_clients.client("dynamodb"), deployment["StateTable"])
    state.put_item(Item={"Key": "main.last_call_date", "Value": "2026-12-01 08:00:00+00:00"})
    entries = {
        "scale-up": "cron(0 8 * * ? *),ec2.schedule.min_instance_count=3,app.disable=1",
        "reschedule": "rate(5 minutes),interact:control/reschedulenow?delay=60",
    }
    for name, value in entries.items():
        scheduler.put_item(Item={"Key": name, "Value": value})
    dispatcher = with_policy(
        monkeypatch,
        aws_clients,
        s3,
        allow(
            "arn:aws:execute-api:eu-west-3:123456789012:-/-/POST/configuration/*",
            {"Service": "events.amazonaws.com"},
        ),
        # Whoever may write Scheduler entries may not make the scheduler disable the app...
        deny(f"{ANY_API}/POST/configuration/app.disable", {"Service": "*"}),
        # ...nor may this deployment's rules run control operations.
        deny(f"{ANY_API}/GET/control/*", {"AWS": "arn:aws:events:*:*:rule/CS-Cron-test-*"}),
    )
    with capture_logs() as logs:
        done = dispatcher.handle(scheduled_event("scale-up", entries["scale-up"]))
    assert done["outcome"] == "failed"
    actions = {a["action"]: a for a in done["rules"][0]["actions"]}
    assert actions["ec2.schedule.min_instance_count=3"]["outcome"] == "done"
    refused = actions["app.disable=1"]
    assert (refused["outcome"], refused["status"]) == ("failed", 403)
    assert "statement '#1'" in refused["error"]
    assert configuration.content() == {"ec2.schedule.min_instance_count": "3"}
    assert any(line.get("outcome") == "failed" for line in logs)
    done = dispatcher.handle(scheduled_event("reschedule", entries["reschedule"]))
    (action,) = done["rules"][0]["actions"]
    assert (action["outcome"], action["status"]) == ("failed", 403)
    assert "arn:aws:events:eu-west-3:123456789012:rule/CS-Cron-test-" in action["error"]
    assert state.get("main.last_call_date") is not None, "the refused call did not run"


def test_scheduled_writes_are_not_checked_without_a_policy(
    deployed: Dispatcher, deployment: dict[str, str], aws_clients: AWS
) -> None:
    scheduler = RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])
    value = "cron(0 8 * * ? *),app.disable=1"
    scheduler.put_item(Item={"Key": "off", "Value": value})
    assert deployed.handle(scheduled_event("off", value))["outcome"] == "done"


def test_a_refusal_quotes_a_long_name_or_caller_short(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, s3: Any
) -> None:
    dispatcher = with_policy(
        monkeypatch,
        aws_clients,
        s3,
        allow(f"{ANY_API}/v1/*", {"AWS": OPERATOR}),
        deny(f"{ANY_API}/v1/*/scheduler*"),
    )
    client = InteractClient(dispatcher)
    denied = client.get("scheduler/" + "k" * 200_000)
    assert denied.status_code == 403
    assert "denies" in denied.json()["error"]["message"]
    assert len(denied.text) < 2_000
    caller = {**OPERATOR_IDENTITY, "userArn": OPERATOR + "x" * 5_000}
    refused = client.get("configuration", identity=caller)
    assert refused.status_code == 403
    assert "no statement" in refused.json()["error"]["message"]
    assert len(refused.text) < 2_000
