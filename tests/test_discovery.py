"""discovery: the deployment's settings, never credentials, and the caller's identity."""

from __future__ import annotations

import pytest

from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import OPERATOR_IDENTITY, InteractClient, instance_identity


def test_discovery_shows_the_settings_and_the_callers_identity(
    deployed_client: InteractClient, deployment: dict[str, str]
) -> None:
    identity = instance_identity("i-0adc6dab31524a8d1")
    answer = deployed_client.get("discovery", identity=identity)
    assert answer.status_code == 200
    body = answer.json()
    assert body["identity"] == identity
    assert body["discovery"]["GroupName"] == "test"
    assert body["discovery"]["ConfigurationTable"] == deployment["ConfigurationTable"]
    assert body["discovery"]["InteractQueue"] == deployment["InteractQueue"]


def test_discovery_never_shows_credentials(
    deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET",
        "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjEXAMPLETOKEN",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEKEYID",
        "DatabasePassword": "hunter2",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    client = InteractClient(Dispatcher(entry_points=False, aws=aws_clients))
    text = client.get("discovery").text
    for name, value in secrets.items():
        assert name not in text
        assert value not in text


def test_discovery_without_an_identity_is_403(deployed_client: InteractClient) -> None:
    answer = deployed_client.get("discovery", identity=None)
    assert answer.status_code == 403
    assert "SigV4" in answer.json()["error"]["message"]
    assert deployed_client.call("discovery").status == 403
    assert deployed_client.call("discovery", identity=OPERATOR_IDENTITY).status == 200


def test_an_identity_with_no_caller_is_not_an_identity(deployed_client: InteractClient) -> None:
    anonymous = {**OPERATOR_IDENTITY, "caller": None, "user": None, "userArn": None}
    assert deployed_client.get("discovery", identity=anonymous).status_code == 403


def test_configuration_urls_are_shown_without_their_credentials(
    deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    presigned = (
        "https://bucket.s3.amazonaws.com/c.yaml?X-Amz-Signature=abc123&X-Amz-Security-Token=tok"
    )
    monkeypatch.setenv("ConfigurationURLs", f"s3://cs/base.yaml;{presigned} https://u:pw@h/x.yaml")
    client = InteractClient(Dispatcher(entry_points=False, aws=aws_clients))
    shown = client.get("discovery").json()["discovery"]["ConfigurationURLs"]
    assert shown == "s3://cs/base.yaml;https://bucket.s3.amazonaws.com/c.yaml https://h/x.yaml"
