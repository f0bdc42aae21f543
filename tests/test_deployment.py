"""The deployment an operation uses: settings, configuration, tables, clients, clock."""

from __future__ import annotations

from typing import Any

import pytest

from clonesquad_interact import (
    AWS,
    Deployment,
    Dispatcher,
    Interface,
    PluginError,
    Request,
    SettingMissing,
    hookimpl,
)
from clonesquad_interact.access import allows

from helpers import OperationsPlugin, build, make_operation


def test_a_routed_request_carries_the_dispatchers_deployment(recorder: Any, calls: Any) -> None:
    dispatcher = build(OperationsPlugin(make_operation("op", recorder)))
    dispatcher.call("op")
    (request,) = calls
    assert request.deployment is dispatcher.deployment
    assert request.deployment.settings is dispatcher.settings
    assert request.deployment.configuration is dispatcher.configuration
    assert "op" in [operation.name for operation in request.deployment.operations]
    assert "test-plugin" in [info.name for info in request.deployment.plugins()]


def test_a_table_is_named_by_its_setting_and_uses_the_deployments_clock(
    deployment: dict[str, str], aws_clients: AWS
) -> None:
    now = [1_767_225_600.0]
    dispatcher = Dispatcher(entry_points=False, aws=aws_clients)
    served = Deployment(
        dispatcher.settings, dispatcher.configuration, aws_clients, clock=lambda: now[0]
    )
    table = served.table("StateTable")
    assert table.name == deployment["StateTable"]
    table.put("k", "v", expiration_time=int(now[0]) + 60)
    assert table.get("k") is not None
    now[0] += 120  # past its expiration, by the deployment's clock
    assert table.get("k") is None


def test_a_table_whose_setting_is_missing_says_which() -> None:
    with pytest.raises(SettingMissing, match="SchedulerTable"):
        Deployment.from_environ({}).table("SchedulerTable")


def test_access_is_denied_without_a_plugin_that_allows_it() -> None:
    request = Request(op="metadata", interface=Interface.APIGW)
    assert not allows(request, "read", "i-0")  # not routed: no deployment
    assert not Deployment.from_environ({}).allows(request, "read", "i-0")


class AllowsReading:
    @hookimpl
    def authorize_access(self, action: str) -> bool | None:
        return True if action == "read" else None


class DeniesInstance:
    @hookimpl
    def authorize_access(self, resource: str) -> bool | None:
        return False if resource == "i-1" else None


def test_access_is_what_the_plugins_decide(recorder: Any, calls: Any) -> None:
    build(OperationsPlugin(make_operation("op", recorder)), AllowsReading(), DeniesInstance()).call(
        "op"
    )
    (request,) = calls
    assert allows(request, "read", "i-0")
    assert not allows(request, "write", "i-0")  # nobody allows it
    assert not allows(request, "read", "i-1")  # one plugin denies it


def test_lazy_schemas_are_checked_when_their_operation_first_runs() -> None:
    from clonesquad_interact.testing import apigw_rest_event

    broken = make_operation("broken", schema={"type": "no such type"})
    plugin = OperationsPlugin(make_operation("fine"), broken)
    with pytest.raises(PluginError, match="broken"):
        build(plugin)  # by default, at build time
    dispatcher = build(plugin, lazy_schemas=True)
    assert dispatcher.handle(apigw_rest_event("GET", "/fine"))["statusCode"] == 200
    answer = dispatcher.handle(apigw_rest_event("GET", "/broken"))
    assert answer["statusCode"] == 500
    assert "no such type" not in answer["body"]  # the cause is in the log, not the answer
