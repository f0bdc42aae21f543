"""Packaging: the wheel holds what an installed copy needs, and an installed plugin works.

These tests run pip (the builds fetch setuptools from the package index), so they
are marked ``packaging``: ``pytest -m "not packaging"`` skips them.

Sources are copied to a temporary directory before pip builds them, so that the
builds leave no ``build/`` or ``*.egg-info`` behind in the working tree (and no
stale ``build/lib`` from an earlier build can slip into the wheel).
"""

from __future__ import annotations

import configparser
import importlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import clonesquad_interact
from clonesquad_interact.testing import InteractClient

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "clonesquad_interact"
EXAMPLE = ROOT / "examples" / "hello-plugin"
HELLO_ROUTE = "hello/(?P<name>[^/]+)"
HELLO_KEY = "hello.greeting"

#: Copying these would only slow the copy down or leak earlier build output.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".tox",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
)
#: Settings that would change which plugins a dispatcher loads.
_PLUGIN_SETTINGS = (
    "CLONESQUAD_INTERACT_PLUGINS",
    "CLONESQUAD_INTERACT_BLOCK_PLUGINS",
    "CLONESQUAD_INTERACT_TRACE_PLUGINS",
)
#: ...and those that would change how a pytest started by a test runs.
_PYTEST_SETTINGS = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")


def _pip(*args: str) -> None:
    """Run pip with this interpreter; a failure shows pip's own output."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


def _copy_sources(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, ignore=_NOT_SOURCES)
    return destination


def _example_version() -> str:
    with (EXAMPLE / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


# -------------------------------------------------------------------------
# The project's wheel
# -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per session."""
    work = tmp_path_factory.mktemp("wheel")
    sources = _copy_sources(ROOT, work / "src")
    _pip("wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(sources))
    built = sorted((work / "dist").glob("*.whl"))
    assert len(built) == 1, f"expected one wheel, pip wrote {built}"
    return built[0]


@pytest.fixture(scope="session")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_wheel_contains_the_package_its_plugins_schemas_and_data(wheel_names: set[str]) -> None:
    expected = {
        f"{PACKAGE}/__init__.py",
        f"{PACKAGE}/py.typed",
        f"{PACKAGE}/plugins/__init__.py",
        f"{PACKAGE}/plugins/root.py",
        f"{PACKAGE}/schemas/__init__.py",
        f"{PACKAGE}/schemas/root.json",
        f"{PACKAGE}/testing/__init__.py",
        f"{PACKAGE}/testing/pytest_plugin.py",
        f"{PACKAGE}/testing/events/apigw_rest.json",
        f"{PACKAGE}/testing/events/apigw_http.json",
        f"{PACKAGE}/testing/events/sqs_record.json",
    }
    expected |= {f"{PACKAGE}/plugins/{p.name}" for p in (ROOT / "plugins").glob("*.py")}
    expected |= {f"{PACKAGE}/schemas/{p.name}" for p in (ROOT / "schemas").glob("*.json")}
    events = ROOT / "src" / PACKAGE / "testing" / "events"
    expected |= {f"{PACKAGE}/testing/events/{p.name}" for p in events.glob("*.json")}
    assert sorted(expected - wheel_names) == []


def test_wheel_installs_nothing_outside_the_package(wheel_names: set[str]) -> None:
    assert [n for n in wheel_names if n.startswith(("plugins/", "schemas/"))] == []
    dist_info = re.compile(r"clonesquad_interact-[^/]+\.dist-info")
    top_level = {name.split("/", 1)[0] for name in wheel_names}
    assert {n for n in top_level if n != PACKAGE and not dist_info.fullmatch(n)} == set()


def test_wheel_declares_the_pytest_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(name).decode("utf-8")
    entry_points = configparser.ConfigParser()
    entry_points.read_string(text)
    assert dict(entry_points["pytest11"]) == {PACKAGE: f"{PACKAGE}.testing.pytest_plugin"}


# -------------------------------------------------------------------------
# The example plugin, installed
# -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of examples/hello-plugin (pip builds in the source tree)."""
    return _copy_sources(EXAMPLE, tmp_path_factory.mktemp("example") / "hello-plugin")


@pytest.fixture(scope="module")
def hello_target(tmp_path_factory: pytest.TempPathFactory, example_copy: Path) -> Path:
    """The example installed with ``pip install --target``: its modules and a real .dist-info."""
    target = tmp_path_factory.mktemp("site")
    _pip("install", "--no-deps", "-q", "--target", str(target), str(example_copy))
    return target.resolve()


@pytest.fixture
def hello_installed(hello_target: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The installed example on ``sys.path`` for one test; its modules are forgotten after."""
    for name in _PLUGIN_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert _modules_from(hello_target) == []
    monkeypatch.syspath_prepend(str(hello_target))
    yield hello_target
    for name in _modules_from(hello_target):
        del sys.modules[name]
    sys.path_importer_cache.pop(str(hello_target), None)
    importlib.invalidate_caches()


def _modules_from(root: Path) -> list[str]:
    names = []
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if isinstance(origin, str) and Path(origin).resolve().is_relative_to(root):
            names.append(name)
    return names


@pytest.fixture
def dispatcher(hello_installed: Path) -> clonesquad_interact.Dispatcher:
    return clonesquad_interact.Dispatcher(raise_unexpected=True)


def _hello(dispatcher: clonesquad_interact.Dispatcher) -> clonesquad_interact.Operation | None:
    found = [op for op in dispatcher.operations if op.name == HELLO_ROUTE]
    assert len(found) <= 1
    return found[0] if found else None


def test_installed_example_is_a_distribution(hello_installed: Path) -> None:
    distribution = importlib.metadata.distribution("clonesquad-interact-hello")
    assert distribution.version == _example_version()
    entry_points = distribution.entry_points.select(group="clonesquad_interact")
    assert [(ep.name, ep.value) for ep in entry_points] == [
        ("hello", "clonesquad_interact_hello.plugin")
    ]


def test_installed_example_registers_its_operation(
    dispatcher: clonesquad_interact.Dispatcher, hello_installed: Path
) -> None:
    operation = _hello(dispatcher)
    assert operation is not None
    assert operation.plugin == "hello"
    assert operation.is_regex
    assert operation.methods == frozenset({"GET"})
    # The schema is read from the installed package data, not from the source tree.
    assert not isinstance(operation.schema, dict)
    assert Path(str(operation.schema)).resolve().is_relative_to(hello_installed)
    assert dispatcher.schema(operation)["properties"]["params"]["properties"]["shout"] == {
        "type": "boolean",
        "description": "Shout the greeting (true/false, yes/no, 1/0).",
    }


def test_installed_example_is_listed_with_its_distribution(
    dispatcher: clonesquad_interact.Dispatcher,
) -> None:
    infos = {info.name: info for info in dispatcher.plugins.describe()}
    assert "hello" in infos, sorted(infos)
    info = infos["hello"]
    assert info.distribution == "clonesquad-interact-hello"
    assert info.version == _example_version()
    assert info.hooks == ("register_configuration_keys", "register_operations")


def test_installed_example_serves_requests(dispatcher: clonesquad_interact.Dispatcher) -> None:
    client = InteractClient(dispatcher)

    shouted = client.get("/hello/World?shout=true")
    assert shouted.status_code == 200, shouted.text
    assert shouted.json() == {"hello": "World", "shout": True}

    plain = client.get("/hello/World")
    assert plain.status_code == 200, plain.text
    assert plain.json() == {"hello": "World", "shout": False}

    listing = client.get("/").json()["operations"]
    # named as its OpenAPI path template, its regex beside it
    hello = {"name": "hello/{name}", "regex": HELLO_ROUTE, "methods": ["GET"]}
    assert hello.items() <= next(op for op in listing if op["name"] == "hello/{name}").items()


def test_installed_example_validates_with_its_schema(
    dispatcher: clonesquad_interact.Dispatcher,
) -> None:
    answer = InteractClient(dispatcher).get("/hello/World?shout=maybe")
    assert answer.status_code == 400, answer.text
    details = answer.json()["error"]["details"]
    assert [d["where"] for d in details] == ["params.shout"]


def test_installed_example_can_be_blocked(hello_installed: Path) -> None:
    dispatcher = clonesquad_interact.Dispatcher(block=["hello"], raise_unexpected=True)
    assert _hello(dispatcher) is None
    assert "hello" not in {info.name for info in dispatcher.plugins.describe()}
    assert HELLO_KEY not in dispatcher.configuration_keys
    assert InteractClient(dispatcher).get("/hello/World").status_code == 404


def test_installed_example_declares_its_configuration_key(
    dispatcher: clonesquad_interact.Dispatcher,
) -> None:
    key = dispatcher.configuration_keys[HELLO_KEY]
    assert key.plugin == "hello"
    assert key.default == "hello"


def test_example_tests_pass_against_the_installed_example(
    hello_target: Path, example_copy: Path, tmp_path: Path
) -> None:
    """The example's own five-line test, run by pytest with the pytest11 plugin loaded."""
    dropped = {*_PLUGIN_SETTINGS, *_PYTEST_SETTINGS}
    environ = {k: v for k, v in os.environ.items() if k not in dropped}
    environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(hello_target), os.environ.get("PYTHONPATH")])
    )
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    tests = str(example_copy / "tests")

    def run(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, tests],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    passed = run(environ)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"\b1 passed\b", passed.stdout), passed.stdout

    # The same test without the plugin fails: it exercises the installed example.
    blocked = run({**environ, "CLONESQUAD_INTERACT_BLOCK_PLUGINS": "hello"})
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert re.search(r"\b1 failed\b", blocked.stdout), blocked.stdout
