"""``vprkit index``: build a map bundle (database descriptors sorted by cell, index, manifest)."""

from __future__ import annotations

import os

import typer

from vprkit.cli.console import err, print_json
from vprkit.cli.options import (
    ClassifierOpt,
    DatasetOpt,
    DeviceOpt,
    IndexOpt,
    JsonOpt,
    OutOpt,
    PrecisionOpt,
    RerankerOpt,
    RerankerSetOpt,
    ResolutionOpt,
    SetOpt,
    SplitOpt,
    ThreadsOpt,
    VerifyContentOpt,
    WorkersOpt,
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
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    workers: WorkersOpt = 0,
    shard_rows: int = typer.Option(
        4096,
        "--shard-rows",
        min=1,
        help="Rows per descriptor-store shard (the unit of resuming and of a torchrun split).",
    ),
    resolution: ResolutionOpt = None,
    reranker: RerankerOpt = None,
    reranker_set: RerankerSetOpt = None,
    json: JsonOpt = False,
) -> None:
    """Build a map bundle in OUT from a dataset's database split and trained models.

    With --reranker, the re-ranker's local features of the database are precomputed into the
    bundle (OUT/local_features), where `vprkit run --bundle OUT` and `vprkit localize` find them.

    The database descriptors are extracted once per (retriever, database) into the descriptor
    store of the cache and reused by every bundle (see `vprkit cache list`). Under torchrun
    (`torchrun --nproc_per_node G -m vprkit index build ...`) the ranks share the extraction and
    rank 0 writes the bundle."""
    from vprkit.config import parse_overrides
    from vprkit.pipeline.run import build_dataset_bundle
    from vprkit.runtime import Runtime

    runtime = Runtime.resolve(device, precision, threads, workers)
    runtime.apply_threads()
    rank = int(os.environ.get("RANK", "0"))
    with step_progress(enabled=not json and rank == 0) as progress:
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
            runtime=runtime,
            shard_rows=shard_rows,
            resolution=resolution,
            reranker=reranker,
            reranker_config=parse_overrides(reranker_set or []),
        )
    if bundle is None:  # a torchrun rank other than 0: its share is in the store, rank 0 reports
        return
    summary = {"bundle": str(bundle.root), "manifest": bundle.manifest, "memory_bytes": bundle.memory_bytes()}
    bundled = sorted(p.name for p in (bundle.root / "local_features").glob("[!.]*"))
    if bundled:
        summary["local_features"] = [str(bundle.root / "local_features" / name) for name in bundled]
    if json:
        print_json(summary)
    else:
        db = bundle.manifest.get("database", {})
        err.print(
            f"[green]bundle written[/] {bundle.root}: {db.get('count', 0)} database rows, "
            f"{db.get('in_cells', 0)} inside the classifier's cells, index {bundle.index_name}"
            + (f", local features in {bundle.root / 'local_features'}" if bundled else "")
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="index")
