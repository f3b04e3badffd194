"""Localize image files with a map bundle: coordinates, confidence, top-K places, a map.

:func:`iter_localize` streams: images are decoded and localised ``batch_size`` at a time, so memory
is bounded by one batch whatever the number of files, and each batch's records are available as
soon as it is done (``vprkit localize`` prints or writes them as it goes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vprkit.pipeline.bundle import MapBundle
from vprkit.pipeline.images import open_image
from vprkit.pipeline.localizer import Localization, Localizer

__all__ = ["iter_localize", "localize_files", "plot_localization"]


def iter_localize(bundle: MapBundle, files: Sequence[str | Path], *, topn: int = 100, k: int = 5,
                  batch_size: int = 32, use_classifier: bool = True, use_retriever: bool = True,
                  progress: Callable[[int, int], None] | None = None,
                  ) -> Iterator[tuple[list[dict[str, Any]], Localization]]:
    """``(records, localization)`` per batch of ``batch_size`` files, in order; ``progress(done, total)``."""
    localizer = Localizer(bundle, topn=topn, k=k, use_classifier=use_classifier, use_retriever=use_retriever)
    for start in range(0, len(files), batch_size):
        chunk = list(files[start:start + batch_size])
        loc = localizer.localize([open_image(f) for f in chunk])
        yield _records(bundle, chunk, loc), loc
        if progress:
            progress(start + len(chunk), len(files))


def localize_files(bundle: MapBundle, files: Sequence[str | Path], *, topn: int = 100, k: int = 5,
                   use_classifier: bool = True, use_retriever: bool = True) -> tuple[list[dict[str, Any]], Localization]:
    """One JSON-able record per image (best place first) and the raw :class:`Localization`, all at
    once (for a few images; :func:`iter_localize` streams many)."""
    from vprkit.pipeline.evaluate import concat_localizations

    parts = list(iter_localize(bundle, files, topn=topn, k=k, use_classifier=use_classifier,
                               use_retriever=use_retriever))
    return [r for records, _ in parts for r in records], concat_localizations([loc for _, loc in parts])


def _records(bundle: MapBundle, files: Sequence[str | Path], loc: Localization) -> list[dict[str, Any]]:
    """One JSON-able record per image of one batch."""
    from vprkit.geometry.utm import utm_to_latlon

    zone = bundle.manifest.get("utm_zone")
    records = []
    for i, f in enumerate(files):
        places = []
        valid = np.isfinite(loc.coords[i, :, 0])
        lat = lon = np.full(len(valid), np.nan)
        if zone and valid.any():
            lat, lon = np.full(len(valid), np.nan), np.full(len(valid), np.nan)
            lat[valid], lon[valid] = utm_to_latlon(loc.coords[i, valid, 0], loc.coords[i, valid, 1], zone)
        for j in np.flatnonzero(valid):
            row = int(loc.rows[i, j])
            places.append({
                "rank": int(j) + 1,
                "east": float(loc.coords[i, j, 0]), "north": float(loc.coords[i, j, 1]),
                "lat": _num(lat[j]), "lon": _num(lon[j]),
                "score": float(loc.scores[i, j]),
                "database_image": str(bundle.database.paths[row]) if row >= 0 else None,
                "source": "database image" if row >= 0 else "class coordinate",
            })
        best = places[0] if places else {}
        records.append({
            "image": str(f), "utm_zone": zone,
            "east": best.get("east"), "north": best.get("north"), "lat": best.get("lat"), "lon": best.get("lon"),
            "confidence_std_m": _num(loc.confidence[i]),
            "candidates": int(loc.candidates[i]),
            "places": places,
        })
    return records


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def plot_localization(bundle: MapBundle, loc: Localization, index: int, png: str | Path, title: str = "") -> Path:
    """Map of one prediction, like the D&C paper's Fig. 3/5: the database (grey), the rows of the
    top-N cells (blue), the top-N class coordinates (orange squares), the top-K places (green) and
    the best one (red star)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 7))
    db = bundle.database
    if db is not None:
        ax.scatter(db.east, db.north, s=2, c="0.8", label="database", rasterized=True)
    if loc.cells is not None and bundle.classifier is not None:
        part = bundle.classifier.partition
        top = loc.cells[index][loc.cells[index] >= 0]
        if db is not None and bundle.store is not None:
            rows = bundle.store.cell_rows(top)
            ax.scatter(db.east[rows], db.north[rows], s=4, c="tab:blue", label=f"rows in top-{len(top)} cells")
        xy = part.class_coords[top]
        ax.scatter(xy[:, 0], xy[:, 1], s=40, marker="s", facecolors="none", edgecolors="tab:orange", label="top-N classes")
    places = loc.coords[index]
    ok = np.isfinite(places[:, 0])
    ax.scatter(places[ok, 0], places[ok, 1], s=30, c="tab:green", label="top-K places")
    if ok.any():
        ax.scatter(places[0, 0], places[0, 1], s=200, marker="*", c="tab:red", label="prediction")
    conf = loc.confidence[index]
    title = title if len(title) <= 40 else title[:18] + "…" + title[-18:]
    ax.set_title(title + (f"  (expert spread {conf:.0f} m)" if np.isfinite(conf) else ""), fontsize=10)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_xlabel("UTM east (m)")
    ax.set_ylabel("UTM north (m)")
    ax.set_aspect("equal")
    ax.legend(loc="best", fontsize=8)
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return png
