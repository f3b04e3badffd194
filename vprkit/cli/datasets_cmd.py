"""``vprkit datasets``: list, check, show, make and prepare datasets (thin over vprkit.data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import JsonOpt, OutOpt, PngOpt, SetOpt

app = typer.Typer(help="Dataset specs, checks, maps, generation and preparation.", no_args_is_help=True)

ZoneOpt = Annotated[
    Optional[str],
    typer.Option(
        "--zone", help="Re-project every image into this UTM zone (e.g. 10S) instead of refusing mixed zones."
    ),
]
KeepZonesOpt = Annotated[
    bool, typer.Option("--keep-mixed-zones", help="Multi-city datasets (MSLS): keep each image in its own UTM zone.")
]


@app.command("list")
def list_cmd(json: JsonOpt = False) -> None:
    """List registered datasets with their splits and published counts."""
    from rich.table import Table

    from vprkit.data.dataset_protocol import describe_datasets

    rows = describe_datasets()
    if json:
        print_json({"datasets": rows})
        return
    table = Table(title="vprkit datasets")
    for col in ("name", "splits (published count)", "prepare", "description"):
        table.add_column(col)
    for r in rows:
        counts = r["expected_counts"]
        splits = "\n".join(f"{s} ({counts[s]:,})" if s in counts else s for s in r["splits"]) or "-"
        table.add_row(r["name"], splits, "yes" if r["can_prepare"] else "-", r["description"])
    out.print(table)


@app.command("check")
def check_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset root (images/...) or a folder of images.")],
    json: JsonOpt = False,
    zone: ZoneOpt = None,
    verify: Annotated[str, typer.Option(help="Open and fully decode images with PIL: sample, all or none.")] = "sample",
    sample: Annotated[int, typer.Option(help="Images opened per split with --verify sample.")] = 200,
    name: Annotated[
        Optional[str], typer.Option("--name", help="Registered dataset whose published counts to compare.")
    ] = None,
    keep_mixed_zones: KeepZonesOpt = False,
    latlon_tolerance: Annotated[
        float,
        typer.Option(
            "--latlon-tolerance",
            min=0.0,
            help="Metres a name's lat/lon may lie from its own UTM fields before it is listed.",
        ),
    ] = 5.0,
    min_side: Annotated[
        Optional[int],
        typer.Option(
            "--min-side",
            min=0,
            help="Pixels: verified images with a shorter side are listed (default: MIN_IMAGE_SIDE, 16; 0 skips).",
        ),
    ] = None,
) -> None:
    """Counts, area, density, images per 20 m cell, headings; every bad file by name (exit 1 if any)."""
    from vprkit.data.check import check_dataset
    from vprkit.data.standard import MIN_IMAGE_SIDE

    expected = None
    if name:
        from vprkit.registry import get_dataset_spec

        expected = dict(get_dataset_spec(name).expected_counts)
    report = check_dataset(
        path,
        target_zone=zone,
        verify=verify,
        sample=sample,
        expected=expected,
        mixed_zones="keep" if keep_mixed_zones else "raise",
        latlon_tolerance_m=latlon_tolerance,
        min_side=MIN_IMAGE_SIDE if min_side is None else min_side,
    )
    if json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report) -> None:
    out.print(f"[bold]{report.root}[/]  (area = {report.area_method})", highlight=False)
    for s in report.splits:
        exp = f" (published: {s.expected:,})" if s.expected is not None else ""
        out.print(
            f"[bold]{s.split}[/]: {s.images:,} images{exp}, {s.usable:,} usable, zone {s.zone or '-'}", highlight=False
        )
        if s.usable:
            out.print(
                f"    area {s.area_km2:.4f} km², {s.density_per_km2:,.0f} images/km²; "
                f"{s.cells:,} occupied {s.cell_m:g} m cells, images per cell min/median/max "
                f"{s.images_per_cell_min}/{s.images_per_cell_median:g}/{s.images_per_cell_max}, "
                f"{100 * s.share_cells_ge_10:.1f}% of cells with ≥10; headings {100 * s.heading_share:.0f}%; "
                f"{s.verified:,} opened and decoded with PIL",
                highlight=False,
            )
    problems = report.problems
    for split, p in problems[:200]:
        out.print(f"[red]problem[/] [{split}] {p.path}: {p.reason}", highlight=False)
    if len(problems) > 200:
        out.print(f"... and {len(problems) - 200} more problems (use --json for all)")
    if not problems:
        out.print("[green]no problems found[/]")


@app.command("show")
def show_cmd(
    path: Annotated[
        str, typer.Argument(help="Dataset root, image folder, embedded city (synthcity...) or registered name.")
    ],
    png: PngOpt = None,
    zone: ZoneOpt = None,
    keep_mixed_zones: KeepZonesOpt = False,
    json: JsonOpt = False,
) -> None:
    """List a dataset's splits and query sets (with counts and its benchmark protocol); --png also draws a map."""
    from vprkit.data.resolve import EMBEDDED_DATASETS
    from vprkit.data.show import describe_folder, describe_spec

    root = Path(path)
    if path in EMBEDDED_DATASETS and not root.exists():
        # the embedded city is a folder in the cache (generated on first use), as for `vprkit run`
        from vprkit.cli.progress import step_progress
        from vprkit.data.resolve import resolve_dataset

        with step_progress(not json) as progress:
            root = resolve_dataset(path, progress=progress)[0]
    if not root.exists():
        from vprkit.registry import list_datasets

        if path not in list_datasets():
            raise typer.BadParameter(
                f"{path!r} is neither a folder nor a registered dataset ({', '.join(list_datasets())})"
            )
        if png is not None:
            raise typer.BadParameter(
                "a registered name has no images to draw; give the dataset's folder", param_hint="--png"
            )
        info = describe_spec(path)
    else:
        info = describe_folder(root)
    if json:
        print_json(info)
    else:
        _print_description(info)
    if png is not None:
        from vprkit.data.show import load_all_splits, plot_positions

        splits = load_all_splits(root, target_zone=zone, mixed_zones="keep" if keep_mixed_zones else "raise")
        plot_positions(splits, png, title=str(root))
        err.print(f"map: {png}")


def _print_description(info: dict) -> None:
    name = f" ({info['dataset']})" if info.get("dataset") else ""
    out.print(f"[bold]{info['root']}[/]{name}", highlight=False)
    for split in info["splits"]:
        published = f"published: {split['published']:,}" if split.get("published") is not None else ""
        if split.get("images") is not None:
            line = f"{split['images']:,} images" + (f" ({published})" if published else "")
        else:
            line = published or "-"
        out.print(f"  {split['split']}: {line}", highlight=False)
    for split, sets in info["query_sets"].items():
        out.print(f"  query sets of {split}: {', '.join(sets)}", highlight=False)
    protocol = info.get("protocol")
    if protocol:
        paper = ", ".join(protocol["paper_query_sets"]) or "-"
        out.print(f"  protocol: positives within {protocol['radius_m']:g} m; papers report {paper}", highlight=False)
        if protocol["notes"]:
            out.print(f"  {protocol['notes']}", highlight=False)


@app.command("make")
def make_cmd(
    name: Annotated[str, typer.Argument(help="Registered dataset that can be generated, e.g. synthcity.")],
    out_dir: OutOpt,
    size: Annotated[Optional[str], typer.Option("--size", help="Size preset (synthcity: tiny, small, city).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (same seed, same files).")] = None,
    set_: SetOpt = None,
) -> None:
    """Generate a dataset in the standard layout."""
    from vprkit.cli.progress import step_progress
    from vprkit.config import parse_overrides
    from vprkit.data.dataset_protocol import make_dataset

    with step_progress() as progress:
        counts = make_dataset(
            name, out_dir, size=size, seed=seed, overrides=parse_overrides(set_ or []), progress=progress
        )
    for split, n in dict(counts or {}).items():
        err.print(f"{split}: {n} images")
    out.print(str(out_dir))


@app.command("prepare")
def prepare_cmd(
    name: Annotated[str, typer.Argument(help="Registered dataset, e.g. pitts30k.")],
    src: Annotated[Path, typer.Option("--src", help="The files as distributed by the dataset's authors.")],
    out_dir: OutOpt,
    link: Annotated[str, typer.Option(help="How images reach --out: symlink, hardlink or copy.")] = "symlink",
) -> None:
    """Convert a downloaded dataset into the standard layout."""
    from vprkit.data.dataset_protocol import prepare_dataset

    counts = prepare_dataset(name, src, out_dir, link=link)
    for split, n in dict(counts).items():
        err.print(f"{split}: {n} images")
    out.print(str(out_dir))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="datasets")
