"""End to end: every command ``serve``'s banner prints, pasted into a shell as printed.

The shell gets the banner's ``export`` line and nothing else from this test's
environment (no AWS variables, a home without AWS configuration files), then each
command: awscurl against the API, the AWS CLI against the embedded AWS (SQS, DynamoDB,
S3: the AWS CLI cannot sign a call to an arbitrary API Gateway URL, so it reaches the
deployment, not the API), and this project's own commands.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving import PATIENCE, Server, serving

#: The programs the banner's commands run.
PROGRAMS = ("awscurl", "aws", "clonesquad-interact")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def _export(banner: str) -> str:
    (line,) = [line.strip() for line in banner.splitlines() if "export " in line]
    return line


def _commands(banner: str) -> list[str]:
    """The banner's commands, in the order it prints them."""
    return [
        line.strip()
        for line in banner.splitlines()
        if line.startswith("  ") and line.split()[0] in PROGRAMS
    ]


def _shell(server: Server, home: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` run by bash after the banner's export line, as a user pastes them."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run(
        ["bash", "-c", f"{_export(server.banner)}\n{command}"],
        capture_output=True,
        text=True,
        env={"PATH": path, "HOME": str(home), "LANG": "C.UTF-8"},
        cwd=home,
        timeout=PATIENCE,
        check=False,
    )


def _need_tools() -> None:
    for tool in ("awscurl", "aws"):
        if not (Path(sys.executable).parent / tool).exists():
            pytest.skip(f"{tool} is not installed (it comes with the test extra)")


def test_every_api_and_queue_command_runs_as_printed(server, home):
    _need_tools()
    commands = [c for c in _commands(server.banner) if not c.startswith("aws s3 ")]
    assert any(c.startswith("aws sqs send-message") for c in commands)
    assert sum(c.startswith("awscurl") for c in commands) >= 10
    for command in commands:
        done = _shell(server, home, command)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        if command.startswith("awscurl"):
            # API Gateway's own refusals are {"message": ...}, the API's {"error": ...}
            assert not re.match(r'\s*\{\s*"(message|error)"', done.stdout), (command, done.stdout)
        if command.startswith("aws sqs send-message"):
            assert json.loads(done.stdout)["MessageId"]
        if command.startswith("aws dynamodb scan"):
            keys = {item["Key"]["S"] for item in json.loads(done.stdout)["Items"]}
            assert "interact.precomputed" in keys  # written by the precompute before it


def _wait_for(server: Server, home: Path, command: str, text: str) -> str:
    """Run ``command`` until its output holds ``text`` (the queue is served in the background)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        done = _shell(server, home, command)
        if done.returncode == 0 and text in done.stdout:
            return done.stdout
        assert time.monotonic() < deadline, f"{command}: {text!r} never came\n{done.stderr}"
        time.sleep(0.5)


def test_a_debug_report_is_asked_for_listed_and_read_as_printed(server, home):
    _need_tools()
    (ask,) = [c for c in _commands(server.banner) if "debug/publishreportnow" in c]
    (listing,) = [
        c for c in _commands(server.banner) if re.match(r"aws s3 ls s3://\S+/reports/", c)
    ]
    (read,) = [c for c in _commands(server.banner) if "<message id>" in c]
    sent = _shell(server, home, ask)
    assert sent.returncode == 0, sent.stderr
    message_id = json.loads(sent.stdout)["MessageId"]
    _wait_for(server, home, listing, f"debug-report-{message_id}.json.gz")
    done = _shell(server, home, read.replace("<message id>", message_id))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["group_name"] == "demo"
    assert "configuration/{key}" in {op["name"] for op in report["operations"]}


def test_backups_are_listed_as_printed(server, home):
    _need_tools()
    (backup,) = [c for c in _commands(server.banner) if c.endswith("/v1/backup")]
    (listing,) = [c for c in _commands(server.banner) if c.startswith("aws s3 ls --recursive")]
    done = _shell(server, home, backup)
    assert done.returncode == 0, done.stderr
    listed = _wait_for(server, home, listing, "configuration-cs-demo.yaml")
    assert "backups/accountid=123456789012/region=eu-west-3/groupname=demo/" in listed
