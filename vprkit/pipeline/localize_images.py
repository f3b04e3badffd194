"""Localize image files with a map bundle: coordinates, confidence, top-K places, a map.

:func:`iter_localize` streams: images are decoded and localised ``batch_size`` at a time, so memory
is bounded by one batch whatever the number of files, and each batch's records are available as
soon as it is done (``vprkit localize`` prints or writes them as it goes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vprkit.contracts import NullProgress, Progress
from vprkit.data.images import open_image
from vprkit.pipeline.bundle import MapBundle
from vprkit.pipeline.localizer import Localization, Localizer

if TYPE_CHECKING:
    from vprkit.runtime import Runtime

__all__ = ["iter_localize", "plot_localization", "plot_matches"]


def iter_localize(
    bundle: MapBundle,
    files: Sequence[str | Path],
    *,
    topn: int = 100,
    k: int = 5,
    batch_size: int = 32,
    use_classifier: bool = True,
    use_retriever: bool = True,
    classifier_settings: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    runtime: Runtime | None = None,
    reranker: str | None = None,
    rerank_k: int = 20,
    reranker_config: Mapping[str, Any] | None = None,
) -> Iterator[tuple[list[dict[str, Any]], Localization]]:
    """``(records, localization)`` per batch of ``batch_size`` files, in order.

    ``classifier_settings``: inference-only fields of the bundle's classifier, set (and refused
    when they cannot be) before this returns (:func:`~vprkit.pipeline.models.apply_classifier_settings`);
    ``progress``: step ``"images"``; ``runtime``: where the models run (default CPU, float32).
    ``reranker``: a registered re-ranker that verifies the first ``rerank_k`` places (its config:
    ``reranker_config``); the bundle database's local features come from the bundle (``vprkit
    index build --reranker``) or the cache (:func:`vprkit.rerank.database_features`, extracted on
    first use), and each place's record
    gains its ``inliers``.
    """
    from vprkit.pipeline.models import apply_classifier_settings

    made = features = None
    if reranker not in (None, "none"):
        from vprkit.registry import create_reranker
        from vprkit.rerank.store import database_features

        made = create_reranker(reranker, dict(reranker_config or {}))
        if bundle.database is not None and bundle.retriever is not None and use_retriever:
            threads = runtime.threads if runtime is not None else 1
            features = database_features(made, bundle.database, threads=threads, progress=progress, bundle=bundle.root)
    localizer = Localizer(
        bundle,
        topn=topn,
        k=k,
        use_classifier=use_classifier,
        use_retriever=use_retriever,
        runtime=runtime,
        reranker=made,
        rerank_k=rerank_k,
        features=features,
    )
    apply_classifier_settings(localizer.classifier, classifier_settings)
    return _batches(localizer, bundle, files, batch_size, progress or NullProgress())


def _batches(
    localizer: Localizer, bundle: MapBundle, files: Sequence[str | Path], batch_size: int, progress: Progress
) -> Iterator[tuple[list[dict[str, Any]], Localization]]:
    for start in range(0, len(files), batch_size):
        chunk = list(files[start : start + batch_size])
        loc = localizer.localize([open_image(f) for f in chunk])
        yield _records(bundle, chunk, loc), loc
        progress.update("images", start + len(chunk), len(files))


def _records(bundle: MapBundle, files: Sequence[str | Path], loc: Localization) -> list[dict[str, Any]]:
    """One JSON-able record per image of one batch."""
    from vprkit.geometry.utm import utm_to_latlon

    zone, db = bundle.manifest.get("utm_zone"), bundle.database
    truth = _true_positions(files, zone)
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
            places.append(
                {
                    "rank": int(j) + 1,
                    "east": float(loc.coords[i, j, 0]),
                    "north": float(loc.coords[i, j, 1]),
                    "lat": _num(lat[j]),
                    "lon": _num(lon[j]),
                    "score": float(loc.scores[i, j]),
                    "database_image": db.path_at(row) if db is not None and row >= 0 else None,
                    "source": "database image" if row >= 0 else "class coordinate",
                    **({"inliers": int(loc.inliers[i, j])} if loc.inliers is not None else {}),
                }
            )
        best = places[0] if places else {}
        records.append(
            {
                "image": str(f),
                "utm_zone": zone,
                "east": best.get("east"),
                "north": best.get("north"),
                "lat": best.get("lat"),
                "lon": best.get("lon"),
                "confidence_std_m": _num(loc.confidence[i]),
                # the position the file name states (standard VPR names), and how far the best place is
                "true_east": _num(truth[i, 0]),
                "true_north": _num(truth[i, 1]),
                "error_m": _num(float(np.hypot(best["east"] - truth[i, 0], best["north"] - truth[i, 1])))
                if best
                else None,
                "candidates": int(loc.candidates[i]),
                **({"inliers": best.get("inliers")} if loc.inliers is not None else {}),
                "places": places,
            }
        )
    return records


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _true_positions(files: Sequence[str | Path], zone: str | None) -> np.ndarray:
    """``(n, 2)`` UTM east/north the files' names state (``@east@north@zone…`` names), NaN where a
    name is not in that format or states another UTM zone than the bundle's."""
    from vprkit.data.filenames import parse_filenames

    parsed = parse_filenames([Path(f).name for f in files], errors="report")
    xy = np.stack([parsed["east"], parsed["north"]], axis=1).astype(np.float64)
    if zone:
        named = np.char.add(
            np.where(np.isfinite(parsed["zone_number"]), parsed["zone_number"], 0).astype(int).astype(str),
            parsed["zone_letter"].astype(str),
        )
        xy[named != zone] = np.nan
    return xy


def plot_localization(
    bundle: MapBundle,
    loc: Localization,
    index: int,
    png: str | Path,
    title: str = "",
    truth: tuple[float, float] | None = None,
) -> Path:
    """Map of one prediction, like the D&C paper's Fig. 3/5: the database (grey), the rows of the
    top-N cells (blue), the top-N class coordinates (orange squares), the top-K places (green), the
    best one (red star) and, when known (``truth``: UTM east/north in metres), the true position
    (black cross) with the error in metres and the 25 m circle in the title and on the map. The
    legend sits below the map, so it covers no data; the title wraps the whole file name."""
    from vprkit.plotting import png_figure

    with png_figure(png, figsize=(7, 7.8), dpi=120, bbox_inches="tight") as fig:
        _draw_localization(fig.subplots(), bundle, loc, index, title, truth)
    return Path(png)


def _draw_localization(
    ax: Any, bundle: MapBundle, loc: Localization, index: int, title: str, truth: tuple[float, float] | None
) -> None:
    import textwrap

    from matplotlib.patches import Circle

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
        ax.scatter(
            xy[:, 0], xy[:, 1], s=40, marker="s", facecolors="none", edgecolors="tab:orange", label="top-N classes"
        )
    places = loc.coords[index]
    ok = np.isfinite(places[:, 0])
    ax.scatter(places[ok, 0], places[ok, 1], s=30, c="tab:green", label="top-K places")
    if ok.any():
        ax.scatter(places[0, 0], places[0, 1], s=200, marker="*", c="tab:red", label="prediction")
    facts = []
    known = truth is not None and bool(np.all(np.isfinite(truth)))
    if known:
        assert truth is not None
        ax.scatter([truth[0]], [truth[1]], s=120, marker="X", c="black", label="true position")
        ax.add_patch(Circle(truth, 25.0, fill=False, ls="--", lw=1, ec="black", label="25 m"))
        if ok.any():
            error = float(np.hypot(places[0, 0] - truth[0], places[0, 1] - truth[1]))
            facts.append(f"error {error:.0f} m ({'within' if error <= 25 else 'beyond'} 25 m)")
    conf = loc.confidence[index]
    if np.isfinite(conf):
        facts.append(f"expert spread {conf:.0f} m")
    lines = textwrap.wrap(title, 60, break_on_hyphens=False) or [""]
    ax.set_title("\n".join([*lines, "; ".join(facts)]) if facts else "\n".join(lines), fontsize=9)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_xlabel("UTM east (m)")
    ax.set_ylabel("UTM north (m)")
    ax.set_aspect("equal")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=8, frameon=False)


def plot_matches(
    bundle: MapBundle, loc: Localization, index: int, query_file: str | Path, png: str | Path
) -> Path | None:
    """The query (left) beside its best database image (right) with the re-ranker's inlier
    matches drawn between them; ``None`` (nothing written) when the query was not re-ranked."""
    import textwrap

    from matplotlib.collections import LineCollection

    from vprkit.plotting import png_figure

    done = loc.reranked[index] if loc.reranked is not None else None
    db = bundle.database
    if done is None or db is None:
        return None
    query = np.asarray(open_image(query_file))
    best = np.asarray(open_image(db.root / db.path_at(int(done.rows[0]))))
    h = max(query.shape[0], best.shape[0])
    canvas = np.full((h, query.shape[1] + best.shape[1], 3), 255, dtype=np.uint8)
    canvas[: query.shape[0], : query.shape[1]] = query
    canvas[: best.shape[0], query.shape[1] :] = best
    m = done.matches[0]
    a = done.query.keypoints[m[:, 0]]
    b = done.candidates[0].keypoints[m[:, 1]] + np.array([query.shape[1], 0], dtype=np.float32)
    scale = max(4.0, 480.0 / max(canvas.shape[1], 1))
    width = canvas.shape[1] * scale / 100  # inches
    # file names are long and have no spaces: wrapped to the figure's width (about 15 characters per inch at 7 pt)
    names = [f"query: {Path(str(query_file)).name}", f"best: {Path(db.path_at(int(done.rows[0]))).name}"]
    lines = [f"query (left) | best database image (right): {int(done.inliers[0])} inliers"]
    lines += [part for name in names for part in textwrap.wrap(name, max(20, int(width * 15)), break_on_hyphens=False)]
    with png_figure(png, figsize=(width, canvas.shape[0] * scale / 100 + 0.15 * len(lines) + 0.2), dpi=100) as fig:
        ax = fig.subplots()
        ax.imshow(canvas, interpolation="nearest")
        ax.add_collection(LineCollection(list(np.stack([a, b], axis=1)), colors="lime", linewidths=0.8))
        ax.scatter(np.r_[a[:, 0], b[:, 0]], np.r_[a[:, 1], b[:, 1]], s=6, c="yellow")
        ax.set_title("\n".join(lines), fontsize=7)
        ax.set_axis_off()
    return Path(png)
