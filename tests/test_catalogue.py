"""CloneSquad's configuration catalogue, its formats and its list syntax."""

from __future__ import annotations

import importlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from clonesquad_interact import AWS, ConfigurationKey, Dispatcher
from clonesquad_interact.configuration import base_key, check_value, to_text
from clonesquad_interact.metastrings import join_list, parse_list, parse_meta_string
from clonesquad_interact.testing import InteractClient

from helpers import OperationsPlugin

SPEC_KEYS = Path("/work/shared/spec/clonesquad-configuration-keys.json")
ALARMS = [f"cloudwatch.alarm0{n}.configuration_url" for n in range(1, 6)]


def catalogue() -> tuple[ConfigurationKey, ...]:
    # the built-in plugin, imported by name as the plugin manager does
    module = importlib.import_module("clonesquad_interact.plugins.catalogue")
    keys: tuple[ConfigurationKey, ...] = module.register_configuration_keys()
    return keys


def test_the_catalogue_declares_every_key_of_the_original_once() -> None:
    declared = {key.key: key for key in catalogue()}
    assert len(declared) == len(catalogue()) == 147
    for name in ("app.disable", "ec2.schedule.min_instance_count", *ALARMS):
        assert name in declared
    assert "subfleet.{SubfleetName}.state" in declared
    for key in catalogue():
        assert key.description, key.key
        assert "\n" not in key.description, key.key
        assert key.check(key.default) is None, key.key


@pytest.mark.skipif(not SPEC_KEYS.exists(), reason="the facts sheet is not beside the repository")
def test_the_catalogue_matches_the_keys_the_original_registers() -> None:
    original = json.loads(SPEC_KEYS.read_text())["keys"]
    declared = {key.key: key for key in catalogue()}
    for entry in original:
        key = declared[entry["key"]]
        assert key.stable is entry["stable"], entry["key"]
        assert key.default == str(entry["default"]), entry["key"]
        assert key.shown_format == entry["format"], entry["key"]


def test_min_instance_count_is_a_count_or_a_percentage_and_checked_on_write(
    deployment: dict[str, str], aws_clients: AWS
) -> None:
    client = InteractClient(Dispatcher(raise_unexpected=True, aws=aws_clients))
    for refused_value in ("-1", "-5%", "many", "undefined"):
        refused = client.post("configuration/ec2.schedule.min_instance_count", refused_value)
        assert refused.status_code == 400, refused_value
        assert "percentage" in refused.json()["error"]["message"]
    assert client.post("configuration/ec2.schedule.min_instance_count", "3").status_code == 200
    # CloneSquad's parameter sets hold 0% to 100%, and a maintenance window writes 100%
    for name in ("ec2.schedule.min_instance_count", "override:ec2.schedule.min_instance_count"):
        assert client.post(f"configuration/{name}", "50%").status_code == 200, name
    imported = client.post("configuration", "night:\n  ec2.schedule.min_instance_count: 100%\n")
    assert imported.status_code == 200, imported.text
    entry = "cron(0 8 * * ? *),ec2.schedule.min_instance_count=100%"
    scheduled = client.post("scheduler", f"morning: '{entry}'\n")
    assert scheduled.status_code == 200, scheduled.text
    shown = client.get("configuration").json()["ec2.schedule.min_instance_count"]
    assert (shown["Format"], shown["Value"]) == ("PositiveInteger", "50%")
    refused = client.post("configuration/ec2.schedule.desired_instance_count", "half")
    assert refused.status_code == 400
    ok = client.post("configuration/ec2.schedule.desired_instance_count", "50%")
    assert ok.status_code == 200
    refused = client.post("configuration/ec2.schedule.scaleout.period", "minutes = 5")
    assert refused.status_code == 400
    dump = client.get("configuration").json()
    assert dump["app.disable"]["Format"] == "Bool"
    assert dump["app.disable"]["Description"]


def test_a_plugin_that_declares_a_catalogue_key_replaces_its_entry(
    deployment: dict[str, str], aws_clients: AWS
) -> None:
    mine = ConfigurationKey("app.disable", "1", "Bool", "Mine.")
    plugin = OperationsPlugin(name="mine", keys=[mine])
    dispatcher = Dispatcher([plugin], entry_points=False, aws=aws_clients)
    assert dispatcher.configuration_keys["app.disable"].description == "Mine."
    assert dispatcher.configuration_keys["app.disable"].plugin == "mine"


@pytest.mark.parametrize(
    ("text", "records"),
    [
        ("a,Key=Value;b", [{"_": "a", "Key": "Value"}, {"_": "b"}]),
        ("a,flag", [{"_": "a", "flag": True}]),
        ("a\\;b,k=v\\;w", [{"_": "a;b", "k": "v;w"}]),
        (";;a;,b=1", [{"_": "a"}]),
        ("a,,=z", [{"_": "a", "": "z"}]),
        ("cron(0 6\\,18 * * ? *),x=1", [{"_": "cron(0 6,18 * * ? *)", "x": "1"}]),
        ("a,k\\=1=v", [{"_": "a", "k\\=1": "v"}]),  # keys keep their escapes
        ("", []),
    ],
)
def test_meta_strings(text: str, records: list[dict[str, Any]]) -> None:
    assert parse_meta_string(text) == records


def test_string_lists_split_on_semicolons_only() -> None:
    assert parse_list("eu-west-3a;eu-west-3b") == ["eu-west-3a", "eu-west-3b"]
    assert parse_list(";a;; b ;") == ["a", "b"]
    assert parse_list("a,b") == ["a,b"]
    assert parse_list("") == []
    assert join_list(["a", "b"]) == "a;b"


@pytest.mark.parametrize(
    ("fmt", "text", "ok"),
    [
        ("PositiveInteger", "0", True),
        ("PositiveInteger", "-2", False),
        ("PositiveInteger", "2%", False),
        ("PositiveIntegerOrPercentage", "0%", True),
        ("PositiveIntegerOrPercentage", "7", True),
        ("PositiveIntegerOrPercentage", "-1", False),
        ("PositiveIntegerOrPercentage", "undefined", False),
        ("IntegerOrPercentage", "100%", True),
        ("IntegerOrPercentage", "undefined", True),
        ("IntegerOrPercentage", "lots", False),
        ("MetaString", "internal:x.yaml,Points=1001", True),
        ("MetaString", ";;", False),
        ("Duration", "minutes=1,seconds=30", True),
        ("Bool", "maybe", False),
    ],
)
def test_formats(fmt: str, text: str, ok: bool) -> None:
    assert (check_value(fmt, text) is None) is ok


@pytest.mark.skipif(not SPEC_KEYS.exists(), reason="the facts sheet is not beside the repository")
def test_the_effective_keys_keep_the_stable_flag_the_original_registers(
    deployed: Dispatcher,
) -> None:
    # every plugin loaded: one that declares a key of the catalogue again replaces it
    effective = deployed.deployment.configuration.keys
    for entry in json.loads(SPEC_KEYS.read_text())["keys"]:
        key = effective[entry["key"]]
        assert key.stable is entry["stable"], entry["key"]
        assert key.shown_format == entry["format"], entry["key"]
        assert key.check(key.default) is None, entry["key"]


@pytest.mark.skipif(not SPEC_KEYS.exists(), reason="the facts sheet is not beside the repository")
def test_the_dump_shows_the_format_the_original_names_for_every_key(
    deployed_client: InteractClient,
) -> None:
    dump = deployed_client.get("configuration", {"unstable": "true"}).json()
    for entry in json.loads(SPEC_KEYS.read_text())["keys"]:
        shown = dump[entry["key"]]
        # a key the original registers without a format has no Format in its dumps
        assert shown.get("Format", "") == entry["format"], entry["key"]
        assert ("Format" in shown) is bool(entry["format"]), entry["key"]
    assert dump["ec2.state.excluded_instance_ids"]["Format"] == "List of String"
    assert dump["ec2.schedule.min_instance_count"]["Format"] == "PositiveInteger"


@pytest.mark.skipif(not SPEC_KEYS.exists(), reason="the facts sheet is not beside the repository")
def test_the_default_dump_lists_exactly_the_stable_keys_of_the_original(
    deployed_client: InteractClient,
) -> None:
    original = json.loads(SPEC_KEYS.read_text())["keys"]
    stable = {entry["key"] for entry in original if entry["stable"]} | set(ALARMS)
    assert set(deployed_client.get("configuration").json()) == stable
    unstable = deployed_client.get("configuration", {"unstable": "true"}).json()
    for name in (
        "ec2.instance.control.ttl",
        "cloudwatch.metriccache.ttl",
        "cloudwatch.sentmetrics.publish",
        "interact.answer_shapes",
        "metadata.instance_role_names",
    ):
        assert unstable[name]["Stable"] is False, name


def _values(document: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(key, value)`` of a CloneSquad document, its parameter sets' included."""
    found: list[tuple[str, Any]] = []
    for name, value in document.items():
        if isinstance(value, dict):
            found.extend(_values(value))
        else:
            found.append((name, value))
    return found


@pytest.mark.parametrize("document", ["predefined.config.yaml", "custom.config.yaml"])
def test_every_value_of_the_shipped_documents_is_accepted_by_its_key(
    deployed: Dispatcher, document: str
) -> None:
    text = (files("clonesquad_interact.resources") / document).read_text("utf-8")
    effective = deployed.deployment.configuration.keys
    for name, value in _values(yaml.safe_load(text) or {}):
        key = effective[base_key(name)]
        assert key.check(to_text(value, key.format)) is None, (name, value)
