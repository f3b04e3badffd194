"""Tokyo 24/7 as distributed → standard layout (``test/database``, ``test/queries``).

Expected under ``src``::

    03814/ ... 03829/              database tiles (listed as .jpg in the .mat, stored as .png)
    datasets/tokyo247.mat          NetVLAD dbStruct: dbImageFns + utmDb (zone 54S)
    247query_subset_v2/            315 query photos <id>.jpg, each with <id>.csv whose first
                                   line is "<file name>,<lat>,<lon>,..."

Database tiles keep their own file (extension included); a listed ``.jpg`` that only exists as
``.png`` is taken as the ``.png``. Queries get UTM from their lat/lon, in zone 54S. Images are
linked or copied as they are (no resizing: resizing is the data loader's job).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vprkit.data.dbstruct import read_db_struct
from vprkit.data.filenames import format_filenames
from vprkit.data.placing import write_split
from vprkit.errors import DataError
from vprkit.geometry.utm import Zone, latlon_to_utm, utm_to_latlon

ZONE = Zone(54, "S")
QUERY_FOLDER = "247query_subset_v2"


def _resolve(src: Path, rel: str) -> Path:
    p = src / rel
    if p.is_file():
        return p
    for ext in (".png", ".jpg", ".jpeg"):
        alt = p.with_suffix(ext)
        if alt.is_file():
            return alt
    return p  # reported as missing by write_split


def _split_stem(stem: str) -> tuple[str, str]:
    """``<pano>_<pitch>_<yaw>`` → (pano, "<pitch>_<yaw>"); other stems are kept whole as the pano."""
    parts = stem.rsplit("_", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], f"{parts[1]}_{parts[2]}"
    return stem, ""


def database(src: Path) -> tuple[list[Path], list[str]]:
    mat = next((m for m in (src / "datasets" / "tokyo247.mat", src / "tokyo247.mat") if m.is_file()), None)
    if mat is None:
        raise DataError(f"{src}: tokyo247.mat not found (looked in {src / 'datasets'} and {src})")
    db, db_utm, _, _ = read_db_struct(mat)
    sources = [_resolve(src, p) for p in db]
    pano, note = zip(*(_split_stem(s.stem) for s in sources)) if sources else ((), ())
    lat, lon = utm_to_latlon(db_utm[:, 0], db_utm[:, 1], ZONE)
    exts = np.array([s.suffix.lower() for s in sources])
    names = [
        n[: -len(".jpg")] + e if n.endswith(".jpg") else n
        for n, e in zip(
            format_filenames(
                db_utm[:, 0],
                db_utm[:, 1],
                ZONE.number,
                ZONE.letter,
                lat,
                lon,
                pano_id=np.array(pano),
                note=np.array(note),
            ).tolist(),
            exts.tolist(),
        )
    ]
    return sources, names


def queries(src: Path) -> tuple[list[Path], list[str]]:
    folder = src / QUERY_FOLDER
    if not folder.is_dir():
        raise DataError(f"{src}: query folder {QUERY_FOLDER}/ not found (unzip 247query_subset_v2.zip there)")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not images:
        raise DataError(f"{folder} holds no query images")
    lat = np.empty(len(images))
    lon = np.empty(len(images))
    for i, img in enumerate(images):
        csv = img.with_suffix(".csv")
        if not csv.is_file():
            raise DataError(f"query {img} has no {csv.name} with its position")
        fields = csv.read_text(encoding="utf-8", errors="replace").splitlines()[0].split(",")
        try:
            lat[i], lon[i] = float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            raise DataError(f"{csv}: first line must be '<name>,<lat>,<lon>,...', got {','.join(fields)!r}") from None
    east, north, _ = latlon_to_utm(lat, lon, ZONE)
    standard = format_filenames(
        east, north, ZONE.number, ZONE.letter, lat, lon, pano_id=np.array([p.stem for p in images]), ext=".jpg"
    )
    names = [n[: -len(".jpg")] + p.suffix.lower() for n, p in zip(standard.tolist(), images)]
    return images, names


def prepare(src: Path, out: Path, *, link: str = "symlink") -> dict[str, int]:
    """Write ``out/images/test/{database,queries}``; returns the count per split."""
    src, out = Path(src), Path(out)
    db_src, db_names = database(src)
    q_src, q_names = queries(src)
    return {
        "test/database": write_split(out, "test/database", db_src, db_names, link),
        "test/queries": write_split(out, "test/queries", q_src, q_names, link),
    }
