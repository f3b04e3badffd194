"""Per-query results of an evaluation, in files other tools can read (``vprkit run --predictions``).

One record per query: its name and true UTM, its top-N cells (classifier pipelines) and its top-K
places — UTM, the database image or the class a place came from, the score, the distance to the
truth and whether the rank is a hit (within the protocol's radius). ``.json`` writes the records
as a list; ``.csv`` writes one row per (query, rank), the query's fields repeated and its top-N
cells as a ``;``-joined list on its rank-1 row. Files are written whole or not at all.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vprkit.data.image_list import ImageList
from vprkit.errors import ConfigError
from vprkit.fileio import atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from vprkit.pipeline.bundle import MapBundle
    from vprkit.pipeline.localizer import Localization

__all__ = ["CSV_COLUMNS", "prediction_records", "write_predictions"]

CSV_COLUMNS = (
    "query_set",
    "query",
    "query_east",
    "query_north",
    "rank",
    "east",
    "north",
    "database_image",
    "cell",
    "score",
    "distance_m",
    "hit",
    "top_cells",
)


def prediction_records(
    loc: Localization, queries: ImageList, bundle: MapBundle, *, radius: float, query_set: str
) -> list[dict[str, Any]]:
    """The records of one query set (``loc``: the :class:`~vprkit.pipeline.localizer.Localization`
    of ``queries``, in their order)."""
    truth = np.stack([queries.east, queries.north], axis=1)
    dist = np.sqrt(((loc.coords - truth[:, None, :]) ** 2).sum(-1))  # (Q, K), NaN for padding
    hit = dist <= radius
    db = bundle.database
    row_cells = bundle.store.cells_of_rows() if (bundle.store is not None and bundle.classifier is not None) else None
    # the class of each place: a database row's cell, or the class a filled-in coordinate came from
    cells = np.full(loc.rows.shape, -1, dtype=np.int64)
    if row_cells is not None:
        valid = loc.rows >= 0
        cells[valid] = row_cells[loc.rows[valid]]
    class_coords = bundle.classifier.partition.class_coords if bundle.classifier is not None else None
    records = []
    for i, name in enumerate(queries.paths.tolist()):
        places = []
        for j in np.flatnonzero(np.isfinite(loc.coords[i, :, 0])).tolist():
            row = int(loc.rows[i, j])
            places.append(
                {
                    "rank": j + 1,
                    "east": float(loc.coords[i, j, 0]),
                    "north": float(loc.coords[i, j, 1]),
                    "database_image": db.path_at(row) if row >= 0 and db is not None else None,
                    "cell": int(cells[i, j]) if cells[i, j] >= 0 else None,
                    "score": float(loc.scores[i, j]),
                    "distance_m": round(float(dist[i, j]), 3),
                    "hit": bool(hit[i, j]),
                }
            )
        record: dict[str, Any] = {
            "query_set": query_set,
            "query": name,
            "east": float(truth[i, 0]),
            "north": float(truth[i, 1]),
            "places": places,
        }
        if loc.cells is not None and class_coords is not None:  # (cells come from the classifier)
            top = loc.cells[i][loc.cells[i] >= 0]
            record["top_cells"] = [
                {"cell": int(c), "east": float(class_coords[c, 0]), "north": float(class_coords[c, 1])}
                for c in top.tolist()
            ]
        records.append(record)
    return records


def write_predictions(path: str | Path, records: list[dict[str, Any]]) -> Path:
    """Write ``records`` as JSON or CSV, chosen by the extension of ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return atomic_write_json(path, records)
    if suffix != ".csv":
        raise ConfigError(f"--predictions {str(path)!r}: give a .csv or .json file name")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for rec in records:
        cells = ";".join(str(c["cell"]) for c in rec.get("top_cells", []))
        for place in rec["places"] or [{}]:
            writer.writerow(
                [
                    rec["query_set"],
                    rec["query"],
                    rec["east"],
                    rec["north"],
                    place.get("rank", ""),
                    place.get("east", ""),
                    place.get("north", ""),
                    place.get("database_image") or "",
                    "" if place.get("cell") is None else place["cell"],
                    place.get("score", ""),
                    place.get("distance_m", ""),
                    int(place["hit"]) if "hit" in place else "",
                    cells if place.get("rank") == 1 else "",
                ]
            )
    return atomic_write_text(path, buffer.getvalue())
