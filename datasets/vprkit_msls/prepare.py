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
- panoramas (``pano == True``) are left out, as in MSLS's own loader; their number is returned as
  ``skipped/panoramas``.
- validation images follow MSLS's evaluation protocol: only images flagged in the ``all`` column
  of ``subtask_index.csv`` (when the file is present), and only queries with at least one such
  database image within 25 m; the numbers left out are returned as
  ``skipped/val_not_in_subtask_all`` and ``skipped/val_queries_without_positive``.
- names carry each image's own UTM zone (cities lie in different zones): read the splits with
  ``mixed_zones="keep"``. Heading = MSLS's compass angle ``ca``; timestamp = ``captured_at``
  digits; ``pano_id`` = MSLS key; note = ``<day|night>_<view direction>_<city>_seq<sequence>_<frame>``
  when ``seq_info.csv`` is present.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vprkit.data.filenames import format_filenames
from vprkit.data.placing import write_split
from vprkit.data.positives import positives_within
from vprkit.errors import DataError
from vprkit.geometry.utm import Zone, latlon_to_utm, zone_letters, zone_numbers

VAL_CITIES = ("cph", "sf")
VAL_POSITIVE_RADIUS_M = 25.0
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


@dataclass
class _Folder:
    """One ``<city>/{database,query}`` folder, panoramas removed."""

    sources: list[Path]
    names: list[str]
    xy: np.ndarray  # (n, 2) UTM metres in the rows' own zone
    in_subtask_all: np.ndarray  # (n,) bool: listed under 'all' in subtask_index.csv (True if absent)
    panoramas: int


def _subtask_all(folder: Path, raw_keys: list[str], keys: list[str]) -> np.ndarray:
    """Flags of ``keys`` in subtask_index.csv's ``all`` column (rows align with raw.csv, or by key)."""
    path = folder / "subtask_index.csv"
    if not path.is_file():
        return np.ones(len(keys), dtype=bool)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "all" not in (reader.fieldnames or []):
            raise DataError(f"{path}: no 'all' column (columns: {reader.fieldnames})")
        rows = list(reader)
    flags = [r["all"].strip().lower() == "true" for r in rows]
    if rows and "key" in rows[0]:
        by_key = {r["key"]: f for r, f in zip(rows, flags)}
    elif len(rows) == len(raw_keys):
        by_key = dict(zip(raw_keys, flags))
    else:
        raise DataError(f"{path}: {len(rows)} rows but raw.csv has {len(raw_keys)}, and no 'key' column to match them")
    return np.array([by_key.get(k, False) for k in keys], dtype=bool)


def _one_folder(folder: Path, city: str) -> _Folder:
    raw = _read_csv(folder / "raw.csv", ("key", "lon", "lat", "ca", "captured_at", "pano"))
    post = _read_csv(folder / "postprocessed.csv", ("key",)) if (folder / "postprocessed.csv").is_file() else {}
    seq = _read_csv(folder / "seq_info.csv", ("key",)) if (folder / "seq_info.csv").is_file() else {}
    keys = [k for k, r in raw.items() if r["pano"].strip().lower() != "true"]
    panoramas = len(raw) - len(keys)
    if not keys:
        return _Folder([], [], np.empty((0, 2)), np.empty(0, dtype=bool), panoramas)
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
    names = format_filenames(
        east,
        north,
        numbers,
        letters,
        lat,
        lon,
        pano_id=np.array(keys),
        heading=heading,
        timestamp=np.array([_clean(raw[k]["captured_at"]) for k in keys]),
        note=np.array(notes),
    )
    sources = [folder / "images" / f"{k}.jpg" for k in keys]
    # Zone number folded into x keeps images of different zones far apart for the positive search.
    xy = np.stack([east + numbers * 1e7, north], axis=1)
    return _Folder(sources, names.tolist(), xy, _subtask_all(folder, list(raw), keys), panoramas)


def prepare(src: Path, out: Path, *, link: str = "symlink") -> dict[str, int]:
    """Write ``out/images/{train,val}/{database,queries}``; returns counts and what was left out."""
    src, out = Path(src), Path(out)
    base = src / "train_val" if (src / "train_val").is_dir() else src
    cities = sorted(p.name for p in base.iterdir() if p.is_dir() and (p / "database").is_dir()) if base.is_dir() else []
    if not cities:
        raise DataError(
            f"{src}: no train_val/<city>/database folders found (unzip MSLS's metadata.zip and images there)"
        )
    plan: dict[str, tuple[list[Path], list[str]]] = {}
    skipped = {"skipped/panoramas": 0, "skipped/val_not_in_subtask_all": 0, "skipped/val_queries_without_positive": 0}
    for city in cities:
        which = "val" if city in VAL_CITIES else "train"
        parts = {}
        for folder_name in _FOLDERS:
            folder = base / city / folder_name
            if not (folder / "raw.csv").is_file():
                raise DataError(f"{folder}: raw.csv not found (it holds the positions)")
            parts[folder_name] = f = _one_folder(folder, city)
            skipped["skipped/panoramas"] += f.panoramas
        if which == "val":  # MSLS's evaluation protocol: subtask 'all', queries with a positive
            for f in parts.values():
                skipped["skipped/val_not_in_subtask_all"] += int((~f.in_subtask_all).sum())
            db, q = parts["database"], parts["query"]
            keep_db = db.in_subtask_all
            has_pos = (
                positives_within(q.xy, db.xy[keep_db], VAL_POSITIVE_RADIUS_M).counts > 0
                if keep_db.any()
                else np.zeros(len(q.names), bool)
            )
            keep_q = q.in_subtask_all & has_pos
            skipped["skipped/val_queries_without_positive"] += int((q.in_subtask_all & ~has_pos).sum())
            keep = {"database": keep_db, "query": keep_q}
        else:
            keep = {name: np.ones(len(f.names), dtype=bool) for name, f in parts.items()}
        for folder_name, split_leaf in _FOLDERS.items():
            f, rows = parts[folder_name], np.flatnonzero(keep[folder_name]).tolist()
            srcs, nms = plan.setdefault(f"{which}/{split_leaf}", ([], []))
            srcs.extend(f.sources[i] for i in rows)
            nms.extend(f.names[i] for i in rows)
    counts = {split: write_split(out, split, srcs, nms, link) for split, (srcs, nms) in sorted(plan.items()) if srcs}
    counts.update(skipped)
    return counts
