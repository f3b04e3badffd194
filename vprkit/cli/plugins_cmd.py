"""``vprkit plugins``: what is installed, and from which distribution."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from vprkit.cli.console import out, print_json
from vprkit.cli.options import JsonOpt
from vprkit.plugins import plugin_infos, registered_specs
from vprkit.registry import KINDS, get_registered, missing_partitioner

app = typer.Typer(help="Installed vprkit plugins and the methods they register.", no_args_is_help=True)


def plugins_table() -> dict[str, list[dict[str, Any]]]:
    """Every registered method per kind with the plugin and distribution that provide it."""
    table: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        table[kind] = [
            {
                "name": name,
                "plugin": reg.plugin.name,
                "distribution": reg.plugin.distribution,
                "version": reg.plugin.version,
                "description": reg.spec.description,
                # a classifier whose partitioner is not installed: listed, but create() refuses it
                **({"missing_partitioner": missing} if (missing := missing_partitioner(reg.spec)) else {}),
            }
            for name, reg in registered_specs(kind).items()
        ]
    return table


@app.command("list")
def list_cmd(json: JsonOpt = False) -> None:
    """List every registered method per kind, with the distribution that provides it."""
    data = plugins_table()
    if json:
        print_json({"methods": data, "plugins": [vars(p) for p in plugin_infos()]})
        return
    table = Table(title="vprkit methods", show_lines=False)
    for col in ("kind", "name", "plugin", "distribution", "description"):
        table.add_column(col)
    for kind, rows in data.items():
        for row in rows:
            note = (
                f"[red](needs partitioner {row['missing_partitioner']!r}, not installed)[/] "
                if "missing_partitioner" in row
                else ""
            )
            table.add_row(kind, row["name"], row["plugin"], row["distribution"], note + row["description"])
    out.print(table)


@app.command("show")
def show_cmd(kind: str, name: str, json: JsonOpt = False) -> None:
    """Show one method's config options with their defaults (the papers')."""
    reg = get_registered(kind, name)
    fields = []
    for fname, field in reg.spec.config.model_fields.items():
        default = field.get_default(call_default_factory=True)
        fields.append({"option": fname, "default": default, "help": field.description or ""})
    if json:
        print_json(
            {
                "kind": kind,
                "name": name,
                "plugin": reg.plugin.name,
                "distribution": reg.plugin.distribution,
                "factory": reg.spec.factory,
                "description": reg.spec.description,
                "config": fields,
            }
        )
        return
    out.print(f"[bold]{kind} {name}[/] — {reg.spec.description}")
    out.print(f"plugin {reg.plugin.name!r} from {reg.plugin.distribution!r}; factory {reg.spec.factory}")
    table = Table("option", "default", "meaning")
    for f in fields:
        table.add_row(f["option"], repr(f["default"]), f["help"])
    out.print(table)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="plugins")
