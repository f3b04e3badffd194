"""Pitts30k as distributed (NetVLAD ``dbStruct`` .mat files + image folders) → standard layout.

Expected under ``src``::

    000/ ... 006/                 database tiles, e.g. 000/000000_pitch1_yaw1.jpg
    queries_real/000/ ...         query tiles, same naming
    datasets/pitts30k_{train,val,test}.mat   (or the .mat files directly in src)

Each ``.mat`` holds ``dbStruct`` with ``dbImageFns`` (database paths), ``utmDb`` (2 × n_db UTM
east/north, zone 17T), ``qImageFns`` and ``utmQ``. Output names carry UTM (as given), lat/lon
(computed), ``pano_id`` (the leading number of the tile name) and ``note`` (the rest of the tile
name, e.g. ``pitch1_yaw1``; pitch and yaw there are indices, not degrees, so the heading field
stays empty).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vprkit.data.dbstruct import read_db_struct
from vprkit.data.filenames import format_filenames
from vprkit.data.placing import write_split
from vprkit.errors import DataError
from vprkit.geometry.utm import Zone, utm_to_latlon

ZONE = Zone(17, "T")
SETS = ("train", "val", "test")


def standard_names(rel_paths: list[str], utm_xy: np.ndarray, zone: Zone, ext: str = ".jpg") -> np.ndarray:
    """Standard names for tiles named ``<pano>_<rest>.jpg`` at UTM ``utm_xy`` ``(n, 2)``."""
    stems = [Path(p).stem for p in rel_paths]
    pano = np.array([s.split("_", 1)[0] for s in stems])
    note = np.array([s.split("_", 1)[1] if "_" in s else "" for s in stems])
    lat, lon = utm_to_latlon(utm_xy[:, 0], utm_xy[:, 1], zone)
    return format_filenames(
        utm_xy[:, 0], utm_xy[:, 1], zone.number, zone.letter, lat, lon, pano_id=pano, note=note, ext=ext
    )


def _mat_file(src: Path, which: str) -> Path:
    for candidate in (src / "datasets" / f"pitts30k_{which}.mat", src / f"pitts30k_{which}.mat"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{src}: pitts30k_{which}.mat not found (looked in {src / 'datasets'} and {src})")


def prepare(src: Path, out: Path, *, link: str = "symlink") -> dict[str, int]:
    """Write ``out/images/{train,val,test}/{database,queries}``; returns the count per split."""
    src, out = Path(src), Path(out)
    counts: dict[str, int] = {}
    plans = []
    for which in SETS:  # read every .mat first so a bad file fails before anything is written
        db, db_utm, q, q_utm = read_db_struct(_mat_file(src, which))
        plans.append((which, db, db_utm, q, q_utm))
    for which, db, db_utm, q, q_utm in plans:
        counts[f"{which}/database"] = write_split(
            out, f"{which}/database", [src / p for p in db], standard_names(db, db_utm, ZONE).tolist(), link
        )
        counts[f"{which}/queries"] = write_split(
            out,
            f"{which}/queries",
            [src / "queries_real" / p for p in q],
            standard_names(q, q_utm, ZONE).tolist(),
            link,
        )
    return counts
