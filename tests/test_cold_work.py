"""A cold container does only the work its requests need: what a fresh process imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from clonesquad_interact.manager import ENV_BLOCK, ENV_PLUGINS, ENV_TRACE
from clonesquad_interact.testing import apigw_rest_event

#: Serves the events (JSON, standard input) in a fresh interpreter through the Lambda
#: handler and reports, after each, its status and whether jsonschema and PyYAML were
#: imported.
PROGRAM = """
import json, sys
from clonesquad_interact.lambda_handler import handler

DEFERRED = set(sys.argv[1:])

report = []
for event in json.load(sys.stdin):
    answer = handler(event, None)
    report.append(
        {
            "status": answer["statusCode"],
            "body": json.loads(answer["body"]),
            "jsonschema": "jsonschema" in sys.modules,
            "yaml": "yaml" in sys.modules,
            "modules": sorted(name for name in sys.modules if name in DEFERRED),
        }
    )
print(json.dumps(report))
"""


#: Modules that only some requests need: a cold ``GET /`` imports none of them (the
#: scheduled events and their schedules, the fleet read from EC2, tag patterns,
#: maintenance windows and time zones, the producer, gzip for encoded State values,
#: hashlib for CPU metric ids).
DEFERRED = (
    "clonesquad_interact.scheduled",
    "clonesquad_interact.schedules",
    "clonesquad_interact.plugins.instances",
    "clonesquad_interact.plugins.patterns",
    "clonesquad_interact.plugins.maintenance",
    "zoneinfo",
    "clonesquad_interact.producer",
    "gzip",
    "hashlib",
)


def _serve_cold(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Serve ``events`` in a fresh interpreter; what it reports after each."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in (ENV_PLUGINS, ENV_BLOCK, ENV_TRACE) and name != "LOG_LEVEL"
    }
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, *DEFERRED],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: list[dict[str, Any]] = json.loads(result.stdout.splitlines()[-1])
    return report


def test_valid_input_is_served_without_importing_jsonschema_or_yaml() -> None:
    events = [apigw_rest_event("GET", "/"), apigw_rest_event("GET", "/", params={"nosuch": "1"})]
    valid, invalid = _serve_cold(events)
    assert valid["status"] == 200
    assert "operations" in valid["body"]
    assert (valid["jsonschema"], valid["yaml"]) == (False, False)
    # Input the compiled check refuses is explained by jsonschema, imported for it.
    assert invalid["status"] == 400
    assert "params.nosuch: unknown parameter" in invalid["body"]["error"]["message"]
    assert invalid["jsonschema"] is True


def test_a_request_imports_only_what_its_operation_needs() -> None:
    (root,) = _serve_cold([apigw_rest_event("GET", "/")])
    assert root["status"] == 200
    names = {operation["name"] for operation in root["body"]["operations"]}
    # Every built-in plugin is loaded (the fleet's, instance control's, the scheduler's)...
    assert {"fleet/status", "control/instances/{list}", "scheduler/{key}"} <= names
    assert root["modules"] == []  # ...and none of the modules only other requests need


def test_a_json_document_over_the_limits_is_refused_without_importing_yaml() -> None:
    bodies = {
        "[" * 40 + "]" * 40: "nested too deeply",
        "[0" + ",0" * 10_000 + "]": "more than 10000 values",
        "[" * 100_000: "nested too deeply",
    }
    events = [apigw_rest_event("POST", "/configuration", body=body) for body in bodies]
    for answer, said in zip(_serve_cold(events), bodies.values(), strict=True):
        assert answer["status"] == 400
        assert said in answer["body"]["error"]["message"]
        assert answer["yaml"] is False
