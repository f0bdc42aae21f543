"""The public package: every name of ``__all__`` is there, imported when first asked for."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import clonesquad_interact


def test_every_public_name_is_the_object_its_module_defines() -> None:
    names = set(clonesquad_interact.__all__)
    assert set(clonesquad_interact._MODULES) == names - {"__version__"}
    for name in sorted(names - {"__version__"}):
        module = importlib.import_module(
            f"clonesquad_interact.{clonesquad_interact._MODULES[name]}"
        )
        assert getattr(clonesquad_interact, name) is getattr(module, name), name
    assert set(dir(clonesquad_interact)) >= names


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Requets'"):
        clonesquad_interact.Requets  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ImportError):
        from clonesquad_interact import Requets  # type: ignore[attr-defined]  # noqa: F401


def test_importing_the_package_imports_no_module_of_it_yet() -> None:
    program = (
        "import sys, clonesquad_interact\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('clonesquad_interact.'))\n"
        "print(loaded)\n"
        "from clonesquad_interact import Request\n"
        "print(Request.__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    before, module = result.stdout.splitlines()
    assert before == "['clonesquad_interact.version']"
    assert module == "clonesquad_interact.request"
