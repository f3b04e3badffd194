"""``vprkit export``: descriptors, retrieval pairs and networks in the formats other tools read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vprkit.cli.console import err, print_json
from vprkit.cli.options import DeviceOpt, JsonOpt, PrecisionOpt, ThreadsOpt, TopnOpt
from vprkit.cli.progress import step_progress

app = typer.Typer(
    help="Export descriptors and retrieval pairs (hloc, VPR-methods-evaluation) or a retriever (ONNX).",
    no_args_is_help=True,
)

ExportBundleOpt = Annotated[Path, typer.Option("--bundle", "-b", help="Map bundle folder (`vprkit index build`).")]
ExportOutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder the exported files are written to.")]
QueryImagesOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--query-images",
        help="A folder of query images instead of the split's query sets (named <folder name>/<path>).",
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Query images decoded and run at a time.", min=1)]


def _runtime(device: str, precision: str, threads: Optional[int]) -> Any:
    from vprkit.runtime import Runtime

    return Runtime.resolve(device, precision, threads)


def _report(exported: Any, json: bool, line: str) -> None:
    if json:
        print_json({"files": [str(p) for p in exported.files], "manifest": exported.manifest})
    else:
        err.print(line, highlight=False)


@app.command("hloc")
def hloc(
    bundle: ExportBundleOpt,
    out: ExportOutOpt,
    queries: Optional[list[str]] = typer.Option(
        None,
        "--queries",
        help="Query set of the bundle's split (repeatable: queries_v1, v2...; 'all' = every set, the default).",
        metavar="NAME",
    ),
    query_images: QueryImagesOpt = None,
    k: int = typer.Option(20, "--k", help="Database images paired with each query (its top-K).", min=1),
    topn: TopnOpt = 100,
    retrieval_only: bool = typer.Option(
        False, "--retrieval-only", help="Search the whole database even when the bundle has a classifier."
    ),
    batch_size: BatchOpt = 32,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """hloc's global descriptors of the database and queries, and a retrieval pairs file per query set.

    global-feats.h5 holds one group per image name with its global_descriptor (float32, D); each
    pairs-<set>.txt holds every query's top-K database images as the bundle's pipeline ranks them
    (classify → retrieve when the bundle has a classifier). Names are paths relative to the split
    folder: database/<path>, <set>/<path>."""
    from vprkit.export.hloc import export_hloc

    runtime = _runtime(device, precision, threads)
    with step_progress(enabled=not json) as progress:
        exported = export_hloc(
            bundle,
            out,
            queries=queries,
            query_images=query_images,
            k=k,
            topn=topn,
            use_classifier=not retrieval_only,
            batch_size=batch_size,
            runtime=runtime,
            progress=progress,
        )
    m = exported.manifest
    sets = ", ".join(f"{s['pairs_file']} ({s['pairs']} pairs)" for s in m["query_sets"])
    _report(
        exported,
        json,
        f"[green]hloc export written[/] {out}: {m['features_file']} ({m['database']['count']} database + "
        f"{sum(s['count'] for s in m['query_sets'])} query descriptors, {m['dim']}-D), {sets}; {m['pipeline']}",
    )


@app.command("npy")
def npy(
    bundle: ExportBundleOpt,
    out: ExportOutOpt,
    queries: Optional[str] = typer.Option(
        None, "--queries", help="Query set of the bundle's split (default: its only one).", metavar="NAME"
    ),
    query_images: QueryImagesOpt = None,
    batch_size: BatchOpt = 32,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Descriptor dumps as VPR-methods-evaluation saves them (one query set).

    database_descriptors.npy and queries_descriptors.npy (float32, one row per image) with the image
    of every row in database_images_paths.txt and queries_images_paths.txt."""
    from vprkit.export.npy import export_npy

    runtime = _runtime(device, precision, threads)
    with step_progress(enabled=not json) as progress:
        exported = export_npy(
            bundle,
            out,
            queries=queries,
            query_images=query_images,
            batch_size=batch_size,
            runtime=runtime,
            progress=progress,
        )
    m = exported.manifest
    _report(
        exported,
        json,
        f"[green]npy export written[/] {out}: {m['database']['count']} database and {m['queries']['count']} "
        f"query descriptors ({m['queries']['name']}), {m['dim']}-D float32",
    )


@app.command("onnx")
def onnx(
    retriever: str = typer.Option(..., "--retriever", help="Retriever: a model folder or a registered name."),
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write (FILE.onnx)."),
    size: Optional[tuple[int, int]] = typer.Option(
        None,
        "--size",
        help="Input height and width (default: a square test transform's size).",
        metavar="H W",
    ),
    images: Optional[list[Path]] = typer.Option(
        None, "--images", help="Image files or folders the check runs on (default: generated images; repeatable)."
    ),
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """A retriever's network as an ONNX model, checked against onnxruntime.

    The input is (N, 3, H, W) float32 normalised images with a free batch axis N, the output
    (N, D) descriptors. The file is kept only if onnxruntime's descriptors match torch's float32
    ones within 1e-4 (max abs) on the check images."""
    from vprkit.export.onnx_model import export_onnx

    runtime = _runtime("cpu", "float32", threads)
    with runtime.active():
        exported = export_onnx(retriever, out, size=size, images=images or ())
    m = exported.manifest
    _report(
        exported,
        json,
        f"[green]onnx export written[/] {out}: {m['input']['name']} (N, 3, {m['input']['shape'][2]}, "
        f"{m['input']['shape'][3]}) → {m['output']['name']} (N, {m['output']['shape'][1]}); max abs difference "
        f"to torch {m['check']['max_abs_diff']:.2g} on {m['check']['images']} check images",
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="export")
