"""Exceptions vprkit raises. Each carries a message a user can act on.

The CLI prints ``VprkitError`` messages without a traceback and exits with status 1 (2 for bad
usage, as Typer does).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "PluginConflictError",
    "PluginError",
    "PluginLoadError",
    "UnknownNameError",
    "VprkitError",
]


class VprkitError(Exception):
    """Base class: an error whose message is meant for the user."""


class PluginError(VprkitError):
    """A plugin is malformed (bad spec, bad hook, bad factory)."""


class PluginLoadError(PluginError):
    """A plugin's module could not be imported; names the plugin and its distribution."""

    def __init__(self, plugin: str, distribution: str, cause: BaseException):
        self.plugin = plugin
        self.distribution = distribution
        self.cause = cause
        super().__init__(
            f"vprkit plugin {plugin!r} (from distribution {distribution!r}) failed to load: "
            f"{type(cause).__name__}: {cause}. Fix or uninstall {distribution!r}, or skip it with "
            f"VPRKIT_DISABLE_PLUGINS={plugin}"
        )


class PluginConflictError(PluginError):
    """Two plugins register the same name for the same kind of method."""


class UnknownNameError(VprkitError, KeyError):
    """A method name that no plugin registers; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(VprkitError, ValueError):
    """A configuration file or override is invalid.

    ``field``: the setting the message is about, named as the library calls it (the message starts
    with it, e.g. ``classifier_settings``); the CLI replaces it with the flag that sets it
    (:data:`vprkit.cli.options.FIELD_FLAGS`).
    """

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field


class DataError(VprkitError, ValueError):
    """A dataset, image list or coordinate array is invalid; the message names the file."""
