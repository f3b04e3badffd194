"""``vprkit models``: import the authors' released weights, list the releases, show a model's card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import JsonOpt, OutOpt, SetOpt

app = typer.Typer(help="Model folders: import released weights, list releases, show model cards.", no_args_is_help=True)


@app.command("import")
def import_cmd(
    name: Annotated[str, typer.Argument(help="Method whose release format the file is in (dnc, cosplace...).")],
    weights: Annotated[
        str, typer.Argument(help="The weights file, or the name of a release (`vprkit models releases`).")
    ],
    out_dir: OutOpt,
    set_: SetOpt = None,
    train_names: Annotated[
        Optional[Path],
        typer.Option(
            "--train-names",
            help="D&C: the training image list the release was trained on (one path per line, "
            "or the official cache/paths_<dataset>.torch).",
        ),
    ] = None,
    train_dataset: Annotated[
        Optional[Path],
        typer.Option("--train-dataset", help="D&C: the training folder (or dataset root) whose file list to use."),
    ] = None,
    class_table: Annotated[
        Optional[Path],
        typer.Option("--class-table", help="D&C: the official class cache cache/<dataset>_M<M>_N<N>_mipc<min>.torch."),
    ] = None,
    sha256: Annotated[
        Optional[str], typer.Option("--sha256", help="Refuse the file unless it has this SHA-256.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Turn released weights into a vprkit model folder (OUT) that run, localize, index build and train take."""
    from vprkit.config import parse_overrides
    from vprkit.models.release import import_model

    model, card = import_model(
        name,
        weights,
        out_dir,
        overrides=parse_overrides(set_ or []),
        train_names=train_names,
        train_dataset=train_dataset,
        class_table=class_table,
        sha256=sha256,
        progress=not json,
    )
    if json:
        print_json({"out": str(out_dir), "fingerprint": model.fingerprint(), "card": card})
        return
    source = card.get("source", {})
    err.print(f"[green]imported[/] {card.get('kind')} {card.get('method')!r} → {out_dir}", highlight=False)
    out.print(f"{out_dir}\t{source.get('file')}\tsha256 {source.get('sha256')}", highlight=False)
    _print_card(card, err)


@app.command("releases")
def releases_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Only this method's releases.")] = None,
    json: JsonOpt = False,
) -> None:
    """List the weights the authors published that `vprkit models import METHOD RELEASE` fetches."""
    from rich.table import Table

    rows = release_rows(name)
    if json:
        print_json({"releases": rows})
        return
    table = Table(title="released weights vprkit can import")
    for col in ("method", "release", "description", "licence"):
        table.add_column(col)
    for r in rows:
        table.add_row(f"{r['kind']} {r['method']}", r["release"], r["description"], r["license"])
    out.print(table)


def release_rows(name: str | None = None) -> list[dict[str, Any]]:
    """Every release of every method with an importer (or of ``name``)."""
    from vprkit.registry import get_spec, list_classifiers, list_retrievers

    rows = []
    for kind, names in (("classifier", list_classifiers()), ("retriever", list_retrievers())):
        for method in names:
            spec = get_spec(kind, method)
            if (name and method != name) or not getattr(spec, "importer", None):
                continue
            for r in getattr(spec, "releases", ()):
                rows.append(
                    {
                        "kind": kind,
                        "method": method,
                        "release": r.name,
                        "url": r.url,
                        "sha256": r.sha256 or None,
                        "description": r.description,
                        "license": r.license,
                        "source": r.source,
                        "config": dict(r.config),
                    }
                )
    return rows


@app.command("show")
def show_cmd(
    directory: Annotated[Path, typer.Argument(help="A model folder (trained, imported or shipped).")],
    json: JsonOpt = False,
) -> None:
    """Print a model folder's card: source, checksum, licence, descriptor size, test transform, classes."""
    from vprkit.models.artifact import read_manifest

    manifest = read_manifest(directory)
    card = manifest.get("card") or {
        "kind": manifest.get("kind"),
        "method": manifest.get("method"),
        "note": "written by a vprkit without model cards",
    }
    if json:
        print_json({"folder": str(directory), "fingerprint": manifest.get("fingerprint"), "card": card})
        return
    out.print(
        f"[bold]{directory}[/]: {card.get('kind')} {card.get('method')!r}, fingerprint "
        f"{str(manifest.get('fingerprint'))[:12]}",
        highlight=False,
    )
    _print_card(card, out)


def _print_card(card: dict[str, Any], console) -> None:
    source = card.get("source", {})
    if source.get("type") == "release":
        where = source.get("url") or source.get("file")
        console.print(f"  source: release {source.get('release') or '(file)'} — {where}", highlight=False)
        console.print(
            f"  sha256: {source.get('sha256')}; licence: {card.get('license') or 'not stated'}", highlight=False
        )
        if source.get("class_order"):
            console.print(f"  class order: {source['class_order']}", highlight=False)
    elif source:
        console.print(
            f"  source: trained on {source.get('dataset', '?')} (best epoch {source.get('best_epoch', '?')})",
            highlight=False,
        )
    if card.get("descriptor_dim"):
        console.print(f"  descriptor: {card['descriptor_dim']}-D", highlight=False)
    if card.get("test_transform"):
        console.print(f"  test transform: {card['test_transform']['summary']}", highlight=False)
    if card.get("class_table"):
        t = card["class_table"]
        console.print(
            f"  classes: {t['classes']} in {t['groups']} groups ({t['partitioner']} partition, {t['file']})",
            highlight=False,
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="models")
