"""Hypothesis profiles of the test suite, loaded by ``conftest.py``.

* ``ci`` (the default, what ``.ci/run`` runs): each property test runs the number
  of examples it asks for with :func:`examples`, derandomized (the same examples on
  every run, so that a red CI is reproducible), with no example database and no
  deadline (moto's calls vary in time on a shared machine);
* ``thorough`` (``CLONESQUAD_INTERACT_HYPOTHESIS_PROFILE=thorough``): ten times as
  many, drawn afresh on each run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE_VARIABLE", "examples", "load"]

#: The environment variable naming the profile to load.
PROFILE_VARIABLE = "CLONESQUAD_INTERACT_HYPOTHESIS_PROFILE"
#: How many times the examples a test asks for each profile runs.
SCALES = {"ci": 1, "thorough": 10}

_F = TypeVar("_F", bound=Callable[..., Any])


def load() -> str:
    """Register the profiles and load the one :data:`PROFILE_VARIABLE` names."""
    common: dict[str, Any] = {
        "deadline": None,
        "database": None,
        "print_blob": True,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    }
    settings.register_profile("ci", derandomize=True, **common)
    settings.register_profile("thorough", derandomize=False, **common)
    name = os.environ.get(PROFILE_VARIABLE, "ci")
    if name not in SCALES:
        raise ValueError(f"{PROFILE_VARIABLE}={name!r}: the profiles are {', '.join(SCALES)}")
    settings.load_profile(name)
    return name


def examples(count: int) -> Callable[[_F], _F]:
    """The settings of a property test that runs ``count`` examples under ``ci``
    (scaled by the profile loaded)."""
    scale = SCALES.get(os.environ.get(PROFILE_VARIABLE, "ci"), 1)
    decorate: Callable[[_F], _F] = settings(max_examples=count * scale)
    return decorate
