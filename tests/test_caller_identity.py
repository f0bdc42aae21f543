"""metadata and the per-caller cache read one identity: a caller that is not exactly an
instance role session is no instance, and cached answers are per (userArn, caller)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from clonesquad_interact import Dispatcher
from clonesquad_interact.testing import InteractClient, apigw_rest_event, instance_identity
from demo_fleet import Demo, running_demo


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    yield from running_demo()


@pytest.fixture
def client(demo: Demo) -> InteractClient:
    dispatcher: Dispatcher = demo.clean(demo.dispatcher())
    return InteractClient(dispatcher)


def cache_state(demo: Demo, client: InteractClient) -> None:
    """A State table that lets answers be cached (``cache.last_write_index`` set)."""
    client.dispatcher.aws.client("dynamodb").put_item(
        TableName=demo.settings["StateTable"],
        Item={"Key": {"S": "cache.last_write_index"}, "Value": {"S": "1"}},
    )


def test_an_arn_and_a_caller_that_disagree_get_no_other_instances_answer(
    demo: Demo, client: InteractClient
) -> None:
    cache_state(demo, client)
    web, spot = demo.fleet["web"], demo.fleet["spot"]
    own = client.get("/metadata", identity=instance_identity(web))
    assert own.json()["InstanceId"] == web
    assert (
        client.get("/metadata", identity=instance_identity(web)).headers["X-Clonesquad-Cache"]
        == "hit"
    )
    # The session ARN of web, the principal id of spot: neither instance's answer.
    mixed: dict[str, Any] = {**instance_identity(web), "caller": instance_identity(spot)["caller"]}
    answer = client.get("/metadata", identity=mixed)
    assert answer.status_code == 403
    assert "InstanceId" not in answer.text
    assert client.get("/metadata", identity=instance_identity(spot)).json()["InstanceId"] == spot


@pytest.mark.parametrize(
    "caller",
    [
        "AROAX:extra:{id}",  # a third part
        "111111111111:{id}",  # a federated user named after the instance
        "AIDA4XZPU6QWEXAMPLE01:{id}",  # not a role's id
        "{id}",
    ],
)
def test_callers_that_are_not_exactly_an_instance_session_are_refused(
    demo: Demo, client: InteractClient, caller: str
) -> None:
    web = demo.fleet["web"]
    identity = {**instance_identity(web), "caller": caller.format(id=web), "userArn": None}
    answer = client.get("/metadata", identity=identity)
    assert answer.status_code == 403
    federated = {
        **instance_identity(web),
        "caller": caller.format(id=web),
        "userArn": f"arn:aws:sts::111111111111:federated-user/{web}",
    }
    assert client.get("/metadata", identity=federated).status_code == 403


def test_an_instance_session_without_an_arn_is_still_an_instance(
    demo: Demo, client: InteractClient
) -> None:
    web = demo.fleet["web"]
    identity = {**instance_identity(web), "userArn": None}
    assert client.get("/metadata", identity=identity).json()["InstanceId"] == web


@pytest.mark.parametrize(
    "account",
    [
        pytest.param({"accountId": "222222222222"}, id="caller account"),
        pytest.param(
            {"userArn": "arn:aws:sts::222222222222:assumed-role/R/{id}"}, id="arn account"
        ),
        pytest.param(
            {
                "accountId": "222222222222",
                "userArn": "arn:aws:sts::222222222222:assumed-role/R/{id}",
            },
            id="both",
        ),
    ],
)
def test_an_instance_session_of_another_account_is_no_instance_of_this_deployment(
    demo: Demo, client: InteractClient, account: dict[str, str]
) -> None:
    web = demo.fleet["web"]
    identity = {**instance_identity(web), **{k: v.format(id=web) for k, v in account.items()}}
    answer = client.get("/metadata", identity=identity)
    assert answer.status_code == 403, answer.text
    assert "is not an EC2 instance" in answer.text, answer.text
    # The same session in the API's own account (requestContext.accountId) is the instance.
    assert client.get("/metadata", identity=instance_identity(web)).json()["InstanceId"] == web


def test_an_instance_session_is_compared_with_the_account_of_the_api_called(
    demo: Demo, client: InteractClient
) -> None:
    web = demo.fleet["web"]
    identity = instance_identity(web, account_id="222222222222")
    event = apigw_rest_event("GET", "metadata", identity=identity)
    assert client.dispatcher.handle(event)["statusCode"] == 403
    event["requestContext"]["accountId"] = "222222222222"
    answer = client.dispatcher.handle(event)
    assert json.loads(answer["body"])["InstanceId"] == web, answer
