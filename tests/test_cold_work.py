"""A cold container does only the work its requests need: what a fresh process imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from clonesquad_interact.manager import ENV_BLOCK, ENV_PLUGINS, ENV_TRACE
from clonesquad_interact.testing import apigw_rest_event

#: Serves the events (JSON, standard input) in a fresh interpreter through the Lambda
#: handler and reports, after each, its status and whether jsonschema and PyYAML were
#: imported.
PROGRAM = """
import json, sys
from clonesquad_interact.lambda_handler import handler

report = []
for event in json.load(sys.stdin):
    answer = handler(event, None)
    report.append(
        {
            "status": answer["statusCode"],
            "body": json.loads(answer["body"]),
            "jsonschema": "jsonschema" in sys.modules,
            "yaml": "yaml" in sys.modules,
        }
    )
print(json.dumps(report))
"""


def test_valid_input_is_served_without_importing_jsonschema_or_yaml() -> None:
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in (ENV_PLUGINS, ENV_BLOCK, ENV_TRACE) and name != "LOG_LEVEL"
    }
    events = [apigw_rest_event("GET", "/"), apigw_rest_event("GET", "/", params={"nosuch": "1"})]
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    valid, invalid = json.loads(result.stdout.splitlines()[-1])
    assert valid["status"] == 200
    assert "operations" in valid["body"]
    assert (valid["jsonschema"], valid["yaml"]) == (False, False)
    # Input the compiled check refuses is explained by jsonschema, imported for it.
    assert invalid["status"] == 400
    assert "params.nosuch: unknown parameter" in invalid["body"]["error"]["message"]
    assert invalid["jsonschema"] is True
