"""deploy/template.yaml deployed: the SAM translator's CloudFormation, created in moto.

The template is transformed as ``sam deploy`` transforms it, then created as a
stack in moto's CloudFormation both ways an operator deploys it: a stack of its
own (tables, Interact queue and logging bucket created), and one that adopts an
existing CloneSquad deployment's tables, Interact queue and logging path (made
before the stack, with data in them). The resources each made are checked
(tables and their TTL, queues and redrive, bucket, roles' policies, the event
source mapping; a table's TTL, which moto's CloudFormation does not apply, is
read in the transformed template), then requests are served through the
dispatcher the handler runs, configured by the Interact function's environment as
Lambda holds it: API Gateway events, and messages sent to the queue the event
source mapping reads. moto cannot deploy an API Gateway from its OpenAPI body
(the deployment needs methods it does not import), so the stage is checked in
the transformed template instead.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.local.consumer import QueueConsumer
from clonesquad_interact.testing import InteractClient
from clonesquad_interact.testing.deployment import TABLE_HASH_KEYS, provision

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


#: The parameters of a stack that adopts an existing CloneSquad deployment of GROUP: its
#: tables, its Interact queue and its logging path, as that deployment names them.
EXISTING = {
    "ConfigurationTableName": f"CloneSquad-{GROUP}-Configuration",
    "SchedulerTableName": f"CloneSquad-{GROUP}-Scheduler",
    "StateTableName": f"CloneSquad-{GROUP}-State",
    "EventTableName": f"CloneSquad-{GROUP}-EventLog",
    "LongTermEventTableName": f"CloneSquad-{GROUP}-EventLog-LongTerm",
    "LoggingS3Path": "s3://clonesquad-existing-logging/clonesquad/",
    "MetadataAndBackupS3Path": "s3://clonesquad-existing-logging/backups/",
}
#: The setting of the function's environment that each adopting parameter gives.
SETTING_OF = {
    "ConfigurationTableName": "ConfigurationTable",
    "SchedulerTableName": "SchedulerTable",
    "StateTableName": "StateTable",
    "EventTableName": "EventTable",
    "LongTermEventTableName": "LongTermEventTable",
    "LoggingS3Path": "LoggingS3Path",
    "MetadataAndBackupS3Path": "MetadataAndBackupS3Path",
}


def transformed(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    loaded, problems = decode(str(TEMPLATE))
    assert not problems, problems
    template: dict[str, Any] = json.loads(json.dumps(loaded))
    template["Globals"]["Function"]["CodeUri"] = f"s3://{CODE[0]}/{CODE[1]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)  # the translator writes ARNs in it
        patch.setenv("AWS_REGION", REGION)
        result: dict[str, Any] = transform(
            template, {"GroupName": GROUP, **(parameters or {})}, _NoManagedPolicies()
        )
    return result


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    return transformed()


def _existing_deployment(aws_clients: AWS) -> dict[str, str]:
    """A CloneSquad deployment of GROUP made before the stack, with data in its tables;
    the stack's parameters that adopt it."""
    settings = {SETTING_OF[name]: value for name, value in EXISTING.items()}
    made = provision({"GroupName": GROUP, **settings}, aws=aws_clients)
    dynamodb = aws_clients.client("dynamodb")
    dynamodb.put_item(
        TableName=settings["ConfigurationTable"],
        Item={"Key": {"S": "ec2.schedule.min_instance_count"}, "Value": {"S": "3"}},
    )
    dynamodb.put_item(TableName=settings["EventTable"], Item={"EventDate": {"S": HELD_EVENT}})
    sqs = aws_clients.client("sqs")

    def arn(url: str) -> str:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    return {
        **EXISTING,
        "InteractQueueArn": arn(made["InteractQueue"]),
        "MainSQSQueueArn": arn(made["MainSQSQueue"]),
    }


#: An event the existing deployment's EventLog table holds.
HELD_EVENT = "2026-11-30 08:00:00.000001+00:00"


@dataclass(frozen=True)
class Stack:
    """A stack created in moto, and how it was made."""

    #: Its resources' physical ids by logical id, and its outputs.
    physical: dict[str, str]
    #: Its resources' types by logical id.
    types: dict[str, str]
    #: The parameters it was created with, beyond GroupName.
    parameters: dict[str, str]
    #: The Interact function's environment, as Lambda holds it.
    environment: dict[str, str]
    #: The transformed template it was made from.
    template: dict[str, Any]

    def __getitem__(self, logical: str) -> str:
        return self.physical[logical]


@pytest.fixture
def new_stack(aws: None, aws_clients: AWS, cloudformation: dict[str, Any]) -> Stack:
    """A stack of its own: tables, queue and bucket created."""
    return _created(aws_clients, cloudformation, {})


@pytest.fixture
def adopting_stack(aws: None, aws_clients: AWS) -> Stack:
    """A stack adopting an existing CloneSquad deployment's tables, queue and logging path."""
    parameters = _existing_deployment(aws_clients)
    return _created(aws_clients, transformed(parameters), parameters)


@pytest.fixture(params=["new", "adopting"])
def stack(request: pytest.FixtureRequest) -> Stack:
    """Each of the two ways to deploy."""
    fixture: Stack = request.getfixturevalue(f"{request.param}_stack")
    return fixture


def _created(aws_clients: AWS, template: dict[str, Any], parameters: dict[str, str]) -> Stack:
    """The stack created in moto from the transformed ``template``."""
    s3 = aws_clients.client("s3")
    s3.create_bucket(
        Bucket=CODE[0], CreateBucketConfiguration={"LocationConstraint": aws_clients.region}
    )
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("clonesquad_interact/__init__.py", "")
    s3.put_object(Bucket=CODE[0], Key=CODE[1], Body=package.getvalue())
    body = dict(template)
    body["Resources"] = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] not in NOT_IN_MOTO
    }
    client = aws_clients.client("cloudformation")
    client.create_stack(
        StackName=f"CloneSquad-Interact-{GROUP}",
        TemplateBody=json.dumps(body),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in {"GroupName": GROUP, **parameters}.items()
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    (created,) = client.describe_stacks(StackName=f"CloneSquad-Interact-{GROUP}")["Stacks"]
    assert created["StackStatus"] == "CREATE_COMPLETE", created.get("StackStatusReason")
    resources = client.describe_stack_resources(StackName=created["StackName"])["StackResources"]
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in resources
        if r.get("LogicalResourceId") and r.get("PhysicalResourceId")
    }
    physical.update({o["OutputKey"]: o["OutputValue"] for o in created.get("Outputs", [])})
    function = aws_clients.client("lambda").get_function_configuration(
        FunctionName=f"CloneSquad-Interact-{GROUP}"
    )
    return Stack(
        physical=physical,
        types={
            r["LogicalResourceId"]: r["ResourceType"] for r in resources if "LogicalResourceId" in r
        },
        parameters=parameters,
        environment=dict(function["Environment"]["Variables"]),
        template=template,
    )


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


def test_a_new_stack_creates_what_a_deployment_needs(new_stack, aws_clients, cloudformation):
    stack = new_stack
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
        assert stack.environment[logical] == name
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
    assert stack.environment["InteractQueue"] == stack["InteractQueue"]
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
    assert stack.environment["LoggingS3Path"] == f"s3://{bucket}/reports/"

    mappings = aws_clients.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    (mapping,) = mappings
    assert mapping["EventSourceArn"] == queue["Attributes"]["QueueArn"]
    assert mapping["FunctionArn"].endswith(f":function:CloneSquad-Interact-{GROUP}")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10


def test_an_adopting_stack_creates_none_of_what_it_adopts_and_uses_it(adopting_stack, aws_clients):
    stack = adopting_stack
    created = set(stack.types.values())
    for kind in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket"):
        assert kind not in created, kind
    # moto's CloudFormation makes no queue policy: an adopted queue keeps its own, since
    # the template's is made only with the queue
    conditions = stack.template["Conditions"]
    assert stack.template["Resources"]["InteractQueuePolicy"]["Condition"] == "CreateInteractQueue"
    assert conditions["CreateInteractQueue"] == {"Fn::Equals": [{"Ref": "InteractQueueArn"}, ""]}
    for parameter, value in EXISTING.items():
        assert stack.environment[SETTING_OF[parameter]] == value, parameter
    sqs = aws_clients.client("sqs")
    existing = sqs.get_queue_url(QueueName=f"CloneSquad-Interact-{GROUP}")["QueueUrl"]
    main = sqs.get_queue_url(QueueName=f"CloneSquad-Main-{GROUP}")["QueueUrl"]
    assert stack.environment["MainSQSQueue"] == main
    # the URL the template computes from the ARN is the queue's own
    assert stack.environment["InteractQueue"] == existing
    assert stack["InteractQueue"] == existing
    assert "InteractDeadLetterQueue" not in stack.physical
    # the queues are those the deployment had: no new one, no dead-letter queue added
    names = {url.rsplit("/", 1)[1] for url in sqs.list_queues()["QueueUrls"]}
    assert names == {
        f"CloneSquad-Interact-{GROUP}",
        f"CloneSquad-Interact-{GROUP}-DLQ",
        f"CloneSquad-Main-{GROUP}",
    }
    (mapping,) = aws_clients.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    assert mapping["EventSourceArn"] == stack.parameters["InteractQueueArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def _statements(aws_clients: AWS, role: str) -> list[dict[str, Any]]:
    iam = aws_clients.client("iam")
    statements: list[dict[str, Any]] = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            # moto keeps a document created by CloudFormation as Python's repr of it
            document = ast.literal_eval(document)
        # moto's CloudFormation keeps an AWS::NoValue list item as None; AWS drops it
        statements.extend(s for s in document["Statement"] if s is not None)
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
    environment = stack.environment
    queue = environment["InteractQueue"].rsplit("/", 1)[1]
    logging = environment["LoggingS3Path"].removeprefix("s3://")
    interact = _statements(aws_clients, stack["InteractRole"])
    assert _allows(interact, "sqs:ReceiveMessage", f":{queue}")
    assert _allows(interact, "sqs:DeleteMessage", f":{queue}")
    assert _allows(interact, "dynamodb:PutItem", f"table/{environment['ConfigurationTable']}")
    assert _allows(interact, "dynamodb:DeleteItem", f"table/{environment['EventTable']}")
    # An acknowledgement reads the events it names, then deletes them in one transaction.
    assert _allows(interact, "dynamodb:BatchGetItem", f"table/{environment['EventTable']}")
    assert _allows(interact, "s3:PutObject", logging)
    producer = _statements(aws_clients, stack["ProducerRole"])
    assert _allows(producer, "dynamodb:PutItem", f"table/{environment['StateTable']}")
    assert not _allows(producer, "sqs:ReceiveMessage", f":{queue}")


@contextmanager
def recording(dispatcher: Dispatcher) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """The AWS calls of the dispatcher's clients: (service, operation, parameters)."""
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.service_model.endpoint_prefix, model.name, dict(params)))

    clients = [dispatcher.aws.client(s) for s in ("dynamodb", "sqs", "s3", "ec2", "cloudwatch")]
    for client in clients:
        client.meta.events.register("before-parameter-build", record, unique_id="stack-calls")
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build", unique_id="stack-calls")


def _leading_key(write: dict[str, Any]) -> str | None:
    """The hash key value of an item-level DynamoDB call (``dynamodb:LeadingKeys``)."""
    key = write.get("Key") or {
        name: value for name, value in write.get("Item", {}).items() if name in ("Key", "EventDate")
    }
    if len(key) != 1:
        return None
    ((_, value),) = key.items()
    return str(value["S"])


def _needs(
    aws_clients: AWS, service: str, operation: str, params: dict[str, Any]
) -> Iterator[tuple[str, str, str | None]]:
    """The IAM actions, resource ARNs and leading keys one call is authorized on."""
    region, account = aws_clients.region, "123456789012"

    def table(name: str) -> str:
        return f"arn:aws:dynamodb:{region}:{account}:table/{name}"

    if service == "dynamodb" and operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            ((kind, write),) = item.items()
            action = "ConditionCheckItem" if kind == "ConditionCheck" else f"{kind}Item"
            yield f"dynamodb:{action}", table(write["TableName"]), _leading_key(write)
    elif service == "dynamodb" and operation in ("BatchGetItem", "BatchWriteItem"):
        for name in params["RequestItems"]:
            yield f"dynamodb:{operation}", table(name), None
    elif service == "dynamodb":
        yield f"dynamodb:{operation}", table(params["TableName"]), _leading_key(params)
    elif service == "sqs":
        # a batch call is authorized as its single-message action
        operation = operation.removesuffix("Batch")
        yield (
            f"sqs:{operation}",
            f"arn:aws:sqs:{region}:{account}:{params['QueueUrl'].rsplit('/', 1)[1]}",
            None,
        )
    elif service == "s3":
        yield f"s3:{operation}", f"arn:aws:s3:::{params['Bucket']}/{params.get('Key', '')}", None
    else:
        yield f"{service}:{operation}", "*", None


def _granted(statements: list[dict[str, Any]], action: str, resource: str, key: str | None) -> bool:
    """Whether a statement allows it: the action, the resource ARN, and a condition on
    ``dynamodb:LeadingKeys`` (any other condition grants nothing here)."""
    for statement in statements:
        actions = statement["Action"]
        resources = statement.get("Resource", [])
        if statement["Effect"] != "Allow":
            continue
        condition = statement.get("Condition")
        if condition is not None:
            keys = condition.get("ForAllValues:StringEquals", {}).get("dynamodb:LeadingKeys")
            if set(condition) != {"ForAllValues:StringEquals"} or keys is None:
                continue
            if key not in (keys if isinstance(keys, list) else [keys]):
                continue
        if action not in (actions if isinstance(actions, list) else [actions]):
            continue
        for pattern in resources if isinstance(resources, list) else [resources]:
            if fnmatch.fnmatchcase(resource, str(pattern)):
                return True
    return False


def test_requests_are_served_against_the_stacks_resources(stack, aws_clients, monkeypatch):
    # The function's environment as Lambda holds it, and nothing else.
    for name, value in stack.environment.items():
        monkeypatch.setenv(name, value)
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    client = InteractClient(dispatcher)
    dynamodb = aws_clients.client("dynamodb")
    dynamodb.put_item(
        TableName=stack.environment["EventTable"],
        Item={"EventDate": {"S": "2026-12-01 19:13:42.471382+00:00"}},
    )
    events = ["2026-12-01 19:13:42.471382+00:00", *([HELD_EVENT] if stack.parameters else [])]
    ec2 = aws_clients.client("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    (instance,) = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "clonesquad:group-name", "Value": GROUP}],
            }
        ],
    )["Instances"]
    sqs = aws_clients.client("sqs")
    queue = stack.environment["InteractQueue"]
    # moto's own poller would run the function in a container: the mapping is switched
    # off, and its batches are handed to the dispatcher below as Lambda hands them over.
    lambdas = aws_clients.client("lambda")
    for mapping in lambdas.list_event_source_mappings()["EventSourceMappings"]:
        lambdas.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    for message in (
        {"OpType": "notify/ackevent", "Events": events},
        {"OpType": "backup"},
        {"OpType": "debug/publishreportnow"},
    ):
        sent = sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(message))
    with recording(dispatcher) as calls:
        if stack.parameters:  # what the existing deployment holds is served
            assert client.get("/configuration/ec2.schedule.min_instance_count").text == "3"
        assert client.post("/configuration/app.disable", body="1").status_code == 200
        assert client.get("/configuration/app.disable").text == "1"
        written = client.post("/configuration", body=json.dumps({"app.run_period": "30"}))
        assert written.status_code == 200, written.text
        restored = client.post(
            "/configuration", body=json.dumps({"app.disable": "0"}), params={"restore": "true"}
        )
        assert restored.status_code == 200, restored.text
        assert (
            client.post(
                "/scheduler/scale-up-morning",
                body="cron(0 8 * * ? *),ec2.schedule.min_instance_count=3",
            ).status_code
            == 200
        )
        unstoppable = client.get(
            "/control/instances/unstoppable",
            params={"mode": "add", "instanceids": instance["InstanceId"]},
        )
        assert unstoppable.status_code == 200, unstoppable.text
        # Messages in the queue the stack's event source mapping reads, served as Lambda
        # hands them over (with the function's role: ReceiveMessage, DeleteMessage).
        consumer = QueueConsumer(
            dispatcher.handle, sqs, queue, region=aws_clients.region, wait_seconds=0
        )
        assert consumer.poll() == 3
        if stack.parameters:  # a deployment with a main function's queue
            rescheduled = client.get("/control/reschedulenow", params={"delay": "0"})
            assert rescheduled.status_code == 200, rescheduled.text
    assert dynamodb.scan(TableName=stack.environment["EventTable"])["Items"] == []
    left = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert left == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    s3 = aws_clients.client("s3")
    bucket, _, prefix = stack.environment["LoggingS3Path"].removeprefix("s3://").partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}{GROUP}/")
    assert [item["Key"] for item in listed.get("Contents", [])] == [
        f"{prefix}{GROUP}/debug-report-{sent['MessageId']}.json.gz"
    ]
    bucket, _, prefix = (
        stack.environment["MetadataAndBackupS3Path"].removeprefix("s3://").partition("/")
    )
    backups = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}backups/")
    assert backups.get("KeyCount", 0) == 4, backups

    # Every AWS call made while serving them is one the Interact function's role allows.
    statements = _statements(aws_clients, stack["InteractRole"])
    needed = {need for call in calls for need in _needs(aws_clients, *call)}
    assert {
        "dynamodb:PutItem",
        "s3:PutObject",
        "sqs:DeleteMessage",
    } <= {action for action, _, _ in needed}
    # the State table's control items, written under the statement's LeadingKeys condition
    assert (
        "dynamodb:PutItem",
        f"arn:aws:dynamodb:{aws_clients.region}:123456789012:table/"
        f"{stack.environment['StateTable']}",
        "ec2.control.state",
    ) in needed
    denied = sorted(need for need in needed if not _granted(statements, *need))
    assert denied == []
