"""Pictures of a generated synthcity: a contact sheet of views and a map of the city.

Both read a dataset root written by :meth:`SynthCity.generate` (the plan is rebuilt from the
config in ``synthcity.json``, the views are read from disk), so ``vprkit datasets show`` can call
them on any synthcity folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vprkit.errors import DataError
from vprkit.fileio import atomic_path, read_json_object

if TYPE_CHECKING:
    from vprkit_synthcity.generate import SynthCity

__all__ = ["city_map", "contact_sheet", "load_city"]


def load_city(root: str | Path) -> SynthCity:
    """The :class:`~vprkit_synthcity.generate.SynthCity` that wrote ``root`` (from synthcity.json)."""
    from vprkit_synthcity.config import SynthCityConfig
    from vprkit_synthcity.generate import SynthCity

    meta = Path(root) / "synthcity.json"
    summary = read_json_object(meta, DataError, f"{root} is not a synthcity root: {meta} is missing")
    return SynthCity(SynthCityConfig.model_validate(summary["config"]))


def _paths(root: Path, split: str) -> list[str]:
    from vprkit.data.standard import list_image_paths

    return list_image_paths(root / "images" / split)


def contact_sheet(root: str | Path, png: str | Path, *, per_row: int = 9, scale: int = 2, seed: int = 0) -> Path:
    """Write a grid of sample views: one row of test-database views, then one row per query
    condition (each tile labelled), to ``png``. Tiles are upscaled ``scale`` times."""
    from PIL import Image, ImageDraw

    from vprkit.data.filenames import parse_filenames
    from vprkit.data.images import open_image
    from vprkit_synthcity.conditions import CONDITIONS

    root = Path(root)
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, list[str]]] = []
    db = _paths(root, "test/database")
    rows.append(("database", [f"test/database/{p}" for p in rng.choice(db, min(per_row, len(db)), replace=False)]))
    queries = _paths(root, "test/queries")
    notes = parse_filenames(queries)["note"]
    for cond in CONDITIONS:
        mine = [q for q, n in zip(queries, notes.tolist(), strict=True) if n == cond]
        if mine:
            pick = rng.choice(mine, min(per_row, len(mine)), replace=False)
            rows.append((cond, [f"test/queries/{p}" for p in pick]))
    tile = open_image(root / "images" / rows[0][1][0]).size[0] * scale
    label_w = 80
    sheet = Image.new("RGB", (label_w + per_row * (tile + 2), len(rows) * (tile + 2)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (label, files) in enumerate(rows):
        y = r * (tile + 2)
        draw.text((4, y + tile // 2 - 6), label, fill=(0, 0, 0))
        for c, rel in enumerate(files):
            img = open_image(root / "images" / rel).resize((tile, tile), Image.Resampling.NEAREST)
            sheet.paste(img, (label_w + c * (tile + 2), y))
    png = Path(png)
    with atomic_path(png, suffix=".png") as tmp:
        sheet.save(tmp, format="PNG")
    return png


def plan_image(city: SynthCity) -> np.ndarray:
    """``(H, W, 3)`` uint8 top view of the plan (row 0 = north): buildings shaded by height and
    tinted by facade style, landmarks red, trees and parks green, streets light grey."""
    from vprkit_synthcity.layout import Ground, Kind

    p = city.plan
    img = np.full((p.height, p.width, 3), 235, np.uint8)
    g = p.ground
    img[(g == Ground.GRASS)] = (170, 215, 150)
    img[(g == Ground.PLAZA)] = (225, 210, 180)
    img[(g == Ground.SIDEWALK)] = (205, 205, 205)
    b = p.bid
    built = b >= 0
    obj = b[built]
    mean = (city.styles.mean[p.style[obj]] * 255).astype(np.float32)
    shade = np.clip(1.1 - p.top[obj] / 80.0, 0.35, 1.0)[:, None]
    colour = (mean * shade).astype(np.uint8)
    colour[p.kind[obj] == Kind.TREE] = (60, 130, 60)
    colour[p.kind[obj] == Kind.LANDMARK] = (220, 30, 30)
    img[built] = colour
    return img[::-1]


def city_map(root: str | Path, png: str | Path, *, max_points: int = 20000) -> Path:
    """Write a map of the city with the test database and query positions to ``png``."""
    from vprkit.data.filenames import parse_filenames
    from vprkit.plotting import png_figure

    root = Path(root)
    city = load_city(root)
    c = city.config
    img = plan_image(city)
    with png_figure(png, figsize=(8, 8), dpi=110, bbox_inches="tight") as fig:
        ax = fig.subplots()
        ax.imshow(img, extent=(0, img.shape[1], 0, img.shape[0]), interpolation="nearest")
        for split, colour, size, label in (
            ("test/database", "#1f5fbf", 1.5, "test database"),
            ("test/queries", "#d62728", 6, "test queries"),
        ):
            cols = parse_filenames(_paths(root, split))
            step = max(1, len(cols) // max_points)
            ax.scatter(
                cols["east"][::step] - c.origin_east,
                cols["north"][::step] - c.origin_north,
                s=size,
                c=colour,
                label=f"{label} ({len(cols)})",
                linewidths=0,
            )
        for lm in city.summary()["landmarks"]:
            ax.annotate(
                lm["name"],
                (lm["east"] - c.origin_east, lm["north"] - c.origin_north),
                fontsize=7,
                color="black",
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.set_xlabel(f"east - {c.origin_east:.0f} (m, UTM {c.zone_number}{c.zone_letter})")
        ax.set_ylabel(f"north - {c.origin_north:.0f} (m)")
        ax.set_title(f"synthcity {c.size}, seed {c.seed}")
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    return Path(png)
