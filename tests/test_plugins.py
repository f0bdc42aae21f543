"""Finding plugins and what they contribute: sources, blocking, validation, start-up errors."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from clonesquad_interact import ConfigurationKey, Dispatcher, PluginError, hookimpl, hookspecs
from clonesquad_interact.manager import BUILTIN_PLUGINS, ENV_BLOCK, ENV_PLUGINS, ENV_TRACE

from helpers import OperationsPlugin, build, make_operation

README = Path(__file__).resolve().parents[1] / "README.md"
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable plugin module, as an operator would name in CLONESQUAD_INTERACT_PLUGINS."""
    name = "interact_env_plugin"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from clonesquad_interact import Operation, hookimpl

            @hookimpl
            def register_operations():
                return [Operation(route="from/env", handler=lambda r: "env",
                                  summary="Registered from the environment.", schema={})]
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def names(dispatcher: Dispatcher) -> set[str]:
    return {operation.name for operation in dispatcher.operations}


def test_builtins_are_plugins_like_any_other() -> None:
    dispatcher = build(block=())
    described = {info.name: info for info in dispatcher.plugins.describe()}
    for module in BUILTIN_PLUGINS:
        hooks = described[module].hooks
        assert "register_operations" in hooks or "register_configuration_keys" in hooks
    root = next(op for op in dispatcher.operations if op.name == "")
    assert root.plugin == "clonesquad_interact.plugins.root"


_MODULE_WITH_EVERY_KIND = """
import functools, json, math
from dataclasses import dataclass
from clonesquad_interact import hookimpl

class Holder:
    @hookimpl
    def register_operations(self):
        return []

    @staticmethod
    @hookimpl
    def register_configuration_keys():
        return []

@hookimpl
def register_operations():
    return []

@hookimpl(tryfirst=True)
def authorize_request(request, operation):
    return None

def helper():
    return None

bound = Holder().register_operations
static_in_module = staticmethod(register_operations)
partial = functools.partial(helper)
nothing = None
number = 3
"""


def test_module_plugins_are_read_as_pluggy_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manager skips a module's names that cannot be hooks without asking pluggy;
    for every name of every built-in plugin, and of a module holding every kind of
    value, it answers what pluggy answers."""
    import importlib

    import pluggy

    from clonesquad_interact.manager import _PluginManager

    (tmp_path / "every_kind_plugin.py").write_text(_MODULE_WITH_EVERY_KIND, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "every_kind_plugin", raising=False)
    crafted = importlib.import_module("every_kind_plugin")
    ours, pluggys = (
        _PluginManager(hookspecs.PROJECT_NAME),
        pluggy.PluginManager(hookspecs.PROJECT_NAME),
    )
    modules = [crafted, *(importlib.import_module(name) for name in BUILTIN_PLUGINS)]
    found = 0
    for module in modules:
        for name in dir(module):
            expected = pluggys.parse_hookimpl_opts(module, name)
            assert ours.parse_hookimpl_opts(module, name) == expected, (module, name)
            found += expected is not None
    options = ours.parse_hookimpl_opts(crafted, "authorize_request")
    assert options is not None
    assert options["tryfirst"] is True
    assert ours.parse_hookimpl_opts(crafted, "helper") is None
    assert found >= len(BUILTIN_PLUGINS) + 2


def test_plugins_named_in_the_environment_are_loaded(plugin_module: str) -> None:
    dispatcher = build(environ={ENV_PLUGINS: f" {plugin_module}, "})
    assert "from/env" in names(dispatcher)
    assert dispatcher.call("from/env").body == "env"
    operation = next(op for op in dispatcher.operations if op.name == "from/env")
    assert operation.plugin == plugin_module


def test_a_plugin_named_in_the_environment_that_cannot_be_imported_stops_start_up() -> None:
    with pytest.raises(PluginError, match=f"plugin named in {ENV_PLUGINS} 'no_such_module_x'"):
        build(environ={ENV_PLUGINS: "no_such_module_x"})


def test_plugins_can_be_blocked_by_name_by_argument_or_environment(plugin_module: str) -> None:
    environ = {ENV_PLUGINS: plugin_module}
    assert "from/env" not in names(build(environ=environ, block=[plugin_module]))
    blocked = build(environ={**environ, ENV_BLOCK: f"{' '.join(BUILTIN_PLUGINS)} {plugin_module}"})
    assert names(blocked) == set()
    assert blocked.call("").status == 404
    only_root_blocked = build(block=(), environ={ENV_BLOCK: BUILTIN_PLUGINS[0]})
    assert "" not in names(only_root_blocked)
    assert "configuration" in names(only_root_blocked)


def test_a_plugin_passed_in_is_registered_once_even_if_given_twice() -> None:
    plugin = OperationsPlugin(make_operation("once"))
    dispatcher = build(plugin, plugin)
    assert [op.name for op in dispatcher.operations].count("once") == 1


def test_each_dispatcher_has_its_own_plugin_manager() -> None:
    first = build(OperationsPlugin(make_operation("only/first")))
    second = build()
    assert first.plugins.manager is not second.plugins.manager
    assert "only/first" in names(first)
    assert "only/first" not in names(second)


def test_a_misspelt_hook_stops_start_up() -> None:
    class Misspelt:
        __name__ = "misspelt"

        @hookimpl
        def register_operation(self) -> list[Any]:  # missing the final s
            return []

    with pytest.raises(PluginError, match="unknown hook 'register_operation'"):
        build(Misspelt())


def test_a_hook_with_arguments_the_spec_does_not_have_stops_start_up() -> None:
    class WrongArguments:
        __name__ = "wrong-arguments"

        @hookimpl
        def authorize_request(self, request: Any, operation: Any, caller: Any) -> None:
            return None

    with pytest.raises(PluginError, match="caller"):
        build(WrongArguments())


def test_a_hook_may_take_fewer_arguments_than_the_spec() -> None:
    class Partial:
        __name__ = "partial"

        def __init__(self) -> None:
            self.seen: list[str] = []

        @hookimpl
        def authorize_request(self, operation: Any) -> None:
            self.seen.append(operation.name)

    plugin = Partial()
    assert build(plugin).call("").status == 200
    assert plugin.seen == [""]


def test_contributions_of_the_wrong_type_stop_start_up() -> None:
    class Wrong:
        __name__ = "wrong"

        @hookimpl
        def register_operations(self) -> list[Any]:
            return ["fleet/status"]

    with pytest.raises(
        PluginError, match=r"plugin 'wrong' returned 'fleet/status'.*expected Operation"
    ):
        build(Wrong())


def test_a_plugin_failing_at_registration_stops_start_up_naming_it() -> None:
    class Failing:
        __name__ = "failing"

        @hookimpl
        def register_operations(self) -> list[Any]:
            raise RuntimeError("boom")

    with pytest.raises(PluginError, match="plugin 'failing' failed in register_operations"):
        build(Failing())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"route": 42}, "must be a str"),
        ({"summary": ""}, "summary must be one non-empty line"),
        ({"summary": "two\nlines"}, "summary must be one non-empty line"),
        ({"methods": {"PUT"}}, "methods must be among"),
        ({"interfaces": {"smtp"}}, "interfaces are"),
        ({"interfaces": set()}, "at least one interface"),
        ({"handler": "not callable"}, "is not callable"),
    ],
)
def test_operations_are_checked_when_declared(fields: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"route": "x", "handler": lambda r: None, "summary": "S.", "schema": {}}
    with pytest.raises(PluginError, match=message):
        make_operation(**{**base, **fields})


def test_configuration_keys_are_collected_with_their_plugin() -> None:
    key = ConfigurationKey("app.disable", "0", "Bool", "Disable the main function.")
    dispatcher = build(OperationsPlugin(keys=[key], name="keys"))
    assert dispatcher.configuration_keys["app.disable"].default == "0"
    assert dispatcher.configuration_keys["app.disable"].plugin == "keys"


def test_a_configuration_key_declared_twice_stops_start_up() -> None:
    key = ConfigurationKey("app.disable", "0", "Bool", "Disable.")
    with pytest.raises(
        PluginError, match=r"'app\.disable' is declared by two plugins: 'a' and 'b'"
    ):
        build(OperationsPlugin(keys=[key], name="a"), OperationsPlugin(keys=[key], name="b"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"key": " padded"}, "non-empty text"), ({"default": 0}, "default must be text")],
)
def test_configuration_keys_are_checked_when_declared(fields: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"key": "k", "default": "", "format": "String", "description": "D."}
    with pytest.raises(PluginError, match=message):
        ConfigurationKey(**{**base, **fields})


def test_hook_calls_can_be_traced_in_the_log() -> None:
    from structlog.testing import capture_logs

    class Allow:
        __name__ = "allow"

        @hookimpl
        def authorize_request(self) -> bool:
            return True

    dispatcher = build(Allow(), environ={ENV_TRACE: "1"})
    with capture_logs() as logs:
        assert dispatcher.call("").status == 200
    traces = [entry["trace"] for entry in logs if entry["event"] == "hook"]
    assert any("authorize_request" in trace for trace in traces)
    with capture_logs() as logs:
        build(Allow()).call("")
    assert not [entry for entry in logs if entry["event"] == "hook"]


def hookspec_names() -> list[str]:
    return sorted(
        name
        for name in dir(hookspecs)
        if hasattr(getattr(hookspecs, name), f"{hookspecs.PROJECT_NAME}_spec")
    )


def test_the_kinds_of_hook_exist() -> None:
    assert hookspec_names() == [
        "authorize_access",
        "authorize_request",
        "register_configuration_keys",
        "register_middleware",
        "register_operations",
        "register_producers",
    ]


@pytest.mark.parametrize("name", hookspec_names())
def test_every_hook_is_documented_and_tested(name: str) -> None:
    spec = getattr(hookspecs, name)
    doc = spec.__doc__ or ""
    assert doc.strip().splitlines()[0].endswith("."), f"{name} needs a one-line summary"
    assert ":returns:" in doc
    assert f"`{name}`" in README.read_text(encoding="utf-8"), f"README must document {name}"
    implemented = re.compile(rf"def {name}\(")
    sources = [*TESTS.glob("test_*.py"), TESTS / "helpers.py"]
    assert any(implemented.search(path.read_text(encoding="utf-8")) for path in sources), (
        f"no test implements {name}"
    )


def write_distribution(site: Path, dist: str, version: str, entry_points: str) -> None:
    """A distribution's metadata as pip writes it into site-packages."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


def test_entry_point_plugins_are_found_and_listed_with_their_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin_module: str
) -> None:
    write_distribution(
        tmp_path, "acme-interact", "1.2.3", f"[clonesquad_interact]\nacme = {plugin_module}\n"
    )
    dispatcher = Dispatcher(environ={}, raise_unexpected=True)
    assert dispatcher.call("from/env").body == "env"
    acme = next(info for info in dispatcher.plugins.describe() if info.name == "acme")
    assert (acme.distribution, acme.version, acme.hooks) == (
        "acme-interact",
        "1.2.3",
        ("register_operations",),
    )
    assert "from/env" not in names(Dispatcher(environ={}, entry_points=False))
    assert "from/env" not in names(Dispatcher(environ={ENV_BLOCK: "acme"}))


def test_two_distributions_declaring_one_plugin_name_stop_start_up(
    tmp_path: Path, plugin_module: str
) -> None:
    for dist in ("acme-one", "acme-two"):
        write_distribution(
            tmp_path, dist, "1.0", f"[clonesquad_interact]\nacme = {plugin_module}\n"
        )
    with pytest.raises(PluginError, match="two distributions declare the plugin 'acme'"):
        Dispatcher(environ={})


def test_an_entry_point_that_cannot_be_loaded_stops_start_up_saying_how_to_block_it(
    tmp_path: Path, plugin_module: str
) -> None:
    write_distribution(
        tmp_path, "broken-interact", "0.1", "[clonesquad_interact]\nbroken = no_such_module_y\n"
    )
    with pytest.raises(PluginError, match=f"broken-interact 0.1.*{ENV_BLOCK}=broken"):
        Dispatcher(environ={})
    assert Dispatcher(environ={}, block=["broken"]).operations


def test_start_up_hooks_are_traced_too() -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        build(OperationsPlugin(make_operation("x"), name="traced"), environ={ENV_TRACE: "1"})
    traces = [entry["trace"] for entry in logs if entry["event"] == "hook"]
    assert any("register_operations of plugin traced" in trace for trace in traces)


def test_a_start_up_hook_cannot_be_a_wrapper() -> None:
    class Wrapping:
        __name__ = "wrapping"

        @hookimpl(wrapper=True)
        def register_operations(self) -> Any:
            return (yield)

    with pytest.raises(
        PluginError, match=r"'wrapping': register_operations .* cannot be a wrapper"
    ):
        build(Wrapping())


def test_plugin_objects_passed_in_get_readable_names() -> None:
    class Anonymous:
        def __init__(self, route: str) -> None:
            self.route = route

        @hookimpl
        def register_operations(self) -> list[Any]:
            return [make_operation(self.route)]

    first, second = Anonymous("one"), Anonymous("two")
    dispatcher = build(first, second, OperationsPlugin(make_operation("named"), name="named"))
    plugins = {op.name: op.plugin for op in dispatcher.operations}
    assert plugins["named"] == "named"
    qualname = f"{Anonymous.__module__}.{Anonymous.__qualname__}"
    assert {info.name.split("#")[0] for info in dispatcher.plugins.describe()} >= {
        qualname,
        "named",
    }
    assert len({info.name for info in dispatcher.plugins.describe()}) == len(
        dispatcher.plugins.describe()
    )
