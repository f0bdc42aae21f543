"""Finding plugins: a fresh pluggy plugin manager for each dispatcher.

Plugins come from four places, registered in this order:

1. the built-in plugins (modules under ``clonesquad_interact.plugins``);
2. the entry-point group ``clonesquad_interact`` of installed distributions;
3. module names listed (comma- or space-separated) in ``CLONESQUAD_INTERACT_PLUGINS``;
4. objects handed to the dispatcher.

Any of them can be blocked by name (the built-ins by module name, entry points by
entry-point name), with ``block=`` or ``CLONESQUAD_INTERACT_BLOCK_PLUGINS``.
``CLONESQUAD_INTERACT_TRACE_PLUGINS=1`` logs every hook call.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import FunctionType, MappingProxyType, MethodType, ModuleType
from typing import Any

import pluggy
import structlog

from . import hookspecs
from .deployment import PluginInfo
from .errors import PluginError

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "ENV_BLOCK",
    "ENV_PLUGINS",
    "ENV_TRACE",
    "OPT_IN_PLUGINS",
    "PluginInfo",
    "PluginSet",
    "load_plugins",
]

logger = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "clonesquad_interact"
ENV_PLUGINS = "CLONESQUAD_INTERACT_PLUGINS"
ENV_BLOCK = "CLONESQUAD_INTERACT_BLOCK_PLUGINS"
ENV_TRACE = "CLONESQUAD_INTERACT_TRACE_PLUGINS"

#: The built-in plugins, registered exactly like third-party ones.
BUILTIN_PLUGINS = (
    "clonesquad_interact.plugins.root",
    "clonesquad_interact.plugins.catalogue",
    "clonesquad_interact.plugins.configuration",
    "clonesquad_interact.plugins.scheduler",
    "clonesquad_interact.plugins.notify",
    "clonesquad_interact.plugins.discovery",
    "clonesquad_interact.plugins.fleet",
    "clonesquad_interact.plugins.metrics",
    "clonesquad_interact.plugins.debug",
    "clonesquad_interact.plugins.control",
    "clonesquad_interact.plugins.instancecontrol",
    "clonesquad_interact.plugins.backup",
)

#: Built-in plugins loaded only when their setting is set (module -> setting), so that
#: a request pays nothing for them otherwise. The module's ``plugin(environ)`` makes
#: the plugin object of one dispatcher (``None``: nothing to register).
OPT_IN_PLUGINS: Mapping[str, str] = MappingProxyType(
    {"clonesquad_interact.plugins.policy": "CLONESQUAD_INTERACT_ACCESS_POLICY"}
)


#: What pluggy can take for a hook implementation from a module's namespace.
_HOOKABLE = (FunctionType, MethodType, staticmethod, classmethod)


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, quicker to register a module.

    pluggy looks every name of a plugin up with :func:`inspect.getattr_static` (so
    that no property runs), and a plugin module's names are mostly what it imports.
    A module's own namespace runs no code when read: a value that pluggy could not
    take for a hook implementation (not a function or method) is skipped here,
    everything else is left to pluggy (its documented place to choose what is
    looked at, :meth:`pluggy.PluginManager.parse_hookimpl_opts`).
    """

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        if isinstance(plugin, ModuleType):
            value = vars(plugin).get(name)
            if value is not None and not isinstance(value, _HOOKABLE):
                return None
        return super().parse_hookimpl_opts(plugin, name)


@dataclass(frozen=True, slots=True)
class PluginSet:
    """A plugin manager and where each of its plugins came from."""

    manager: pluggy.PluginManager
    #: entry-point plugin name -> (distribution name, version)
    distributions: Mapping[str, tuple[str, str]]

    def describe(self) -> list[PluginInfo]:
        """Every registered plugin with the hooks it implements, sorted by name."""
        infos = []
        for name, plugin in self.manager.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(h.name for h in self.manager.get_hookcallers(plugin) or ()))
            distribution, version = self.distributions.get(name, (None, None))
            if distribution is None and (name in BUILTIN_PLUGINS or name in OPT_IN_PLUGINS):
                distribution, version = _OWN_DISTRIBUTION, _own_version()
            infos.append(PluginInfo(name, hooks, distribution, version))
        return sorted(infos, key=lambda info: info.name)

    def named_contributions(
        self,
        hook_name: str,
        expected: type,
        name_of: Callable[[Any], str],
        claim: str,
        gives_way: Callable[[Any], bool] | None = None,
    ) -> dict[str, tuple[str, Any]]:
        """:meth:`contributions` by name (``name_of(item)``): ``{name: (plugin name, item)}``.

        :param claim: what the error says of a name two plugins contribute
            (``"producer 'x' is contributed"``... is written as ``claim.format(name=...)``).
        :param gives_way: whether an item is a fallback that another plugin's item of
            the same name replaces (instead of the two being an error).
        :raises PluginError: as :meth:`contributions`, or two plugins contribute one name.
        """
        found: dict[str, tuple[str, Any]] = {}
        for plugin, item in self.contributions(hook_name, expected):
            name = name_of(item)
            other = found.get(name)
            if other is not None and gives_way is not None:
                if gives_way(item):
                    continue
                if gives_way(other[1]):
                    other = None
            if other is not None:
                first, second = sorted((other[0], plugin))
                raise PluginError(
                    f"{claim.format(name=repr(name))} by two plugins: {first!r} and {second!r}"
                )
            found[name] = (plugin, item)
        return found

    def contributions(
        self, hook_name: str, expected: type | tuple[type, ...]
    ) -> list[tuple[str, Any]]:
        """Call a start-up hook plugin by plugin: ``(plugin name, item)`` for each item returned.

        Plugins are called in pluggy's order (the last registered first).

        :raises PluginError: a plugin failed, or returned something other than ``expected``.
        """
        caller = getattr(self.manager.hook, hook_name)
        items: list[tuple[str, Any]] = []
        for impl in reversed(caller.get_hookimpls()):
            if impl.wrapper or impl.hookwrapper:
                raise PluginError(
                    f"plugin {impl.plugin_name!r}: {hook_name} is called once per plugin to "
                    "learn what each contributes; it cannot be a wrapper"
                )
            self.manager.trace("start-up hook", hook_name, "of plugin", impl.plugin_name)
            try:
                returned = impl.function()
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc!r}"
                ) from exc
            for item in returned or ():
                if not isinstance(item, expected):
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} returned {item!r} from {hook_name}; "
                        f"expected {_type_names(expected)} objects"
                    )
                items.append((impl.plugin_name, item))
        return items


def _type_names(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)


def _split_names(value: str | None) -> list[str]:
    """Names from an environment variable: comma- or space-separated."""
    return [name for name in re.split(r"[,\s]+", value or "") if name]


def load_plugins(
    plugins: Iterable[object] = (),
    *,
    environ: Mapping[str, str],
    block: Iterable[str] = (),
    builtins: bool = True,
    entry_points: bool = True,
) -> PluginSet:
    """Build a fresh plugin manager with every plugin found.

    :raises PluginError: a plugin cannot be imported, or implements a hook that
        does not exist (a misspelt name) or with arguments the hook does not have.
    """
    manager = _PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for name in [*block, *_split_names(environ.get(ENV_BLOCK))]:
        manager.set_blocked(name)
    if builtins:
        for module_name in BUILTIN_PLUGINS:
            _register_module(manager, module_name, origin="built-in plugin")
        for module_name, setting in OPT_IN_PLUGINS.items():
            if environ.get(setting, "").strip():
                _register_opt_in(manager, module_name, environ)
    distributions = _load_entry_points(manager) if entry_points else {}
    for module_name in _split_names(environ.get(ENV_PLUGINS)):
        _register_module(manager, module_name, origin=f"plugin named in {ENV_PLUGINS}")
    for plugin in plugins:
        _register(manager, plugin, _name_of(manager, plugin))
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc} (hooks are: {', '.join(_hook_names())})") from None
    if environ.get(ENV_TRACE, "").lower() in ("1", "true", "yes"):
        _trace(manager, logger.debug)
    return PluginSet(manager, distributions)


#: The distribution of the built-in plugins.
_OWN_DISTRIBUTION = "clonesquad-interact"


def _own_version() -> str | None:
    """This distribution's version (the package's own, where it is not installed)."""
    try:
        return importlib.metadata.version(_OWN_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        from .version import __version__

        return __version__


def _hook_names() -> list[str]:
    return sorted(
        name
        for name in dir(hookspecs)
        if hasattr(getattr(hookspecs, name), "clonesquad_interact_spec")
    )


def _name_of(manager: pluggy.PluginManager, plugin: object) -> str:
    """A readable name for a plugin object: its ``__name__``, else its class's."""
    name = getattr(plugin, "__name__", None)
    if not isinstance(name, str) or not name:
        kind = type(plugin)
        name = f"{kind.__module__}.{kind.__qualname__}"
    if manager.has_plugin(name) and manager.get_plugin(name) is not plugin:
        name = f"{name}#{id(plugin):x}"
    return name


def _register(manager: pluggy.PluginManager, plugin: object, name: str | None) -> None:
    if manager.is_registered(plugin):
        return
    try:
        manager.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from None
    except ValueError as exc:
        raise PluginError(f"cannot register plugin {name or plugin!r}: {exc}") from None


def _register_module(manager: pluggy.PluginManager, module_name: str, *, origin: str) -> None:
    if manager.is_blocked(module_name) or manager.has_plugin(module_name):
        return
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(f"{origin} {module_name!r} cannot be imported: {exc!r}") from exc
    _register(manager, module, module_name)


def _register_opt_in(
    manager: pluggy.PluginManager, module_name: str, environ: Mapping[str, str]
) -> None:
    if manager.is_blocked(module_name) or manager.has_plugin(module_name):
        return
    try:
        plugin = importlib.import_module(module_name).plugin(environ)
    except Exception as exc:
        raise PluginError(f"built-in plugin {module_name!r} cannot be made: {exc!r}") from exc
    if plugin is not None:
        _register(manager, plugin, module_name)


def _load_entry_points(manager: pluggy.PluginManager) -> dict[str, tuple[str, str]]:
    distributions: dict[str, tuple[str, str]] = {}
    for dist in importlib.metadata.distributions():
        for entry_point in dist.entry_points:
            if entry_point.group != ENTRY_POINT_GROUP:
                continue
            name = entry_point.name
            dist_name = dist.metadata["Name"] or "?"
            if name in distributions:
                other = distributions[name][0]
                if other != dist_name:
                    raise PluginError(
                        f"two distributions declare the plugin {name!r}: {other} and "
                        f"{dist_name}; uninstall one of them"
                    )
                continue  # the same distribution found twice on sys.path
            if manager.is_blocked(name) or manager.has_plugin(name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {name!r} ({entry_point.value}) of distribution {dist_name} "
                    f"{dist.version} cannot be loaded: {exc!r}; uninstall it or block it with "
                    f"{ENV_BLOCK}={name}"
                ) from exc
            _register(manager, plugin, name)
            distributions[name] = (dist_name, dist.version)
    return distributions


def _trace(manager: pluggy.PluginManager, write: Callable[..., Any]) -> None:
    manager.trace.root.setwriter(lambda message: write("hook", trace=message.rstrip()))
    manager.enable_tracing()
