"""Fixtures shared by the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import structlog

import hypothesis_profiles
from clonesquad_interact import AWS, Dispatcher, Request
from clonesquad_interact.testing import InteractClient

hypothesis_profiles.load()


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """Undo a test's logging configuration (the CLI configures structlog globally)."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def calls() -> list[Request]:
    """Requests recorded by handlers made with ``recorder``."""
    return []


@pytest.fixture
def recorder(calls: list[Request]) -> Callable[[Request], str]:
    """A handler that records its request and answers ``"ok"``."""

    def handler(request: Request) -> str:
        calls.append(request)
        return "ok"

    return handler


@pytest.fixture
def deployed(deployment: dict[str, str], aws_clients: AWS) -> Dispatcher:
    """A dispatcher with every built-in plugin, on a provisioned deployment in moto."""
    return Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)


@pytest.fixture
def deployed_client(deployed: Dispatcher) -> InteractClient:
    """A client of ``deployed``."""
    return InteractClient(deployed)
