"""CloneSquad's own configuration keys: the catalogue of what its main function
reads (scaling, scheduler, notifications, SSM...), each with its default,
format, stable flag and a one-line description.

The keys are data (``catalogue.json`` beside this module). An entry's ``format`` is
the name CloneSquad gives the format, which dumps show; ``accepts``, when present,
is the format values are checked against, where CloneSquad's name is not one (``""``,
``List of String``) or does not say what it reads (``ec2.schedule.min_instance_count``
is named ``PositiveInteger`` and read as a count or a percentage). The per-subfleet keys
are declared as templates (``subfleet.{SubfleetName}.state``), as CloneSquad
lists them. A plugin that declares one of these keys replaces its entry here.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from clonesquad_interact import ConfigurationKey, hookimpl
from clonesquad_interact.configuration import to_text

__all__ = ["catalogue"]


@cache
def catalogue() -> tuple[ConfigurationKey, ...]:
    """The keys of the catalogue, read once from the package data."""
    data = json.loads((files(__package__) / "catalogue.json").read_text("utf-8"))
    return tuple(
        ConfigurationKey(
            key=entry["key"],
            default=to_text(entry["default"]),
            format=entry.get("accepts", entry["format"]),
            description=entry["description"],
            stable=bool(entry["stable"]),
            default_value=entry["default"],
            label=entry["format"] if "accepts" in entry else None,
            catalogued=True,
        )
        for entry in data["keys"]
    )


@hookimpl
def register_configuration_keys() -> tuple[ConfigurationKey, ...]:
    return catalogue()
