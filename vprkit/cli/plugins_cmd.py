"""``vprkit plugins``: what is installed, and from which distribution."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from vprkit.cli.console import out, print_json
from vprkit.cli.options import JsonOpt
from vprkit.plugins import plugin_infos, registered_specs
from vprkit.registry import KINDS, get_registered, licensed, missing_partitioner

#: the kinds whose specs carry a model card (licence, paper, headline results)
MODEL_KINDS = ("classifier", "retriever")

LicenseOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--license",
        help="Only classifiers and retrievers whose card states this licence (e.g. MIT; repeat for several; "
        "'' for those whose authors state none).",
    ),
]

app = typer.Typer(help="Installed vprkit plugins and the methods they register.", no_args_is_help=True)


def _card(spec: Any) -> dict[str, Any]:
    card = getattr(spec, "card", None)
    if card is None:
        return {}
    return {
        "license": card.license,
        "paper": card.paper,
        "input": card.input,
        "weights": card.weights,
        "results": [vars(r) for r in card.results],
    }


def plugins_table(license: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every registered method per kind with the plugin and distribution that provide it
    (classifiers and retrievers with their card); ``license``: only the classifiers and retrievers
    with one of these licences, and no other kind."""
    table: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        if license is not None and kind not in MODEL_KINDS:
            continue
        names = licensed(kind, registered_specs(kind), license)
        table[kind] = [
            {
                "name": name,
                "plugin": reg.plugin.name,
                "distribution": reg.plugin.distribution,
                "version": reg.plugin.version,
                "description": reg.spec.description,
                # a classifier whose partitioner is not installed: listed, but create() refuses it
                **({"missing_partitioner": missing} if (missing := missing_partitioner(reg.spec)) else {}),
                **({"card": _card(reg.spec)} if kind in MODEL_KINDS else {}),
            }
            for name, reg in registered_specs(kind).items()
            if name in names
        ]
    return table


@app.command("list")
def list_cmd(license: LicenseOpt = None, json: JsonOpt = False) -> None:
    """List every registered method per kind, with the distribution that provides it (and, for
    classifiers and retrievers, the licence on their card)."""
    data = plugins_table(license)
    if json:
        print_json({"methods": data, "plugins": [vars(p) for p in plugin_infos()]})
        return
    table = Table(title="vprkit methods", show_lines=False)
    for col in ("kind", "name", "plugin", "distribution", "licence", "description"):
        table.add_column(col)
    for kind, rows in data.items():
        for row in rows:
            note = (
                f"[red](needs partitioner {row['missing_partitioner']!r}, not installed)[/] "
                if "missing_partitioner" in row
                else ""
            )
            terms = row["card"]["license"] or "not stated" if "card" in row else ""
            table.add_row(kind, row["name"], row["plugin"], row["distribution"], terms, note + row["description"])
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
                **({"card": _card(reg.spec)} if kind in MODEL_KINDS else {}),
                "config": fields,
            }
        )
        return
    out.print(f"[bold]{kind} {name}[/] — {reg.spec.description}")
    out.print(f"plugin {reg.plugin.name!r} from {reg.plugin.distribution!r}; factory {reg.spec.factory}")
    card = _card(reg.spec) if kind in MODEL_KINDS else {}
    if card:
        out.print(f"paper: {card['paper'] or '-'}; licence: {card['license'] or 'not stated'}", highlight=False)
        out.print(f"input: {card['input'] or '-'}; weights: {card['weights'] or '-'}", highlight=False)
        for r in card["results"]:
            out.print(f"  {r['benchmark']} {r['metric']} {r['value']:g} — {r['setting']}", highlight=False)
    table = Table("option", "default", "meaning")
    table.columns[1].overflow = "fold"  # long defaults (nested configs) wrap whole, never cut with an ellipsis
    for f in fields:
        table.add_row(f["option"], repr(f["default"]), f["help"])
    out.print(table)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="plugins")
