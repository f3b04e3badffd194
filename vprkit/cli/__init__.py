"""The ``vprkit`` command line: thin commands over library functions, one file per group.

Built-in command groups are added here; plugins add theirs through the ``vprkit_commands`` hook
(a plugin command may not replace an existing one). Errors meant for the user
(:class:`~vprkit.errors.VprkitError`) are printed as one line without a traceback, exit status 1;
``VPRKIT_DEBUG=1`` shows the traceback too. Ctrl-C prints "interrupted", exit status 130.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer
from rich.markup import escape

from vprkit.errors import VprkitError

__all__ = ["build_app", "main"]


def _version_callback(value: bool) -> None:
    if value:
        from vprkit import __version__

        typer.echo(f"vprkit {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The Typer application with built-in groups and every plugin's commands."""
    from vprkit.plugins import add_plugin_commands

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
    add_plugin_commands(app)
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


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C: say so before Typer turns the interrupt into a silent exit status 130."""
    from vprkit.cli.console import err

    err.print("[yellow]interrupted[/]")
    raise KeyboardInterrupt


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point."""
    import signal

    from vprkit.cli.console import err

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)
    try:
        app = build_app()
        app(args=argv, prog_name="vprkit")
    except VprkitError as exc:
        if os.environ.get("VPRKIT_DEBUG", "") not in ("", "0"):
            err.print_exception()
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # one line, not wrapped
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
