"""vprkit's own entry-point loop and plugin manager, and :class:`SpecPlugin`, the plugin object
most plugins are.

vprkit, not pluggy, walks the ``vprkit`` entry-point group so that every failure names its
culprit: a plugin module that fails to import raises :class:`~vprkit.errors.PluginLoadError`
naming the plugin and its distribution; two distributions declaring one plugin name, or two
plugins registering one method name, raise :class:`~vprkit.errors.PluginConflictError` naming
both providers; a hook implementation that matches no hook specification (a misspelt hook)
is caught by ``check_pending()``.

``VPRKIT_DISABLE_PLUGINS=a,b`` blocks plugins by entry-point name before they are imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from vprkit import hookspecs
from vprkit.errors import PluginConflictError, PluginError, PluginLoadError
from vprkit.hookspecs import hookimpl
from vprkit.specs import SPEC_TYPES, MethodSpec

if TYPE_CHECKING:
    import typer
    from typer.models import CommandInfo, TyperInfo

__all__ = [
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "Registered",
    "SpecPlugin",
    "add_plugin_commands",
    "disabled_plugins",
    "get_plugin_manager",
    "hook_name",
    "plugin_infos",
    "registered_specs",
    "reset_plugins",
]

ENTRY_POINT_GROUP = "vprkit"
DISABLE_ENV = "VPRKIT_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: entry-point name, module (``pkg`` of ``pkg:plugin``), and the distribution that declared it."""

    name: str
    module: str
    distribution: str
    version: str


@dataclass(frozen=True)
class Registered:
    """A spec together with the plugin that registered it."""

    spec: MethodSpec
    plugin: PluginInfo


def hook_name(kind: str) -> str:
    """The hook that returns the specs of ``kind``: ``"partitioner"`` → ``"vprkit_partitioners"``."""
    return "vprkit_indexes" if kind == "index" else f"vprkit_{kind}s"


def _spec_hook(kind: str) -> Callable[[SpecPlugin], list[MethodSpec]]:
    def hook(self: SpecPlugin) -> list[MethodSpec]:
        return [spec for spec in self.specs if spec.kind == kind]

    hook.__name__ = hook.__qualname__ = hook_name(kind)
    hook.__doc__ = f"The {kind} specs given to this plugin."
    return hookimpl(hook)


class SpecPlugin:
    """A plugin that registers specs and nothing else: what most plugins are.

    ``plugin = SpecPlugin(PartitionerSpec(...), ClassifierSpec(...))`` in a package's import-light
    ``__init__.py``, named by the entry point as an object (``foo = "foo_pkg:plugin"``), implements
    each ``vprkit_<kind>s`` hook by returning the given specs of that kind, in the order given. A
    plugin that also adds commands (``vprkit_commands``) is a module of ``@hookimpl`` functions, or
    a subclass of this class with a ``@hookimpl`` method.
    """

    vprkit_partitioners = _spec_hook("partitioner")
    vprkit_classifiers = _spec_hook("classifier")
    vprkit_retrievers = _spec_hook("retriever")
    vprkit_indexes = _spec_hook("index")
    vprkit_rerankers = _spec_hook("reranker")
    vprkit_datasets = _spec_hook("dataset")

    def __init__(self, *specs: MethodSpec) -> None:
        for spec in specs:
            if not isinstance(spec, tuple(SPEC_TYPES.values())):
                kinds = ", ".join(t.__name__ for t in SPEC_TYPES.values())
                raise PluginError(f"SpecPlugin takes spec objects ({kinds}), not {type(spec).__name__}")
        self.specs = specs

    def __repr__(self) -> str:
        return f"SpecPlugin({', '.join(f'{spec.kind} {spec.name!r}' for spec in self.specs)})"


_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_infos: dict[str, PluginInfo] = {}
_specs: dict[str, dict[str, Registered]] = {}


def disabled_plugins() -> set[str]:
    """Names listed in ``VPRKIT_DISABLE_PLUGINS`` (comma or whitespace separated)."""
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.replace(",", " ").split() if part.strip()}


def _dist_of(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "<unknown distribution>", ""
    return dist.metadata["Name"] or dist.name, dist.version or ""


def _vprkit_entry_points() -> list[metadata.EntryPoint]:
    # Sorted so that loading order, and so every listing, is deterministic.
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))


def _load(pm: pluggy.PluginManager) -> dict[str, PluginInfo]:
    blocked = disabled_plugins()
    infos: dict[str, PluginInfo] = {}
    for ep in _vprkit_entry_points():
        dist_name, dist_version = _dist_of(ep)
        if ep.name in blocked:
            pm.set_blocked(ep.name)
            continue
        if ep.name in infos:
            first = infos[ep.name]
            if first.module == ep.module and first.distribution == dist_name:
                continue  # the same distribution seen twice on sys.path
            raise PluginConflictError(
                f"two distributions declare the vprkit plugin {ep.name!r}: "
                f"{first.distribution!r} ({first.module}) and {dist_name!r} ({ep.module}). "
                f"Uninstall one, or skip both with {DISABLE_ENV}={ep.name}"
            )
        try:
            plugin: object = ep.load()  # a module ("pkg") or an object in one ("pkg:plugin")
        except Exception as exc:
            raise PluginLoadError(ep.name, dist_name, exc) from exc
        try:
            pm.register(plugin, name=ep.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"vprkit plugin {ep.name!r} (from distribution {dist_name!r}) is invalid: {exc}") from exc
        infos[ep.name] = PluginInfo(ep.name, ep.module, dist_name, dist_version)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin = getattr(exc, "plugin", None)
        name = pm.get_name(plugin) if plugin is not None else "?"
        info = infos.get(name or "")
        where = f" (from distribution {info.distribution!r})" if info else ""
        raise PluginError(
            f"vprkit plugin {name!r}{where} implements a hook vprkit does not define "
            f"(misspelt?): {exc}. Known hooks: {', '.join(_hook_names())}"
        ) from exc
    return infos


def _hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if n.startswith("vprkit_"))


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every enabled ``vprkit`` entry point registered."""
    global _pm, _infos
    with _lock:
        if _pm is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            pm.add_hookspecs(hookspecs)
            infos = _load(pm)
            _pm, _infos = pm, infos
        return _pm


def plugin_infos() -> list[PluginInfo]:
    """Every loaded plugin, sorted by name."""
    get_plugin_manager()
    return [_infos[k] for k in sorted(_infos)]


def _collect(kind: str) -> dict[str, Registered]:
    pm = get_plugin_manager()
    spec_type = SPEC_TYPES[kind]
    hook = getattr(pm.hook, hook_name(kind))
    found: dict[str, Registered] = {}
    for impl in hook.get_hookimpls():
        info = _infos.get(impl.plugin_name) or PluginInfo(
            impl.plugin_name, repr(impl.plugin), "<registered at runtime>", ""
        )
        try:
            result: Any = impl.function()
            specs = list(result or [])
        except Exception as exc:
            raise PluginError(
                f"vprkit plugin {info.name!r} (from distribution {info.distribution!r}) failed in "
                f"{hook.name}(): {type(exc).__name__}: {exc}"
            ) from exc
        for spec in specs:
            if not isinstance(spec, spec_type):
                raise PluginError(
                    f"vprkit plugin {info.name!r} (from distribution {info.distribution!r}): "
                    f"{hook.name}() returned {type(spec).__name__}, expected {spec_type.__name__}"
                )
            if spec.name in found:
                other = found[spec.name].plugin
                raise PluginConflictError(
                    f"{kind} {spec.name!r} is registered twice: by plugin {other.name!r} "
                    f"(distribution {other.distribution!r}) and by plugin {info.name!r} "
                    f"(distribution {info.distribution!r}). Disable one with {DISABLE_ENV}=<plugin>"
                )
            found[spec.name] = Registered(spec, info)
    return dict(sorted(found.items()))


def _command_names(commands: list[CommandInfo], groups: list[TyperInfo]) -> set[str]:
    """Names a Typer app would give its commands (explicit, or from the function) and groups."""
    names = {c.name or (c.callback.__name__.replace("_", "-") if c.callback else "") for c in commands}
    return names | {g.name or "" for g in groups}


def add_plugin_commands(app: typer.Typer) -> None:
    """Call every plugin's ``vprkit_commands(app)``, one at a time, so that a hook that raises, or
    a command that would replace one already there (a built-in ``run``), names its plugin."""
    pm = get_plugin_manager()
    for impl in pm.hook.vprkit_commands.get_hookimpls():
        info = _infos.get(impl.plugin_name) or PluginInfo(
            impl.plugin_name, repr(impl.plugin), "<registered at runtime>", ""
        )
        n_commands, n_groups = len(app.registered_commands), len(app.registered_groups)
        before = _command_names(app.registered_commands, app.registered_groups)
        try:
            impl.function(app=app)
        except Exception as exc:
            raise PluginError(
                f"vprkit plugin {info.name!r} (from distribution {info.distribution!r}) failed in "
                f"vprkit_commands(): {type(exc).__name__}: {exc}"
            ) from exc
        added = _command_names(app.registered_commands[n_commands:], app.registered_groups[n_groups:])
        clash = sorted(before & added)
        if clash:
            raise PluginConflictError(
                f"vprkit plugin {info.name!r} (from distribution {info.distribution!r}) adds the "
                f"command(s) {clash}, which vprkit or another plugin already has; rename them, or "
                f"skip the plugin with {DISABLE_ENV}={info.name}"
            )


def registered_specs(kind: str) -> dict[str, Registered]:
    """Name → :class:`Registered` for one kind (``partitioner``, ``classifier``, ...), sorted."""
    if kind not in SPEC_TYPES:
        raise PluginError(f"unknown kind {kind!r}; kinds are {', '.join(SPEC_TYPES)}")
    with _lock:
        if kind not in _specs:
            _specs[kind] = _collect(kind)
        return _specs[kind]


def reset_plugins() -> None:
    """Forget the loaded plugins (tests, or after installing a plugin in a running process)."""
    global _pm, _infos
    with _lock:
        _pm, _infos = None, {}
        _specs.clear()
