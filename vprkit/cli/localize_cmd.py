"""``vprkit localize``: where was this photo taken?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import ClassifierSetOpt, JsonOpt, PngOpt, TopnOpt


def localize(
    images: Annotated[list[Path], typer.Argument(help="Image files to localize.")],
    bundle: Annotated[Path, typer.Option("--bundle", "-b", help="Map bundle folder (`vprkit index build`).")],
    topn: TopnOpt = 100,
    k: int = typer.Option(5, "--k", help="Places listed per image."),
    png: PngOpt = None,
    classifier_set: ClassifierSetOpt = None,
    json: JsonOpt = False,
) -> None:
    """Latitude/longitude, UTM, confidence and top-K places of each image; optionally a PNG map."""
    from vprkit.config import apply_inference_settings, parse_overrides
    from vprkit.errors import ConfigError
    from vprkit.pipeline.bundle import MapBundle
    from vprkit.pipeline.localize_images import localize_files, plot_localization

    loaded = MapBundle.load(bundle)
    if classifier_set:
        if loaded.classifier is None:
            raise ConfigError(f"--classifier-set: the bundle {bundle} has no classifier")
        apply_inference_settings(loaded.classifier.config, parse_overrides(classifier_set))
    records, loc = localize_files(loaded, images, topn=topn, k=k)
    if png is not None:
        for i, image in enumerate(images):
            target = png if len(images) == 1 else png.with_name(f"{png.stem}_{i}{png.suffix}")
            plot_localization(loaded, loc, i, target, title=image.name)
            err.print(f"[dim]map: {target}[/]")
    if json:
        print_json(records)
        return
    for rec in records:
        table = Table(title=f"{rec['image']}", show_header=True, show_edge=False)
        for col in ("rank", "lat", "lon", "east", "north", "score", "source"):
            table.add_column(col, no_wrap=True, justify="left" if col == "source" else "right")
        for p in rec["places"]:
            table.add_row(str(p["rank"]), _fmt(p["lat"], 6), _fmt(p["lon"], 6), _fmt(p["east"], 1),
                          _fmt(p["north"], 1), f"{p['score']:.3f}", _SHORT.get(p["source"], p["source"]))
        out.print(table)
        if rec["confidence_std_m"] is not None:
            out.print(f"confidence: expert spread {rec['confidence_std_m']:.1f} m (small = the group experts agree)")


# narrower labels for an 80-column terminal; the JSON keeps the full ones
_SHORT = {"database image": "database", "class coordinate": "class"}


def _fmt(x: float | None, digits: int) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def register(app: typer.Typer) -> None:
    app.command("localize")(localize)
