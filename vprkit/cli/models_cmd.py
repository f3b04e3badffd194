"""``vprkit models``: import the authors' released weights, list the releases, show a model's card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import JsonOpt, OutOpt, SetOpt
from vprkit.errors import ConfigError

_HUB = "torch.hub / Hugging Face (NAME = hub)"

app = typer.Typer(help="Model folders: import released weights, list releases, show model cards.", no_args_is_help=True)


@app.command("import")
def import_cmd(
    name: Annotated[str, typer.Argument(help="Method whose release format the file is in (dnc, cosplace...), or hub.")],
    weights: Annotated[
        str,
        typer.Argument(
            help="The weights file, or the name of a release (`vprkit models releases`); for hub, REPO:ENTRY."
        ),
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
    hub_kwargs: Annotated[
        Optional[list[str]],
        typer.Option(
            "--kwargs",
            help="hub: an argument of the entry, key=value (repeatable).",
            metavar="KEY=VALUE",
            rich_help_panel=_HUB,
        ),
    ] = None,
    hub_load_kwargs: Annotated[
        Optional[list[str]],
        typer.Option(
            "--load-kwargs",
            help="hub: an argument put over --kwargs when the folder is loaded offline (repeatable).",
            metavar="KEY=VALUE",
            rich_help_panel=_HUB,
        ),
    ] = None,
    trust_latest: Annotated[
        bool,
        typer.Option(
            "--trust-latest",
            help="hub: accept a GitHub branch, tag or no ref (code that can change) instead of a 40-hex commit.",
            rich_help_panel=_HUB,
        ),
    ] = False,
    hub_pins: Annotated[
        Optional[list[str]],
        typer.Option(
            "--pin",
            help="hub: commit of a repository the entry loads itself (nested torch.hub.load), owner/name=COMMIT.",
            metavar="REPO=COMMIT",
            rich_help_panel=_HUB,
        ),
    ] = None,
    input_size: Annotated[
        Optional[tuple[int, int]],
        typer.Option(
            "--input-size",
            help="hub: resize every image to H W pixels (e.g. 322 322).",
            metavar="H W",
            rich_help_panel=_HUB,
        ),
    ] = None,
    resize: Annotated[
        Optional[str],
        typer.Option(
            "--resize", help="hub: resize rule instead: none, shorter_side:N or square:N.", rich_help_panel=_HUB
        ),
    ] = None,
    size_multiple: Annotated[
        int,
        typer.Option(
            "--size-multiple",
            min=1,
            help="hub: image sides to the nearest multiple of N (DINOv2: 14).",
            rich_help_panel=_HUB,
        ),
    ] = 1,
    mean: Annotated[
        Optional[tuple[float, float, float]],
        typer.Option(
            "--mean",
            help="hub: normalisation mean, RGB in [0, 1] (default ImageNet's).",
            metavar="R G B",
            rich_help_panel=_HUB,
        ),
    ] = None,
    std: Annotated[
        Optional[tuple[float, float, float]],
        typer.Option(
            "--std",
            help="hub: normalisation standard deviation (default ImageNet's).",
            metavar="R G B",
            rich_help_panel=_HUB,
        ),
    ] = None,
    license_: Annotated[
        Optional[str],
        typer.Option(
            "--license",
            help="hub: the licence to record (default: read from the code's LICENSE file).",
            rich_help_panel=_HUB,
        ),
    ] = None,
    hub_weights: Annotated[
        Optional[Path],
        typer.Option(
            "--weights",
            help="hub: a (Hugging Face) safetensors file loaded strictly into the entry's module.",
            rich_help_panel=_HUB,
        ),
    ] = None,
    hub_output: Annotated[
        Optional[str],
        typer.Option(
            "--output",
            help="hub: which output is the descriptor: an index of a tuple or a dict key.",
            rich_help_panel=_HUB,
        ),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Turn released weights into a vprkit model folder (OUT) that run, localize, index build and train take.

    `vprkit models import hub REPO:ENTRY --out DIR` wraps a torch.hub entry point instead: REPO is
    a GitHub owner/name:<40-hex commit> or a folder with a hubconf.py; its code is trusted, runs now
    and at every load, and is cached with the folder (docs/methods/hub.md).
    """
    from vprkit.config import parse_overrides

    hub_options = {
        "--kwargs": hub_kwargs,
        "--load-kwargs": hub_load_kwargs,
        "--trust-latest": trust_latest,
        "--pin": hub_pins,
        "--input-size": input_size,
        "--resize": resize,
        "--size-multiple": size_multiple != 1,
        "--mean": mean,
        "--std": std,
        "--license": license_,
        "--weights": hub_weights,
        "--output": hub_output,
    }
    if name == "hub":
        _import_hub(
            weights,
            out_dir,
            kwargs=parse_overrides(hub_kwargs or []),
            load_kwargs=parse_overrides(hub_load_kwargs or []),
            trust_latest=trust_latest,
            pins=hub_pins or [],
            input_size=input_size,
            resize=resize,
            size_multiple=size_multiple,
            mean=mean,
            std=std,
            license=license_,
            weights=hub_weights,
            output=int(hub_output) if hub_output is not None and hub_output.lstrip("-").isdigit() else hub_output,
            json=json,
        )
        return
    given = [flag for flag, value in hub_options.items() if value]
    if given:
        raise ConfigError(f"{', '.join(given)}: options of `vprkit models import hub REPO:ENTRY`, not of {name!r}")
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


def _import_hub(source: str, out_dir: Path, *, json: bool, **options: Any) -> None:
    """``vprkit models import hub``: through the registered ``hub`` retriever's model class."""
    from vprkit.registry import get_spec

    model_class: Any = get_spec("retriever", "hub").load_factory()
    model, card = model_class.import_from_hub(
        source,
        out_dir,
        notify=lambda message: err.print(message, style="yellow", markup=False, highlight=False),
        **options,
    )
    if json:
        print_json({"out": str(out_dir), "fingerprint": model.fingerprint(), "card": card})
        return
    src = card.get("source", {})
    err.print(f"[green]imported[/] retriever 'hub' {src.get('repo')}:{src.get('entry')} → {out_dir}", highlight=False)
    out.print(
        f"{out_dir}\t{src.get('repo')}@{src.get('commit') or src.get('ref') or '-'}\tcode sha256 {src.get('code_sha256')}",
        highlight=False,
    )
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
    if source.get("type") == "hub":
        pin = source.get("commit") or f"{source.get('ref') or 'default branch'} (not pinned)"
        where = f"GitHub {source.get('repo')} @ {pin}" if source.get("host") == "github" else source.get("repo")
        console.print(
            f"  source: hub {where}, entry {source.get('entry')}({source.get('kwargs') or ''})", highlight=False
        )
        console.print(f"  code sha256: {source.get('code_sha256')} (cached in hub/)", highlight=False)
        for dep in (source.get("dependencies") or {}).values():
            console.print(f"  nested code: {dep.get('repo')} @ {dep.get('commit') or dep.get('ref')}", highlight=False)
        weights = source.get("weights") or {}
        fetched = ", ".join(
            f"{d.get('url')} (sha256 {str(d.get('sha256'))[:12]}…)" for d in weights.get("downloads", [])
        )
        if weights.get("from") == "file":
            console.print(f"  weights: {weights.get('file')} (sha256 {weights.get('sha256')})", highlight=False)
        else:
            console.print(f"  weights: from the entry{': ' + fetched if fetched else ''}", highlight=False)
        console.print(f"  licence: {card.get('license') or 'not stated'}", highlight=False)
    elif source.get("type") == "release":
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
