"""The SAM template in deploy/: valid for cfn-lint, and wired as the library expects."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file  # type: ignore[import-untyped]
from cfnlint.decode import decode  # type: ignore[import-untyped]

from clonesquad_interact.settings import DISCOVERABLE, OPERATIONAL
from clonesquad_interact.testing.deployment import TABLE_HASH_KEYS

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "template.yaml"


@pytest.fixture(scope="module")
def template():
    loaded, problems = decode(str(TEMPLATE))
    assert not problems, problems
    # Plain data: intrinsic functions become {"Ref": ...}, {"Fn::If": [...]} mappings.
    return json.loads(json.dumps(loaded))


@pytest.fixture(scope="module")
def resources(template):
    return template["Resources"]


def test_cfn_lint_finds_nothing():
    matches = lint_file(TEMPLATE)
    assert [str(m) for m in matches] == []


def test_the_handlers_exist(resources):
    handlers = {
        name: resource["Properties"]["Handler"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert handlers == {
        "InteractFunction": "clonesquad_interact.lambda_handler.handler",
        "ProducerFunction": "clonesquad_interact.producer.handler",
    }
    for path in handlers.values():
        module, _, name = path.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), path


def test_the_api_is_stage_v1_with_aws_iam_on_root_and_proxy(resources):
    api = resources["InteractApi"]["Properties"]
    assert api["StageName"] == "v1"
    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    events = resources["InteractFunction"]["Properties"]["Events"]
    routes = {
        (e["Properties"]["Path"], e["Properties"]["Method"])
        for e in events.values()
        if e["Type"] == "Api"
    }
    assert routes == {("/", "ANY"), ("/{proxy+}", "ANY")}


def test_the_queue_feeds_the_function_reporting_batch_item_failures(resources):
    (queue_event,) = [
        e
        for e in resources["InteractFunction"]["Properties"]["Events"].values()
        if e["Type"] == "SQS"
    ]
    # the queue the stack creates, or the existing one named by InteractQueueArn
    assert queue_event["Properties"]["Queue"] == {
        "Fn::If": [
            "CreateInteractQueue",
            {"Fn::GetAtt": ["InteractQueue", "Arn"]},
            {"Ref": "InteractQueueArn"},
        ]
    }
    assert queue_event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["InteractQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["InteractDeadLetterQueue", "Arn"]
    }
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 1
    # Lambda wants the visibility timeout well above the function's timeout.
    assert queue["VisibilityTimeout"] >= 6 * resources["InteractFunction"]["Properties"]["Timeout"]


def test_the_queue_admits_the_senders_by_principal_arn_with_wildcards(resources):
    statements = resources["InteractQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    condition, allowed, _ = statements[0]["Fn::If"]
    assert condition == "HasSenders"
    assert allowed["Action"] == "sqs:SendMessage"
    assert allowed["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": {"Ref": "UserNotificationArns"}}
    }


def test_the_producer_runs_on_a_schedule(resources):
    events = resources["ProducerFunction"]["Properties"]["Events"]
    assert [e["Type"] for e in events.values()] == ["Schedule"]


def test_tables_have_the_deployment_key_schemas_and_ttl(template, resources):
    by_setting = {
        "ConfigurationTable": "ConfigurationTable",
        "SchedulerTable": "SchedulerTable",
        "StateTable": "StateTable",
        "EventTable": "EventTable",
        "LongTermEventTable": "LongTermEventTable",
    }
    assert set(by_setting) == set(TABLE_HASH_KEYS)
    for setting, resource_name in by_setting.items():
        table = resources[resource_name]
        properties = table["Properties"]
        assert properties["KeySchema"] == [
            {"AttributeName": TABLE_HASH_KEYS[setting], "KeyType": "HASH"}
        ]
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": "ExpirationTime",
            "Enabled": True,
        }
        # An existing table can be named instead: the resource is then not created.
        condition = table["Condition"]
        assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": f"{setting}Name"}, ""]}


def test_the_functions_get_the_settings_the_library_reads(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(variables) - {"LOG_LEVEL"} <= {*DISCOVERABLE, *OPERATIONAL}
    for setting in (*TABLE_HASH_KEYS, "GroupName", "InteractQueue", "LoggingS3Path"):
        assert setting in variables, setting


#: What IAM cannot scope to a resource (``Resource: "*"``).
UNSCOPABLE = ("ec2:Describe", "cloudwatch:", "tag:GetResources", "ssm:DescribeMaintenanceWindows")


def test_roles_are_explicit_and_scoped(resources):
    for function in ("InteractFunction", "ProducerFunction"):
        assert "Role" in resources[function]["Properties"], function
        assert "Policies" not in resources[function]["Properties"], function
    for role in ("InteractRole", "ProducerRole"):
        for policy in resources[role]["Properties"]["Policies"]:
            for statement in _either_way(policy["PolicyDocument"]["Statement"]):
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                assert not any(a.endswith(":*") or a == "*" for a in actions), statement
                if statement["Resource"] == "*":  # only what IAM cannot scope to a resource
                    assert all(a.startswith(UNSCOPABLE) for a in actions), statement


def _either_way(statements: list[Any]) -> list[dict[str, Any]]:
    """The statements, a conditional one in each of its forms (AWS::NoValue dropped)."""
    found: list[dict[str, Any]] = []
    for statement in statements:
        if set(statement) == {"Fn::If"}:
            _, *branches = statement["Fn::If"]
            found.extend(b for b in branches if b != {"Ref": "AWS::NoValue"})
        else:
            found.append(statement)
    return found


def _chosen(statements: list[Any], conditions: dict[str, bool]) -> list[dict[str, Any]]:
    """The statements as these conditions make them (AWS::NoValue dropped)."""
    found: list[dict[str, Any]] = []
    for statement in statements:
        if set(statement) == {"Fn::If"}:
            condition, if_true, if_false = statement["Fn::If"]
            statement = if_true if conditions[condition] else if_false
        if statement != {"Ref": "AWS::NoValue"}:
            found.append(statement)
    return found


def evaluate(node: Any, parameters: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """``node`` with the intrinsic functions the S3 statements use worked out."""
    if isinstance(node, list):
        values = [evaluate(item, parameters, conditions) for item in node]
        return [value for value in values if value is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return NO_VALUE if node["Ref"] == "AWS::NoValue" else parameters[node["Ref"]]
    if set(node) == {"Fn::If"}:
        condition, if_true, if_false = node["Fn::If"]
        return evaluate(if_true if conditions[condition] else if_false, parameters, conditions)
    if set(node) == {"Fn::Select"}:
        index, values = node["Fn::Select"]
        return evaluate(values, parameters, conditions)[index]
    if set(node) == {"Fn::Split"}:
        delimiter, text = node["Fn::Split"]
        return evaluate(text, parameters, conditions).split(delimiter)
    if set(node) == {"Fn::Sub"}:
        sub = node["Fn::Sub"]
        text, names = (sub, {}) if isinstance(sub, str) else sub
        known = {**parameters, **evaluate(names, parameters, conditions)}
        return re.sub(r"\$\{([^}]+)\}", lambda m: known[m.group(1)], text)
    return {key: evaluate(value, parameters, conditions) for key, value in node.items()}


NO_VALUE = object()


def s3_resources(
    resources: dict[str, Any], role: str, parameters: dict[str, str]
) -> dict[str, list[str]]:
    """``{action: [object ARN, ...]}`` of ``role``'s S3 statements for these parameters."""
    backup = parameters.get("MetadataAndBackupS3Path", "")
    conditions = {
        "CreateLoggingBucket": parameters["LoggingS3Path"] == "",
        "HasConfigurationS3Path": parameters["ConfigurationS3Path"] != "",
        "HasBackupPath": backup != "",
        "BackupToCreatedBucket": parameters["LoggingS3Path"] == "" and not backup,
        "HasBackups": bool(backup) or parameters["LoggingS3Path"] == "",
        "HasMainQueue": False,
    }
    known = {
        "MetadataAndBackupS3Path": "",
        **parameters,
        "AWS::Partition": "aws",
        "LoggingBucket": "created-bucket",
        "LoggingBucket.Arn": "arn:aws:s3:::created-bucket",
    }
    found: dict[str, list[str]] = {}
    for policy in resources[role]["Properties"]["Policies"]:
        for statement in _chosen(policy["PolicyDocument"]["Statement"], conditions):
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                if action.startswith("s3:"):
                    arns = evaluate(statement["Resource"], known, conditions)
                    found.setdefault(action, []).extend([arns] if isinstance(arns, str) else arns)
    return found


@pytest.mark.parametrize("role", ["InteractRole", "ProducerRole"])
def test_s3_access_is_limited_to_the_logging_and_configuration_prefixes(resources, role):
    named = {
        "LoggingS3Path": "s3://logs-bucket/clonesquad/",
        "ConfigurationS3Path": "s3://config-bucket/documents/",
    }
    found = s3_resources(resources, role, named)
    assert found["s3:GetObject"] == [
        "arn:aws:s3:::logs-bucket/clonesquad/*",
        "arn:aws:s3:::config-bucket/documents/*",
    ]
    # Reports only (the producer writes none: see below).
    assert found.get("s3:PutObject", []) in ([], ["arn:aws:s3:::logs-bucket/clonesquad/*"])
    created = s3_resources(resources, role, {"LoggingS3Path": "", "ConfigurationS3Path": ""})
    assert created["s3:GetObject"] == ["arn:aws:s3:::created-bucket/reports/*"]
    for arns in (*found.values(), *created.values()):
        for arn in arns:
            _, _, prefix = arn.removeprefix("arn:aws:s3:::").partition("/")
            assert prefix not in ("", "*"), f"{role}: {arn} is bucket-wide"


def test_only_the_interact_function_writes_reports(resources):
    parameters = {"LoggingS3Path": "s3://logs-bucket/p/", "ConfigurationS3Path": ""}
    assert s3_resources(resources, "InteractRole", parameters)["s3:PutObject"] == [
        "arn:aws:s3:::logs-bucket/p/*"
    ]
    assert "s3:PutObject" not in s3_resources(resources, "ProducerRole", parameters)


def test_failed_messages_are_received_five_times_before_the_dead_letter_queue(resources):
    assert resources["InteractQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5


def test_user_notification_arns_say_they_take_no_spaces(template):
    description = template["Parameters"]["UserNotificationArns"]["Description"]
    assert "no spaces" in description


def test_backups_are_written_under_their_own_prefix_only(resources):
    named = {
        "LoggingS3Path": "s3://logs-bucket/p/",
        "ConfigurationS3Path": "",
        "MetadataAndBackupS3Path": "s3://backup-bucket/cs/",
    }
    assert s3_resources(resources, "InteractRole", named)["s3:PutObject"] == [
        "arn:aws:s3:::backup-bucket/cs/*",
        "arn:aws:s3:::logs-bucket/p/*",
    ]
    created = {"LoggingS3Path": "", "ConfigurationS3Path": ""}
    assert s3_resources(resources, "InteractRole", created)["s3:PutObject"] == [
        "arn:aws:s3:::created-bucket/metadata-and-backups/*",
        "arn:aws:s3:::created-bucket/reports/*",
    ]
    assert "s3:PutObject" not in s3_resources(resources, "ProducerRole", named)


def test_the_interact_function_writes_only_its_two_state_items(resources):
    [write] = [
        statement
        for policy in resources["InteractRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "WriteControlItems"
    ]
    assert sorted(write["Action"]) == ["dynamodb:DeleteItem", "dynamodb:PutItem"]
    keys = write["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
    assert sorted(keys) == ["ec2.control.state", "main.last_call_date"]


def test_the_interact_functions_opt_in_checks_are_parameters(template, resources):
    variables = resources["InteractFunction"]["Properties"]["Environment"]["Variables"]
    assert variables == {
        "CLONESQUAD_INTERACT_ACCESS_POLICY": {"Ref": "AccessPolicy"},
        "CLONESQUAD_INTERACT_SQS_SENDERS": {"Ref": "SqsSenders"},
        "CLONESQUAD_INTERACT_LENIENT_NAMES": {"Ref": "LenientNames"},
    }
    parameters = template["Parameters"]
    assert parameters["AccessPolicy"]["Default"] == parameters["SqsSenders"]["Default"] == ""
    assert parameters["LenientNames"]["Default"] == "false", "strict names by default"
