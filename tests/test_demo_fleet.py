"""The demo fleet's reach into moto's internals: a moto that renamed them fails here, loudly.

moto has no API to make an instance's status checks impaired or an Availability Zone
report issues, so ``demo_fleet`` patches its internals (and only there).
"""

from __future__ import annotations

import boto3
import pytest

from demo_fleet import AMI, MOTO_INTERNALS_HELP, mark_impaired, mark_zone, moto_internals_problems


def test_moto_still_has_the_internals_the_demo_fleet_patches(aws: None) -> None:
    problems = moto_internals_problems()
    assert not problems, f"{MOTO_INTERNALS_HELP}: {'; '.join(problems)}"


def test_the_marks_are_what_the_ec2_api_answers(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    ec2 = boto3.client("ec2")
    launched = ec2.run_instances(ImageId=AMI, MinCount=2, MaxCount=2, InstanceType="t3.micro")
    sick, well = (instance["InstanceId"] for instance in launched["Instances"])
    mark_impaired(monkeypatch, {sick})
    mark_zone(monkeypatch, "eu-west-3c", "impaired")
    statuses = ec2.describe_instance_status(InstanceIds=[sick, well])["InstanceStatuses"]
    by_id = {status["InstanceId"]: status["InstanceStatus"]["Status"] for status in statuses}
    assert by_id == {sick: "impaired", well: "ok"}, MOTO_INTERNALS_HELP
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    states = {zone["ZoneName"]: zone["State"] for zone in zones}
    assert states["eu-west-3c"] == "impaired", MOTO_INTERNALS_HELP
    assert states["eu-west-3a"] == "available"
