"""``vprkit localize``: where was this photo taken?"""

from __future__ import annotations

import sys
from json import dumps
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vprkit.cli.console import err, out
from vprkit.cli.options import (
    ClassifierSetOpt,
    DeviceOpt,
    JsonOpt,
    MmapOpt,
    PngOpt,
    PrecisionOpt,
    RerankerOpt,
    RerankerSetOpt,
    RerankKOpt,
    ResolutionOpt,
    ThreadsOpt,
    TopnOpt,
    flags_for_fields,
)
from vprkit.cli.progress import step_progress


def localize(
    images: Annotated[list[Path], typer.Argument(help="Image files to localize.")],
    bundle: Annotated[Path, typer.Option("--bundle", "-b", help="Map bundle folder (`vprkit index build`).")],
    topn: TopnOpt = 100,
    k: int = typer.Option(5, "--k", help="Places listed per image."),
    batch_size: int = typer.Option(32, "--batch-size", help="Images decoded and localised at a time (bounds memory)."),
    png: PngOpt = None,
    classifier_set: ClassifierSetOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    resolution: ResolutionOpt = None,
    reranker: RerankerOpt = None,
    rerank_k: RerankKOpt = 20,
    reranker_set: RerankerSetOpt = None,
    mmap: MmapOpt = False,
    json: JsonOpt = False,
) -> None:
    """Latitude/longitude, UTM, confidence and top-K places of each image, printed as each batch is
    done; optionally a PNG map per image (NAME.png for one image, NAME_<i>.png for several) and,
    with --reranker, the query beside its best database image with the inlier matches
    (NAME_matches.png)."""
    from vprkit.config import parse_overrides
    from vprkit.errors import ConfigError
    from vprkit.pipeline.bundle import MapBundle
    from vprkit.pipeline.localize_images import iter_localize, plot_localization, plot_matches
    from vprkit.pipeline.run import bundle_resolution
    from vprkit.runtime import Runtime

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if reranker not in (None, "none") and rerank_k < 1:
        raise ConfigError(f"--rerank-k must be at least 1, got {rerank_k}")
    settings = parse_overrides(classifier_set or [])
    missing = [str(p) for p in images if not p.is_file()]
    if missing:  # before the bundle is loaded
        raise ConfigError(f"{len(missing)} image(s) do not exist (first: {missing[0]})")
    runtime = Runtime.resolve(device, precision, threads)
    runtime.apply_threads()
    loaded = MapBundle.load(bundle, mmap=mmap)
    held = bundle_resolution(loaded)
    if resolution is not None and held is not None and resolution != held:
        # queries at another resolution than the database descriptors would be a silent mismatch
        raise ConfigError(
            f"--resolution {resolution:g}: the bundle {str(bundle)!r} was built at resolution {held:g}; "
            f"build one at {resolution:g} with `vprkit index build --resolution {resolution:g}` or drop the option"
        )
    with step_progress(enabled=len(images) > batch_size) as progress:
        with flags_for_fields():  # the settings are refused here, before anything is printed
            batches = iter_localize(
                loaded,
                images,
                topn=topn,
                k=k,
                batch_size=batch_size,
                classifier_settings=settings,
                progress=progress,
                runtime=runtime,
                reranker=reranker,
                rerank_k=rerank_k,
                reranker_config=parse_overrides(reranker_set or []),
            )
        done = 0
        if json:
            sys.stdout.write("[")  # one JSON list, written record by record as batches finish
        for records, loc in batches:
            for j, rec in enumerate(records):
                i = done + j
                if png is not None:
                    target = png if len(images) == 1 else png.with_name(f"{png.stem}_{i}{png.suffix}")
                    truth = (rec["true_east"], rec["true_north"]) if rec["true_east"] is not None else None
                    plot_localization(loaded, loc, j, target, title=Path(rec["image"]).name, truth=truth)
                    err.print(f"map: {target}", highlight=False)
                    matches = target.with_name(f"{target.stem}_matches{target.suffix}")
                    if plot_matches(loaded, loc, j, rec["image"], matches) is not None:
                        err.print(f"matches: {matches}", highlight=False)
                if json:
                    sys.stdout.write(("," if i else "") + "\n" + dumps(rec, default=str))
                else:
                    _print_record(rec)
            done += len(records)
            sys.stdout.flush()
    if json:
        sys.stdout.write("\n]\n")
        sys.stdout.flush()


def _print_record(rec: dict) -> None:
    table = Table(title=f"{rec['image']}", show_header=True, show_edge=False)
    for col in ("rank", "lat", "lon", "east", "north", "score", "source"):
        table.add_column(col, no_wrap=True, justify="left" if col == "source" else "right")
    for p in rec["places"]:
        table.add_row(
            str(p["rank"]),
            _fmt(p["lat"], 6),
            _fmt(p["lon"], 6),
            _fmt(p["east"], 1),
            _fmt(p["north"], 1),
            f"{p['score']:.3f}",
            _SHORT.get(p["source"], p["source"]),
        )
    out.print(table)
    if rec["confidence_std_m"] is not None:
        out.print(f"confidence: expert spread {rec['confidence_std_m']:.1f} m (small = the group experts agree)")
    if rec.get("inliers") is not None:
        out.print(f"re-ranked: the best place has {rec['inliers']} inlier matches", highlight=False)
    if rec.get("error_m") is not None:
        out.print(f"error: {rec['error_m']:.1f} m from the position the file name states", highlight=False)


# narrower labels for an 80-column terminal; the JSON keeps the full ones
_SHORT = {"database image": "database", "class coordinate": "class"}


def _fmt(x: float | None, digits: int) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def register(app: typer.Typer) -> None:
    app.command("localize")(localize)
