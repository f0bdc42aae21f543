"""``clonesquad-interact serve`` in a subprocess, for end-to-end tests."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from signing import REGION

#: How long the server may take to start, and a queued message to be served (a failure
#: after that is a hang, not a slowness: nothing here measures speed).
PATIENCE = 90.0


@dataclass
class Server:
    """A running ``clonesquad-interact serve`` and what its banner says."""

    process: subprocess.Popen[str]
    banner: str
    log: Path
    api: str = field(init=False)
    aws: str = field(init=False)
    queue_url: str = field(init=False)
    instance: str = field(init=False)

    def __post_init__(self) -> None:
        self.api = _banner_value(self.banner, r"API:\s+(\S+)")
        self.aws = _banner_value(self.banner, r"AWS endpoint:\s+(\S+)")
        self.queue_url = _banner_value(self.banner, r"Interact queue:\s+(\S+)")
        self.instance = _banner_value(self.banner, r"instance (i-[0-9a-f]+)")

    def url(self, path: str) -> str:
        return self.api + path

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=PATIENCE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def _banner_value(banner: str, pattern: str) -> str:
    found = re.search(pattern, banner)
    assert found, f"{pattern!r} not in the banner:\n{banner}"
    return found.group(1)


def _command() -> list[str]:
    script = shutil.which("clonesquad-interact", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "clonesquad_interact"]


def serving(
    tmp_path_factory: pytest.TempPathFactory, *args: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run ``clonesquad-interact serve --port 0 ARGS...`` until the test is done."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CLONESQUAD_INTERACT_")) and k != "LOG_LEVEL"
    }
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*_command(), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**environ, **(env or {})},
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    banner: list[str] = []
    deadline = time.monotonic() + PATIENCE
    while not banner or banner[-1].strip() != "Ctrl-C stops it.":
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            process.kill()
            process.wait()
            pytest.fail(f"serve did not start:\n{''.join(banner)}\n{log.read_text()}")
        banner.append(line)
    running = Server(process, "".join(banner), log)
    yield running
    running.stop()
