"""Fixtures shared by the tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clonesquad_interact import Request


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
