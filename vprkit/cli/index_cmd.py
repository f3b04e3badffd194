"""``vprkit index``: build a map bundle (database descriptors sorted by cell, index, manifest)."""

from __future__ import annotations

import typer

from vprkit.cli.console import err, print_json
from vprkit.cli.options import (
    ClassifierOpt,
    DatasetOpt,
    IndexOpt,
    JsonOpt,
    OutOpt,
    SetOpt,
    SplitOpt,
    VerifyContentOpt,
)
from vprkit.cli.progress import step_progress

app = typer.Typer(
    help="Map bundles: database descriptors sorted by cell, CSR offsets, the index.", no_args_is_help=True
)


@app.command("build")
def build(
    out: OutOpt,
    classifier: ClassifierOpt = "dnc",
    retriever: str = typer.Option(
        "cosplace", "--retriever", help="Retriever name (shipped checkpoint), model folder, or 'none'."
    ),
    dataset: DatasetOpt = "synthcity",
    split: SplitOpt = "test",
    index: IndexOpt = "flat",
    index_set: SetOpt = None,
    verify_content: VerifyContentOpt = False,
    json: JsonOpt = False,
) -> None:
    """Build a map bundle in OUT from a dataset's database split and trained models."""
    from vprkit.config import parse_overrides
    from vprkit.pipeline.run import build_dataset_bundle

    with step_progress(enabled=not json) as progress:
        bundle = build_dataset_bundle(
            out,
            classifier=classifier,
            retriever=retriever,
            dataset=dataset,
            split=split,
            index=index,
            index_config=parse_overrides(index_set or []),
            verify_content=verify_content,
            progress=progress,
        )
    summary = {"bundle": str(bundle.root), "manifest": bundle.manifest, "memory_bytes": bundle.memory_bytes()}
    if json:
        print_json(summary)
    else:
        db = bundle.manifest.get("database", {})
        err.print(
            f"[green]bundle written[/] {bundle.root}: {db.get('count', 0)} database rows, "
            f"{db.get('in_cells', 0)} inside the classifier's cells, index {bundle.index_name}"
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="index")
