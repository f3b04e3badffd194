"""MSLS as distributed → standard layout (``train`` and ``val``, database and queries).

Expected under ``src`` (the unzipped archives)::

    train_val/<city>/{database,query}/images/<key>.jpg
    train_val/<city>/{database,query}/raw.csv            key, lon, lat, ca, captured_at, pano
    train_val/<city>/{database,query}/postprocessed.csv  key, ..., night, ..., view_direction, ...
    train_val/<city>/{database,query}/seq_info.csv       key, sequence_key, frame_number

Choices (all stated in the docs):

- validation cities are ``cph`` and ``sf`` (MSLS's own split) → ``images/val/...``; every other
  city in ``train_val`` → ``images/train/...``. ``test/`` cities ship without positions and are
  not prepared.
- panoramas (``pano == True``) are left out, as in the field's standard formatting of MSLS; their
  number is returned as ``skipped/panoramas``.
- names carry each image's own UTM zone (cities lie in different zones): read the splits with
  ``mixed_zones="keep"``. Heading = MSLS's compass angle ``ca``; timestamp = ``captured_at``
  digits; ``pano_id`` = MSLS key; note = ``<day|night>_<view direction>_<city>_seq<sequence>_<frame>``
  when ``seq_info.csv`` is present.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from vprkit.data.coords import Zone, latlon_to_utm, zone_letters, zone_numbers
from vprkit.data.filenames import format_filenames
from vprkit.data.placing import write_split
from vprkit.errors import DataError

VAL_CITIES = ("cph", "sf")
_FOLDERS = {"database": "database", "query": "queries"}


def _read_csv(path: Path, required: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Rows of an MSLS csv keyed by ``key``; missing required columns are an error."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)} (columns: {reader.fieldnames})")
        return {row["key"]: row for row in reader}


def _clean(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "", text or "")


def _one_folder(folder: Path, city: str) -> tuple[list[Path], list[str], int]:
    """(sources, standard names, panoramas skipped) of one ``<city>/{database,query}`` folder."""
    raw = _read_csv(folder / "raw.csv", ("key", "lon", "lat", "ca", "captured_at", "pano"))
    post = _read_csv(folder / "postprocessed.csv", ("key",)) if (folder / "postprocessed.csv").is_file() else {}
    seq = _read_csv(folder / "seq_info.csv", ("key",)) if (folder / "seq_info.csv").is_file() else {}
    keys = [k for k, r in raw.items() if r["pano"].strip().lower() != "true"]
    skipped = len(raw) - len(keys)
    if not keys:
        return [], [], skipped
    try:
        lat = np.array([float(raw[k]["lat"]) for k in keys])
        lon = np.array([float(raw[k]["lon"]) for k in keys])
        heading = np.array([float(raw[k]["ca"]) if raw[k]["ca"] else np.nan for k in keys])
    except ValueError as exc:
        raise DataError(f"{folder / 'raw.csv'}: non-numeric lat/lon/ca: {exc}") from exc
    notes = []
    for k in keys:
        p = post.get(k, {})
        night = "night" if str(p.get("night", "")).strip().lower() == "true" else "day"
        parts = [night, _clean(p.get("view_direction", "")).lower() or "unknown", city]
        s = seq.get(k)
        if s is not None:
            parts.append(f"seq{_clean(s.get('sequence_key', ''))}_{_clean(s.get('frame_number', ''))}")
        notes.append("_".join(parts))
    east = np.empty(len(keys))
    north = np.empty(len(keys))
    numbers = zone_numbers(lat, lon)
    letters = zone_letters(lat)
    for number in np.unique(numbers):  # a city may straddle a zone border: project each zone apart
        rows = numbers == number
        east[rows], north[rows], _ = latlon_to_utm(lat[rows], lon[rows], Zone(int(number), str(letters[rows][0])))
    names = format_filenames(east, north, numbers, letters, lat, lon, pano_id=np.array(keys), heading=heading,
                             timestamp=np.array([_clean(raw[k]["captured_at"]) for k in keys]), note=np.array(notes))
    sources = [folder / "images" / f"{k}.jpg" for k in keys]
    return sources, names.tolist(), skipped


def prepare(src: Path, out: Path, *, link: str = "symlink") -> dict[str, int]:
    """Write ``out/images/{train,val}/{database,queries}``; returns counts (and panoramas skipped)."""
    src, out = Path(src), Path(out)
    base = src / "train_val" if (src / "train_val").is_dir() else src
    cities = sorted(p.name for p in base.iterdir() if p.is_dir() and (p / "database").is_dir()) if base.is_dir() else []
    if not cities:
        raise DataError(f"{src}: no train_val/<city>/database folders found (unzip MSLS's metadata.zip and images there)")
    plan: dict[str, tuple[list[Path], list[str]]] = {}
    skipped = 0
    for city in cities:
        which = "val" if city in VAL_CITIES else "train"
        for folder_name, split_leaf in _FOLDERS.items():
            folder = base / city / folder_name
            if not (folder / "raw.csv").is_file():
                raise DataError(f"{folder}: raw.csv not found (it holds the positions)")
            sources, names, n_pano = _one_folder(folder, city)
            skipped += n_pano
            srcs, nms = plan.setdefault(f"{which}/{split_leaf}", ([], []))
            srcs.extend(sources)
            nms.extend(names)
    counts = {split: write_split(out, split, srcs, nms, link) for split, (srcs, nms) in sorted(plan.items()) if srcs}
    counts["skipped/panoramas"] = skipped
    return counts
