"""``vprkit partition``: fit a partitioner on a dataset's training split, summarise it, draw it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import ConfigOpt, DatasetOpt, JsonOpt, PngOpt, SetOpt


def partition_cmd(
    partitioner: Annotated[
        str, typer.Option("--partitioner", "-p", help="Partitioner name (see 'vprkit plugins list').")
    ],
    dataset: DatasetOpt,
    split: Annotated[
        str, typer.Option("--split", help="Split to partition (folder under <dataset>/images).")
    ] = "train",
    set_: SetOpt = None,
    config: ConfigOpt = None,
    png: PngOpt = None,
    save: Annotated[Optional[Path], typer.Option("--save", help="Also save the partition (.npz) to this file.")] = None,
    json: JsonOpt = False,
) -> None:
    """Partition a dataset's images into classes and groups; print counts, optionally draw a map."""
    from vprkit.partition import partition_dataset

    part, images = partition_dataset(partitioner, dataset, split=split, config_file=config, overrides=set_ or [])
    summary = part.summary()
    if save is not None:
        summary["saved"] = str(part.save(save))
    if png is not None:
        from vprkit.geometry.partition_map import plot_partition

        summary["png"] = str(plot_partition(part, images.east, images.north, png))
    summary["fingerprint"] = part.fingerprint()
    if json:
        print_json(summary)
        return
    _print_summary(summary)
    if png is not None:
        err.print(f"map written to {summary['png']}")


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"partition {summary['method']}", show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    per_class = summary["images_per_class"]
    rows = [
        ("classes", summary["num_classes"]),
        ("groups", summary["num_groups"]),
        ("images", summary["images"]),
        ("images kept", summary["kept_images"]),
        ("images dropped", summary["dropped_images"]),
        *((f"  dropped: {k}", v) for k, v in summary["dropped_by_reason"].items()),
        (
            "images per class (min / median / mean / max)",
            f"{per_class['min']} / {per_class['median']:g} / {per_class['mean']:.1f} / {per_class['max']}",
        ),
        ("class coordinate", summary["coord_mode"]),
    ]
    for name, child in summary.get("children", {}).items():
        rows.append((f"  {name}: classes", child["num_classes"]))
    for k, v in rows:
        table.add_row(k, str(v))
    out.print(table)
    if summary["num_groups"] > 1:
        groups = Table(title="classes per group")
        groups.add_column("group", justify="right")
        groups.add_column("classes", justify="right")
        for g, c in enumerate(summary["classes_per_group"]):
            groups.add_row(str(g), str(c))
        out.print(groups)


def register(app: typer.Typer) -> None:
    app.command("partition")(partition_cmd)
