"""The command line: every subcommand, its help, and its errors as one line."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
import yaml
from openapi_spec_validator import validate

from clonesquad_interact import __version__
from clonesquad_interact.cli import main

SUBCOMMANDS = ("serve", "ops", "plugins", "invoke", "openapi", "precompute")
_PLUGIN_SETTINGS = (
    "CLONESQUAD_INTERACT_PLUGINS",
    "CLONESQUAD_INTERACT_BLOCK_PLUGINS",
    "CLONESQUAD_INTERACT_TRACE_PLUGINS",
)


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch):
    for name in _PLUGIN_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    # The command line configures logging, as an application does: undo it after the test.
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("clonesquad-interact"), err
    assert "Traceback" not in err
    return lines[0]


def test_the_console_script_and_the_module_run():
    script = Path(sys.executable).with_name("clonesquad-interact")
    for command in ([str(script)], [sys.executable, "-m", "clonesquad_interact"]):
        done = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"clonesquad-interact {__version__}"


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_every_subcommand_has_help(capsys, subcommand):
    with pytest.raises(SystemExit) as exited:
        main([subcommand, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: clonesquad-interact {subcommand}")


def test_the_top_level_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for subcommand in SUBCOMMANDS:
        assert re.search(rf"^\s+{subcommand}\s", out, re.MULTILINE), subcommand


def test_no_subcommand_prints_the_help_and_fails(capsys):
    code, _, err = run(capsys)
    assert code == 2
    assert "usage: clonesquad-interact" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["serve", "--port", "eighty"], "--port: not a port number: 'eighty'"),
        (["serve", "--aws", "--endpoint-url", "http://x"], "not allowed with argument"),
        (["invoke"], "the following arguments are required"),
    ],
)
def test_usage_errors_are_one_line(capsys, argv, said):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    line = one_line_error(capsys.readouterr().err)
    assert said in line
    assert line.endswith("--help)")


def test_ops_lists_every_operation_with_its_plugin(capsys):
    code, out, _ = run(capsys, "ops", "--json")
    assert code == 0
    listed = json.loads(out)
    root = next(entry for entry in listed if entry["route"] == "")
    assert root["methods"] == ["GET"]
    assert root["interfaces"] == ["apigw", "direct"]
    assert root["cache"] == "none"
    assert root["plugin"] == {
        "name": "clonesquad_interact.plugins.root",
        "distribution": "clonesquad-interact",
        "version": __version__,
    }
    assert root["schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert root["params"]["format"]["enum"] == ["json", "yaml"]


def test_ops_as_text(capsys):
    code, out, _ = run(capsys, "ops")
    assert code == 0
    assert "(root: GET /)" in out
    assert "params: format (json|yaml)" in out
    assert f"plugin clonesquad_interact.plugins.root (clonesquad-interact {__version__})" in out
    # a regex route is named as its OpenAPI path template, with its regex
    assert "\nconfiguration/{key}  (regex configuration/(?P<key>.+))\n" in out


def test_ops_json_names_a_regex_route_by_its_path_template(capsys):
    code, out, _ = run(capsys, "ops", "--json")
    assert code == 0
    entry = next(e for e in json.loads(out) if e["name"] == "configuration/{key}")
    assert (entry["route"], entry["regex"]) == ("configuration/(?P<key>.+)", True)


def test_a_plugin_named_in_the_environment_is_listed(capsys, monkeypatch):
    monkeypatch.setenv("CLONESQUAD_INTERACT_PLUGINS", "helpers_cli_plugin")
    code, out, _ = run(capsys, "ops", "--json")
    assert code == 0
    hello = next(entry for entry in json.loads(out) if entry["route"] == "cli/hello")
    assert hello["plugin"]["name"] == "helpers_cli_plugin"
    assert hello["plugin"]["distribution"] is None
    assert hello["methods"] == ["GET", "POST"]
    code, out, _ = run(capsys, "plugins", "--json")
    plugin = next(entry for entry in json.loads(out) if entry["name"] == "helpers_cli_plugin")
    assert plugin["hooks"] == ["register_operations"]


def test_plugins_lists_the_built_ins_and_their_hooks(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    plugins = {entry["name"]: entry for entry in json.loads(out)}
    root = plugins["clonesquad_interact.plugins.root"]
    assert root["hooks"] == ["register_operations"]
    assert root["distribution"] == "clonesquad-interact"
    code, out, _ = run(capsys, "plugins")
    assert f"clonesquad_interact.plugins.root (clonesquad-interact {__version__})" in out
    assert "    hooks: register_operations" in out


def test_a_broken_plugin_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv("CLONESQUAD_INTERACT_PLUGINS", "no_such_plugin_module")
    code, out, err = run(capsys, "ops")
    assert code == 1
    assert out == ""
    line = one_line_error(err)
    assert "the plugins cannot start" in line
    assert "no_such_plugin_module" in line


def test_openapi_prints_a_valid_document(capsys):
    code, out, _ = run(capsys, "openapi", "--server-url", "http://127.0.0.1:8080")
    assert code == 0
    document = json.loads(out)
    validate(document)
    assert document["servers"] == [{"url": "http://127.0.0.1:8080"}]
    code, out, _ = run(capsys, "openapi", "--yaml")
    assert code == 0
    assert yaml.safe_load(out)["openapi"] == "3.1.0"


def test_invoke_runs_an_operation_and_prints_its_answer(capsys):
    code, out, _ = run(capsys, "invoke", "/")
    assert code == 0
    names = [op["name"] for op in json.loads(out)["operations"]]
    assert "" in names


def test_invoke_with_parameters_methods_and_a_body(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CLONESQUAD_INTERACT_PLUGINS", "helpers_cli_plugin")
    code, out, _ = run(capsys, "invoke", "cli/hello?times=2", "-p", "tag=a", "-p", "tag=b")
    assert code == 0
    assert json.loads(out) == {"times": 2, "tag": ["a", "b"], "method": "GET", "body": None}
    body = tmp_path / "body.txt"
    body.write_text("hi there")
    code, out, _ = run(capsys, "invoke", "post", "/v1/cli/hello", "--body", str(body), "-i")
    assert code == 0
    head, _, text = out.partition("\n\n")
    assert head.splitlines()[0] == "200"
    assert "Content-Type: application/json" in head
    assert json.loads(text)["body"] == "hi there"
    code, out, _ = run(capsys, "invoke", "cli/hello", "-p", "format=yaml")
    assert yaml.safe_load(out)["method"] == "GET"


def test_invoke_sends_typed_values_from_sqs(capsys, monkeypatch):
    monkeypatch.setenv("CLONESQUAD_INTERACT_PLUGINS", "helpers_cli_plugin")
    code, out, _ = run(
        capsys, "invoke", "cli/hello", "--interface", "sqs", "-p", "times=3", "-p", 'tag=["x"]'
    )
    assert code == 0
    assert json.loads(out) == {"times": 3, "tag": ["x"], "method": "POST", "body": None}


def test_invoke_answers_errors_with_exit_code_3(capsys):
    code, out, err = run(capsys, "invoke", "no/such/operation")
    assert code == 3
    assert json.loads(out)["error"]["type"] == "NotFound"
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["invoke", "PUT", "x"], "the method must be GET or POST, not 'PUT'"),
        (["invoke", "GET", "x", "y"], "one request at a time: give [METHOD] PATH"),
        (["invoke", "x", "--param", "novalue"], "--param 'novalue': write it NAME=VALUE"),
        (["invoke", "POST", "x", "--body", "/no/such/file"], "cannot read the body"),
    ],
)
def test_invoke_errors_are_one_line(capsys, argv, said):
    code, out, err = run(capsys, *argv)
    assert code in (1, 2)
    assert out == ""
    assert said in one_line_error(err)


def test_precompute_without_aws_settings_is_one_line(capsys, monkeypatch):
    monkeypatch.delenv("StateTable", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    code, out, err = run(capsys, "precompute")
    assert code == 1
    assert out == ""
    assert "StateTable" in one_line_error(err)


def test_invokes_usage_names_one_request(capsys):
    with pytest.raises(SystemExit):
        main(["invoke", "--help"])
    usage = " ".join(capsys.readouterr().out.split("\n\n")[0].split())
    assert usage.startswith("usage: clonesquad-interact invoke [-h] [METHOD] PATH [--param")
    assert "PATH ...]" not in usage


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.com"])
def test_serve_on_an_address_other_machines_reach_needs_allow_remote(capsys, host):
    code, out, err = run(capsys, "serve", "--host", host)
    assert code == 2
    assert out == ""
    line = one_line_error(err)
    assert f"--host {host} is not a loopback address" in line
    assert "--allow-remote" in line


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_need_no_flag(host):
    from clonesquad_interact.commands import _serve_host

    assert _serve_host(host, allow_remote=False) == host


def test_allow_remote_warns(capsys):
    from clonesquad_interact.commands import _serve_host

    assert _serve_host("0.0.0.0", allow_remote=True) == "0.0.0.0"
    warning = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0, reachable from other machines" in warning


def test_serve_with_the_embedded_aws_on_a_port_in_use_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "serve", "--port", "0", "--aws-port", str(port))
    assert code == 1
    assert out == ""
    assert f"port {port} of the embedded AWS is in use" in one_line_error(err)


def test_serve_on_a_port_in_use_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "serve", "--port", str(port))
    assert code == 1
    assert out == ""
    assert f"port {port} is in use" in one_line_error(err)


def test_invoke_on_an_embedded_aws_as_the_demo_instance(capsys, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    before = dict(os.environ)
    code, out, err = run(capsys, "invoke", "--embedded", "metadata", "--instance")
    assert code == 0, err
    metadata = json.loads(out)
    assert metadata["InstanceId"].startswith("i-")
    assert metadata["Instance"]["State"] == "running"
    # The embedded AWS is gone, and so are its settings.
    assert dict(os.environ) == before


def test_invoke_backup_on_an_embedded_aws_writes_under_its_backup_path(capsys, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    code, out, err = run(capsys, "invoke", "--embedded", "backup")
    assert code == 0, err
    assert "s3://clonesquad-demo-logging/metadata-and-backups/backups/" in out


def test_precompute_on_an_embedded_aws_writes_the_precomputed_data(capsys, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    code, out, err = run(capsys, "precompute", "--embedded", "--only", "fleet/status")
    assert code == 0, err
    report = json.loads(out)
    assert report["written"] == ["fleet/status"]
    assert report["failed"] == {}
    assert report["size"] > 0


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_serve_refuses_a_port_out_of_range(capsys, port):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", port])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "argument --port" in err
    assert "Traceback" not in err


def test_serve_takes_the_port_range_bounds():
    from clonesquad_interact.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["serve", "--port", "0"]).port == 0
    assert parser.parse_args(["serve", "--port", "65535"]).port == 65535


def test_precompute_on_an_endpoint_without_a_region_is_one_line(capsys, monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(name, "")  # so that monkeypatch removes what the command sets
        monkeypatch.delenv(name)
    # No region in the AWS configuration files either.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    code, out, err = run(capsys, "precompute", "--endpoint-url", "http://127.0.0.1:1")
    assert code == 1
    assert out == ""
    line = one_line_error(err)
    assert "--region" in line
    assert "AWS_REGION" in line
    assert "AWS_ENDPOINT_URL" not in os.environ


def test_precompute_region_option_reaches_the_clients(capsys, monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "StateTable"):
        monkeypatch.setenv(name, "")  # so that monkeypatch removes what the command sets
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    code, out, err = run(
        capsys,
        "precompute",
        "--endpoint-url",
        "http://127.0.0.1:1",
        "--region",
        "eu-west-1",
    )
    # Past the region check: what is missing now is the deployment's settings.
    assert code == 1
    assert out == ""
    assert "region" not in one_line_error(err)
    assert os.environ["AWS_REGION"] == "eu-west-1"
