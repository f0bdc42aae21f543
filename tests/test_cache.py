"""The answer cache: declared per operation, keyed, bounded, invalidated by writes."""

from __future__ import annotations

import boto3
import pytest

from clonesquad_interact import CachePolicy, Dispatcher, Interface, Request, Response
from clonesquad_interact.cache import CACHE_HEADER, ResponseCache
from clonesquad_interact.testing import OPERATOR_IDENTITY, InteractClient, instance_identity
from demo_fleet import CallCounter, refusing

from helpers import OPEN_PARAMS, OperationsPlugin, make_operation


class Counted:
    """Handlers that count their runs."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        #: The dispatcher serving the operations (for requests made while one is served).
        self.dispatcher: Dispatcher | None = None

    def answer(self, request: Request) -> Response:
        self.runs.append(request.op)
        if request.params.get("meanwhile") == "write":  # a write served during this answer
            assert self.dispatcher is not None
            assert InteractClient(self.dispatcher).post("/write").status_code == 200
        if request.params.get("meanwhile") == "index":  # another request reads a new index
            assert self.dispatcher is not None
            table = request.deployment.settings.require("StateTable")
            set_write_index({"StateTable": table}, request.request_id)
            assert InteractClient(self.dispatcher).get("/shared?other=1").status_code == 200
        if request.params.get("fail"):
            return Response(body={"failed": True}, status=404)
        return Response(
            body={"run": len(self.runs), "params": dict(request.params)},
            headers={"X-Clonesquad-Data-Age": "5"},
        )

    def plugin(self) -> OperationsPlugin:
        return OperationsPlugin(
            make_operation("shared", self.answer, cache=CachePolicy.SHARED, schema=OPEN_PARAMS),
            make_operation("mine", self.answer, cache=CachePolicy.PER_CALLER),
            make_operation("never", self.answer),
            make_operation("write", self.answer, methods={"POST"}, interfaces={"apigw", "sqs"}),
        )


@pytest.fixture
def counted() -> Counted:
    return Counted()


@pytest.fixture
def client(deployment: dict[str, str], counted: Counted) -> InteractClient:
    counted.dispatcher = Dispatcher([counted.plugin()], entry_points=False, builtins=False)
    return InteractClient(counted.dispatcher)


def set_write_index(settings: dict[str, str], value: str) -> None:
    boto3.client("dynamodb").put_item(
        TableName=settings["StateTable"],
        Item={"Key": {"S": "cache.last_write_index"}, "Value": {"S": value}},
    )


def test_a_shared_answer_is_served_again_and_says_so(
    client: InteractClient, counted: Counted
) -> None:
    first, second = client.get("/shared"), client.get("/shared")
    assert first.headers[CACHE_HEADER] == "miss"
    assert second.headers[CACHE_HEADER] == "hit"
    assert second.json() == first.json() == {"run": 1, "params": {}}
    assert counted.runs == ["shared"]
    assert CACHE_HEADER not in client.get("/never").headers
    client.get("/never")
    assert counted.runs == ["shared", "never", "never"]


def test_parameters_make_the_key_whatever_their_order(
    client: InteractClient, counted: Counted
) -> None:
    client.get("/shared?a=1&b=2")
    assert client.get("/shared?b=2&a=1").headers[CACHE_HEADER] == "hit"
    assert client.get("/shared?a=1&b=3").headers[CACHE_HEADER] == "miss"
    assert len(counted.runs) == 2


def test_per_caller_answers_are_kept_per_caller_arn(
    client: InteractClient, counted: Counted
) -> None:
    one, two = instance_identity("i-0123456789abcdef0"), instance_identity("i-0123456789abcdef1")
    client.get("/mine", identity=one)
    assert client.get("/mine", identity=one).headers[CACHE_HEADER] == "hit"
    assert client.get("/mine", identity=two).headers[CACHE_HEADER] == "miss"
    assert client.get("/mine", identity=OPERATOR_IDENTITY).headers[CACHE_HEADER] == "miss"
    # No caller: nothing to key on, so never kept.
    assert client.get("/mine", identity=None).headers[CACHE_HEADER] == "miss"
    assert client.get("/mine", identity=None).headers[CACHE_HEADER] == "miss"
    assert len(counted.runs) == 5


def test_a_change_of_the_write_index_empties_the_cache(
    deployment: dict[str, str], client: InteractClient, counted: Counted
) -> None:
    client.get("/shared")
    set_write_index(deployment, "1")
    assert client.get("/shared").headers[CACHE_HEADER] == "miss"
    assert client.get("/shared").headers[CACHE_HEADER] == "hit"
    set_write_index(deployment, "2")
    assert client.get("/shared").json()["run"] == 3


@pytest.mark.parametrize("interface", ["apigw", "sqs"])
def test_a_write_served_by_the_container_empties_the_cache(
    client: InteractClient, counted: Counted, interface: str
) -> None:
    client.get("/shared")
    if interface == "sqs":
        assert client.sqs({"OpType": "write"}) == {"batchItemFailures": []}
    else:
        assert client.post("/write").status_code == 200
    assert client.get("/shared").headers[CACHE_HEADER] == "miss"
    assert len(client.dispatcher.cache) == 1


def test_an_answer_computed_while_a_write_was_served_is_not_kept(
    client: InteractClient, counted: Counted
) -> None:
    first = client.get("/shared?meanwhile=write")
    assert (first.status_code, first.headers[CACHE_HEADER]) == (200, "miss")
    assert len(client.dispatcher.cache) == 0, "it may predate the write"
    assert client.get("/shared?meanwhile=write").headers[CACHE_HEADER] == "miss"
    assert counted.runs == ["shared", "write", "shared", "write"]


def test_an_answer_computed_while_the_write_index_changed_is_not_kept(
    deployment: dict[str, str], client: InteractClient, counted: Counted
) -> None:
    set_write_index(deployment, "1")
    first = client.get("/shared?meanwhile=index")
    assert (first.status_code, first.headers[CACHE_HEADER]) == (200, "miss")
    assert client.get("/shared?other=1").headers[CACHE_HEADER] == "hit", "read under index 2"
    assert client.get("/shared?meanwhile=index").headers[CACHE_HEADER] == "miss"


def test_failures_are_not_kept(client: InteractClient, counted: Counted) -> None:
    assert client.get("/shared?fail=1").status_code == 404
    assert client.get("/shared?fail=1").headers[CACHE_HEADER] == "miss"
    assert len(counted.runs) == 2


def test_without_a_state_table_nothing_is_kept(aws: None, counted: Counted) -> None:
    client = InteractClient(
        Dispatcher([counted.plugin()], entry_points=False, builtins=False, environ={})
    )
    client.get("/shared")
    assert client.get("/shared").headers[CACHE_HEADER] == "miss"
    assert len(counted.runs) == 2


def test_the_cache_is_bounded_and_answers_expire(
    deployment: dict[str, str], counted: Counted
) -> None:
    dispatcher = Dispatcher([counted.plugin()], entry_points=False, builtins=False)
    now = [100.0]
    cache: ResponseCache = dispatcher.cache
    cache.max_entries, cache.max_age, cache.clock = 2, 60.0, lambda: now[0]
    client = InteractClient(dispatcher)
    for letter in "abc":  # "a" is the least recently used when "c" comes in
        client.get(f"/shared?k={letter}")
    assert len(cache) == 2
    assert client.get("/shared?k=c").headers[CACHE_HEADER] == "hit"
    assert client.get("/shared?k=a").headers[CACHE_HEADER] == "miss"
    now[0] += 59
    hit = client.get("/shared?k=a")
    assert hit.headers[CACHE_HEADER] == "hit"
    assert hit.headers["X-Clonesquad-Data-Age"] == str(5 + 59), "the data aged in the cache"
    now[0] += 1
    assert client.get("/shared?k=a").headers[CACHE_HEADER] == "miss"


def test_a_warm_cached_answer_costs_one_get_item(client: InteractClient, counted: Counted) -> None:
    counter = CallCounter(client.dispatcher, ["dynamodb"])
    client.get("/shared")
    assert counter.take() == {"dynamodb.GetItem": 1}
    assert client.get("/shared").headers[CACHE_HEADER] == "hit"
    assert counter.take() == {"dynamodb.GetItem": 1}


@pytest.mark.parametrize("failure", ["throttled", "no State table"])
def test_an_unreadable_write_index_means_uncached_answers(
    deployment: dict[str, str], client: InteractClient, counted: Counted, failure: str
) -> None:
    client.get("/shared")
    dynamodb = client.dispatcher.aws.client("dynamodb")
    if failure == "throttled":
        with refusing(dynamodb, "GetItem", "ProvisionedThroughputExceededException", 400):
            answer = client.get("/shared")
    else:
        boto3.client("dynamodb").delete_table(TableName=deployment["StateTable"])
        answer = client.get("/shared")
    assert (answer.status_code, answer.headers[CACHE_HEADER]) == (200, "miss")
    assert len(counted.runs) == 2


def test_the_cache_is_left_out_only_where_it_has_nothing_to_do(
    client: InteractClient, counted: Counted
) -> None:
    operations = {operation.name: operation for operation in client.dispatcher.operations}
    cases = [
        ("shared", "GET", "apigw", True),
        ("mine", "GET", "direct", True),
        ("never", "GET", "apigw", False),
        ("never", "GET", "direct", False),
        ("never", "POST", "apigw", True),
        ("write", "POST", "sqs", True),
        ("never", "GET", "sqs", True),
    ]
    for name, method, interface, needed in cases:
        request = Request(op=name, interface=Interface(interface), method=method)
        assert ResponseCache.needed(request, operations[name]) is needed, (name, method, interface)
    client.get("/shared")
    answer = client.get("/never")
    assert CACHE_HEADER not in answer.headers
    assert len(client.dispatcher.cache) == 1
    assert client.get("/shared").headers[CACHE_HEADER] == "hit"
