"""The ``vprkit`` command line: thin commands over library functions, one file per group.

Built-in command groups are added here; plugins add theirs through the ``vprkit_commands`` hook.
Errors meant for the user (:class:`~vprkit.errors.VprkitError`) are printed without a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from vprkit.errors import VprkitError

__all__ = ["build_app", "main"]


def _version_callback(value: bool) -> None:
    if value:
        from vprkit import __version__

        typer.echo(f"vprkit {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The Typer application with built-in groups and every plugin's commands."""
    from vprkit.plugins import get_plugin_manager

    app = typer.Typer(
        name="vprkit",
        help="City-wide visual place recognition: classify, retrieve, localize.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
    )

    @app.callback()
    def _root(
        version: Annotated[
            bool,
            typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
        ] = False,
    ) -> None:
        """City-wide visual place recognition: classify, retrieve, localize."""

    for register in _builtin_groups():
        register(app)
    get_plugin_manager().hook.vprkit_commands(app=app)
    return app


def _builtin_groups():
    """``register(app)`` of every built-in command module ``vprkit/cli/*_cmd.py``, sorted by name.

    Command modules must stay import-light: heavy libraries are imported inside the commands.
    """
    import importlib
    import pkgutil

    import vprkit.cli as package

    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.endswith("_cmd"))
    return [importlib.import_module(f"vprkit.cli.{name}").register for name in names]


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point."""
    from vprkit.cli.console import err

    try:
        app = build_app()
        app(args=argv, prog_name="vprkit")
    except VprkitError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)
