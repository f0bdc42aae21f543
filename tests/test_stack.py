"""deploy/template.yaml deployed: the SAM translator's CloudFormation, created in moto.

The template is transformed as ``sam deploy`` transforms it, then created as a
stack in moto's CloudFormation, and the resources it made are checked (tables
and their TTL, queues and redrive, bucket, roles' policies, the event source
mapping; a table's TTL, which moto's CloudFormation does not apply, is read in
the transformed template), then requests are served through the handler against them. moto cannot
deploy an API Gateway from its OpenAPI body (the deployment needs methods it does
not import), so the stage is checked in the transformed template instead.
"""

from __future__ import annotations

import ast
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient, sqs_record
from clonesquad_interact.testing.deployment import TABLE_HASH_KEYS

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "template.yaml"
GROUP = "demo"
REGION = "eu-west-3"
CODE = ("clonesquad-code", "package.zip")
pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse AWS.* not supported by moto:UserWarning"
)

#: What moto's CloudFormation cannot create (the API's deployment and stage).
NOT_IN_MOTO = ("AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage")


class _NoManagedPolicies:
    """The translator's managed-policy loader: the template names none by name."""

    def load(self) -> dict[str, str]:
        return {}


def transformed() -> dict[str, Any]:
    loaded, problems = decode(str(TEMPLATE))
    assert not problems, problems
    template: dict[str, Any] = json.loads(json.dumps(loaded))
    template["Globals"]["Function"]["CodeUri"] = f"s3://{CODE[0]}/{CODE[1]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)  # the translator writes ARNs in it
        patch.setenv("AWS_REGION", REGION)
        result: dict[str, Any] = transform(template, {"GroupName": GROUP}, _NoManagedPolicies())
    return result


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    return transformed()


@pytest.fixture
def stack(aws: None, aws_clients: AWS, cloudformation: dict[str, Any]) -> dict[str, str]:
    """The stack created in moto: its resources' physical ids by logical id."""
    s3 = aws_clients.client("s3")
    s3.create_bucket(
        Bucket=CODE[0], CreateBucketConfiguration={"LocationConstraint": aws_clients.region}
    )
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("clonesquad_interact/__init__.py", "")
    s3.put_object(Bucket=CODE[0], Key=CODE[1], Body=package.getvalue())
    body = dict(cloudformation)
    body["Resources"] = {
        name: resource
        for name, resource in cloudformation["Resources"].items()
        if resource["Type"] not in NOT_IN_MOTO
    }
    client = aws_clients.client("cloudformation")
    client.create_stack(
        StackName=f"CloneSquad-Interact-{GROUP}",
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": "GroupName", "ParameterValue": GROUP}],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    (created,) = client.describe_stacks(StackName=f"CloneSquad-Interact-{GROUP}")["Stacks"]
    assert created["StackStatus"] == "CREATE_COMPLETE", created.get("StackStatusReason")
    resources = client.describe_stack_resources(StackName=created["StackName"])
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in resources["StackResources"]
        if r.get("LogicalResourceId") and r.get("PhysicalResourceId")
    }
    physical.update({o["OutputKey"]: o["OutputValue"] for o in created.get("Outputs", [])})
    return physical


def test_the_transformed_api_is_stage_v1_with_sigv4_on_root_and_proxy(cloudformation):
    resources = cloudformation["Resources"]
    stages = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert [stage["Properties"]["StageName"] for stage in stages] == ["v1"]
    body = resources["InteractApi"]["Properties"]["Body"]
    assert set(body["paths"]) == {"/", "/{proxy+}"}
    for path in body["paths"].values():
        method = path["x-amazon-apigateway-any-method"]
        assert method["security"] == [{"AWS_IAM": []}]
        assert method["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    assert body["securityDefinitions"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_the_stack_creates_what_a_deployment_needs(stack, aws_clients, cloudformation):
    dynamodb = aws_clients.client("dynamodb")
    tables = {
        "ConfigurationTable": f"CloneSquad-{GROUP}-Configuration",
        "SchedulerTable": f"CloneSquad-{GROUP}-Scheduler",
        "StateTable": f"CloneSquad-{GROUP}-State",
        "EventTable": f"CloneSquad-{GROUP}-EventLog",
        "LongTermEventTable": f"CloneSquad-{GROUP}-EventLog-LongTerm",
    }
    for logical, name in tables.items():
        assert stack[logical] == name
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == [
            {"AttributeName": TABLE_HASH_KEYS[logical], "KeyType": "HASH"}
        ], name
        # moto's CloudFormation does not apply a table's TTL: read it where CloudFormation does
        properties = cloudformation["Resources"][logical]["Properties"]
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": "ExpirationTime",
            "Enabled": True,
        }, name

    sqs = aws_clients.client("sqs")
    queue = sqs.get_queue_attributes(QueueUrl=stack["InteractQueue"], AttributeNames=["All"])
    dead = sqs.get_queue_attributes(
        QueueUrl=stack["InteractDeadLetterQueue"], AttributeNames=["QueueArn"]
    )
    redrive = json.loads(queue["Attributes"]["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead["Attributes"]["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    assert int(queue["Attributes"]["VisibilityTimeout"]) >= 6 * 25

    bucket = stack["LoggingBucket"]
    assert bucket in {b["Name"] for b in aws_clients.client("s3").list_buckets()["Buckets"]}

    mappings = aws_clients.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    (mapping,) = mappings
    assert mapping["EventSourceArn"] == queue["Attributes"]["QueueArn"]
    assert mapping["FunctionArn"].endswith(f":function:CloneSquad-Interact-{GROUP}")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10


def _statements(aws_clients: AWS, role: str) -> list[dict[str, Any]]:
    iam = aws_clients.client("iam")
    statements: list[dict[str, Any]] = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            # moto keeps a document created by CloudFormation as Python's repr of it
            document = ast.literal_eval(document)
        statements.extend(document["Statement"])
    return statements


def _allows(statements: list[dict[str, Any]], action: str, resource_part: str) -> bool:
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        if (
            statement["Effect"] == "Allow"
            and action in actions
            and any(resource_part in str(resource) for resource in resources)
        ):
            return True
    return False


def test_the_roles_grant_what_each_function_uses(stack, aws_clients):
    interact = _statements(aws_clients, stack["InteractRole"])
    assert _allows(interact, "sqs:ReceiveMessage", f"CloneSquad-Interact-{GROUP}")
    assert _allows(interact, "sqs:DeleteMessage", f"CloneSquad-Interact-{GROUP}")
    assert _allows(interact, "dynamodb:PutItem", f"table/CloneSquad-{GROUP}-Configuration")
    assert _allows(interact, "dynamodb:DeleteItem", f"table/CloneSquad-{GROUP}-EventLog")
    assert _allows(interact, "s3:PutObject", f"{stack['LoggingBucket']}/reports/")
    producer = _statements(aws_clients, stack["ProducerRole"])
    assert _allows(producer, "dynamodb:PutItem", f"table/CloneSquad-{GROUP}-State")
    assert not _allows(producer, "sqs:ReceiveMessage", f"CloneSquad-Interact-{GROUP}")


def test_requests_are_served_against_the_stacks_resources(stack, aws_clients, monkeypatch):
    settings = {
        "GroupName": GROUP,
        "ConfigurationTable": stack["ConfigurationTable"],
        "SchedulerTable": stack["SchedulerTable"],
        "StateTable": stack["StateTable"],
        "EventTable": stack["EventTable"],
        "LongTermEventTable": stack["LongTermEventTable"],
        "InteractQueue": stack["InteractQueue"],
        "LoggingS3Path": f"s3://{stack['LoggingBucket']}/reports/",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    client = InteractClient(Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients))
    assert client.post("/configuration/app.disable", body="1").status_code == 200
    assert client.get("/configuration/app.disable").text == "1"
    dynamodb = aws_clients.client("dynamodb")
    dynamodb.put_item(
        TableName=settings["EventTable"],
        Item={"EventDate": {"S": "2026-12-01 19:13:42.471382+00:00"}},
    )
    message = {"OpType": "notify/ackevent", "Events": ["2026-12-01 19:13:42.471382+00:00"]}
    assert client.sqs(sqs_record(message)) == {"batchItemFailures": []}
    assert dynamodb.scan(TableName=settings["EventTable"])["Items"] == []
    assert client.sqs(sqs_record({"OpType": "debug/publishreportnow"}, message_id="m-1")) == {
        "batchItemFailures": []
    }
    listed = aws_clients.client("s3").list_objects_v2(
        Bucket=stack["LoggingBucket"], Prefix=f"reports/{GROUP}/"
    )
    assert [item["Key"] for item in listed.get("Contents", [])] == [
        f"reports/{GROUP}/debug-report-m-1.json.gz"
    ]
