"""One deployment for a whole test module: moto in-process, provisioned like a
CloneSquad deployment, with the demo fleet, its configuration, schedule and events,
backups and reports enabled, and the precomputed blob written once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
import pytest

from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.local.demo import DemoFleet, configuration_url, seed_demo
from clonesquad_interact.producer import produce
from clonesquad_interact.testing import DEPLOYMENT_ENVIRONMENT, provision
from clonesquad_interact.testing.pytest_plugin import AWS_TEST_ENVIRONMENT


@dataclass(frozen=True)
class Seeded:
    """A production dispatcher (unexpected errors answered, not raised) and what it serves."""

    dispatcher: Dispatcher
    settings: dict[str, str]
    fleet: DemoFleet


@contextmanager
def seeded_deployment(aws_clients: AWS) -> Iterator[Seeded]:
    """Set the deployment up in a fresh ``mock_aws``, its settings in the environment."""
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        for name, value in AWS_TEST_ENVIRONMENT.items():
            monkeypatch.setenv(name, value)
        with mock_aws():
            settings = provision(DEPLOYMENT_ENVIRONMENT, aws=aws_clients)
            settings["ConfigurationURLs"] = configuration_url(settings)
            bucket = settings["LoggingS3Path"].removeprefix("s3://").split("/")[0]
            settings["MetadataAndBackupS3Path"] = f"s3://{bucket}/metadata-and-backups/"
            for name, value in settings.items():
                monkeypatch.setenv(name, value)
            fleet = seed_demo(boto3.session.Session(), settings, endpoint_url=None)
            dispatcher = Dispatcher(entry_points=False, raise_unexpected=False, aws=aws_clients)
            produce(dispatcher)
            yield Seeded(dispatcher, settings, fleet)
