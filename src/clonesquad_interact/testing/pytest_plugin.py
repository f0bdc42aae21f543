"""pytest fixtures for Interact operations (loaded through the ``pytest11`` entry point).

* ``aws``: a moto-backed AWS for the test (fake credentials, region ``eu-west-3``);
* ``deployment``: inside ``aws``, the resources of a CloneSquad deployment (tables,
  queues, logging bucket) and its settings in the environment; it returns the settings;
* ``interact_plugins``: plugin objects to register (override it in your ``conftest.py``);
* ``interact_dispatcher``: a :class:`~clonesquad_interact.Dispatcher` with those plugins
  and every installed one, inside ``aws``;
* ``interact_client``: an :class:`~clonesquad_interact.testing.InteractClient` on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest

from ..aws import AWS
from ..dispatcher import Dispatcher
from .client import InteractClient
from .deployment import DEPLOYMENT_ENVIRONMENT, provision

AWS_TEST_ENVIRONMENT = MappingProxyType(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_REGION": "eu-west-3",
    }
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every boto3 call of the test goes to moto, with fake credentials."""
    try:
        from moto import mock_aws
    except ImportError:  # pragma: no cover - depends on the environment
        pytest.fail("the aws fixture needs moto: pip install 'clonesquad-interact[test]'")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_TEST_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def aws_clients() -> AWS:
    """boto3 clients for moto, shared by the tests of a session.

    Creating a client costs tens of milliseconds; a client created under one
    ``mock_aws`` works under the next one, against that one's empty state.
    """
    return AWS(AWS_TEST_ENVIRONMENT)


@pytest.fixture
def deployment(aws: None, aws_clients: AWS, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A provisioned CloneSquad deployment in moto; its settings are in ``os.environ``.

    Ask for it before ``interact_dispatcher`` (or build the dispatcher after it), so
    that the dispatcher reads the settings.
    """
    settings = provision(DEPLOYMENT_ENVIRONMENT, aws=aws_clients)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
def interact_plugins() -> list[Any]:
    """Plugin objects for ``interact_dispatcher``; override to add your own."""
    return []


@pytest.fixture
def interact_dispatcher(aws: None, aws_clients: AWS, interact_plugins: list[Any]) -> Dispatcher:
    """A dispatcher with the built-in, installed and ``interact_plugins`` plugins."""
    return Dispatcher(interact_plugins, raise_unexpected=True, aws=aws_clients)


@pytest.fixture
def interact_client(interact_dispatcher: Dispatcher) -> InteractClient:
    """A client of ``interact_dispatcher`` that sends API Gateway REST events."""
    return InteractClient(interact_dispatcher)
