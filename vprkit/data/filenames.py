"""The standard VPR file name (METHODS.md §10): write one, write many, parse millions.

A standard name carries 14 '@'-separated fields between a leading '@' and the extension::

    @UTM_east@UTM_north@UTM_zone_number@UTM_zone_letter@lat@lon@pano_id@tile_num@heading@pitch@roll@height@timestamp@note@.jpg

East/north are metres, zero-padded to 10 characters with 2 decimals (``0544388.51``); lat/lon
are degrees with 7 decimals (1e-7 degree is about 1 cm); empty fields are allowed. Only the
*file name* is split, never the folder part of a path, which may itself contain '@'.

Parsing is built for SF-XL scale (millions of names): names are joined and split once per
chunk, and numeric columns are converted by NumPy in C, with no per-name ``float()`` call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from vprkit.errors import DataError

__all__ = [
    "FIELDS",
    "NUMERIC_FIELDS",
    "ParsedFilenames",
    "format_filename",
    "format_filenames",
    "parse_filenames",
]

#: Field names in file-name order (between the leading '@' and the extension).
FIELDS: tuple[str, ...] = (
    "east", "north", "zone_number", "zone_letter", "lat", "lon", "pano_id", "tile_num",
    "heading", "pitch", "roll", "height", "timestamp", "note",
)
#: Fields parsed as float64 (empty → NaN); the others stay strings.
NUMERIC_FIELDS: tuple[str, ...] = ("east", "north", "zone_number", "lat", "lon", "heading", "pitch", "roll", "height")
_N_AT = len(FIELDS) + 1  # '@' characters in a well-formed name
_CHUNK = 200_000  # names per split: bounds the temporary Python strings to a few hundred MB


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _num(value: Any, fmt: str) -> str:
    """Numeric field text; strings pass through unchanged, None/NaN give an empty field."""
    if _is_missing(value):
        return ""
    if isinstance(value, str):
        return value
    return format(float(value), fmt)


def _short(value: Any) -> str:
    """A number without trailing zeros (``90`` not ``90.000000``), or the string as given."""
    if _is_missing(value):
        return ""
    if isinstance(value, str):
        return value
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text(value: Any) -> str:
    if _is_missing(value):
        return ""
    text = str(value)
    if "@" in text or "/" in text:
        raise DataError(f"file-name field {text!r} must not contain '@' or '/'")
    return text


def format_filename(
    east: float,
    north: float,
    zone_number: int | str,
    zone_letter: str,
    lat: float,
    lon: float,
    pano_id: str = "",
    tile_num: Any = "",
    heading: float | None = None,
    pitch: Any = "",
    roll: Any = "",
    height: Any = "",
    timestamp: Any = "",
    note: str = "",
    ext: str = ".jpg",
) -> str:
    """One standard file name (no folder).

    Args:
        east, north: UTM metres (formatted ``%010.2f``: ``0544388.51``).
        zone_number, zone_letter: UTM zone, e.g. ``10``, ``"S"``.
        lat, lon: degrees (7 decimals, about 1 cm).
        heading: degrees clockwise from north, or None/NaN for an empty field.
        pitch, roll, height: numbers (written without trailing zeros) or strings as given.
        pano_id, tile_num, timestamp, note: free text without '@' or '/'.
        ext: extension including the dot.

    Returns:
        e.g. ``@0544388.51@4180142.39@10@S@37.7654321@-122.4987654@pano@@90@@@@@@.jpg``.
    """
    parts = [
        _num(east, "010.2f"),
        _num(north, "010.2f"),
        _text(_short(zone_number)),
        _text(zone_letter),
        _num(lat, ".7f"),
        _num(lon, ".7f"),
        _text(pano_id),
        _text(_short(tile_num)),
        _short(heading),
        _short(pitch),
        _short(roll),
        _short(height),
        _text(timestamp),
        _text(note),
    ]
    return "@" + "@".join(parts) + "@" + ext


def _column(values: Any, n: int, fmt: str | None) -> list[str]:
    """``n`` field texts from a scalar or a length-``n`` array; NaN/None → ``""``."""
    if values is None or isinstance(values, (str, int, float, np.generic)):
        text = _num(values, fmt) if fmt else (_short(values) if not isinstance(values, str) else _text(values))
        return [text] * n
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise DataError(f"format_filenames: a column has shape {arr.shape}, expected ({n},)")
    if arr.dtype.kind in "fiu":
        f = arr.astype(np.float64)
        finite = np.isfinite(f)
        if fmt is None:  # short form: fixed 6 decimals, trailing zeros stripped
            txt = np.strings.mod("%.6f", f)
            txt = np.strings.rstrip(np.strings.rstrip(txt, "0"), ".")
            txt = np.where(txt == "-0", "0", txt)
        else:
            txt = np.strings.mod(f"%{fmt}", f)
        return np.where(finite, txt, "").tolist()
    texts = ["" if _is_missing(v) else str(v) for v in arr.tolist()]
    bad = [t for t in texts if "@" in t or "/" in t]
    if bad:
        raise DataError(f"file-name field {bad[0]!r} must not contain '@' or '/'")
    return texts


def format_filenames(
    east: Any,
    north: Any,
    zone_number: Any,
    zone_letter: Any,
    lat: Any,
    lon: Any,
    pano_id: Any = "",
    tile_num: Any = "",
    heading: Any = None,
    pitch: Any = "",
    roll: Any = "",
    height: Any = "",
    timestamp: Any = "",
    note: Any = "",
    ext: str = ".jpg",
) -> np.ndarray:
    """Standard file names for whole arrays; same formatting as :func:`format_filename`.

    Every argument is a length-``n`` array or a scalar repeated for all rows (``n = len(east)``).
    Returns an ``(n,)`` array of str.
    """
    n = len(np.asarray(east))
    cols = [
        _column(east, n, "010.2f"),
        _column(north, n, "010.2f"),
        _column(zone_number, n, None),
        _column(zone_letter, n, None),
        _column(lat, n, ".7f"),
        _column(lon, n, ".7f"),
        _column(pano_id, n, None),
        _column(tile_num, n, None),
        _column(heading, n, None),
        _column(pitch, n, None),
        _column(roll, n, None),
        _column(height, n, None),
        _column(timestamp, n, None),
        _column(note, n, None),
    ]
    tail = "@" + ext
    return np.array(["@" + "@".join(row) + tail for row in zip(*cols)], dtype=str)


@dataclass
class ParsedFilenames:
    """Columns parsed from file names; row ``i`` belongs to ``names[i]``.

    Attributes:
        columns: field name → ``(n,)`` array: float64 for :data:`NUMERIC_FIELDS` (NaN when empty
            or when the row is malformed), str for the others (``""`` when empty), plus ``"ext"``.
        ok: ``(n,)`` bool, False for malformed rows.
        malformed: ``(row, name, reason)`` for every malformed row, in row order.
    """

    columns: dict[str, np.ndarray]
    ok: np.ndarray
    malformed: list[tuple[int, str, str]] = field(default_factory=list)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.columns[key]

    def __len__(self) -> int:
        return len(self.ok)

    def raise_if_malformed(self, limit: int = 10) -> None:
        """Raise :class:`DataError` listing up to ``limit`` malformed names with the reason."""
        if not self.malformed:
            return
        lines = [f"  {name!r}: {reason}" for _, name, reason in self.malformed[:limit]]
        more = len(self.malformed) - limit
        if more > 0:
            lines.append(f"  ... and {more} more")
        raise DataError(
            f"{len(self.malformed)} of {len(self.ok)} file names are not in the standard format "
            "'@east@north@zone_number@zone_letter@lat@lon@pano_id@tile_num@heading@pitch@roll@height"
            "@timestamp@note@.ext':\n" + "\n".join(lines)
        )


def _basename(name: str) -> str:
    return name.rpartition("/")[2]


def _to_float(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Float64 column from strings in C; returns (values, bad) with ``bad`` marking non-numbers."""
    arr = np.array(texts, dtype=np.dtypes.StringDType())
    arr[arr == ""] = "nan"
    try:
        return arr.astype(np.float64), np.zeros(len(texts), dtype=bool)
    except ValueError:
        pass
    # Rare path (some field is not a number): find the offending rows one by one.
    values = np.full(len(texts), np.nan)
    bad = np.zeros(len(texts), dtype=bool)
    for i, t in enumerate(arr.tolist()):
        try:
            values[i] = float(t)
        except ValueError:
            bad[i] = True
    return values, bad


def _parse_chunk(bases: list[str]) -> dict[str, list[str]]:
    """Columns for names that are all well-formed in shape (15 '@', leading '@')."""
    tokens = "\n".join(bases).split("@")
    k = _N_AT  # tokens per name after the first (empty) token
    cols: dict[str, list[str]] = {}
    for j, name in enumerate(FIELDS):
        cols[name] = tokens[1 + j :: k]
    # The last token of each name is "<ext>\n" (the next name's leading '@' follows the newline).
    cols["ext"] = [t.rstrip("\n") for t in tokens[k::k]]
    return cols


def parse_filenames(names: Sequence[str] | np.ndarray | Iterable[str], *, errors: str = "raise") -> ParsedFilenames:
    """Parse standard file names (or paths: only the part after the last '/' is split).

    Args:
        names: ``(n,)`` names or relative paths.
        errors: ``"raise"`` raises :class:`DataError` listing malformed names; ``"report"``
            returns them in :attr:`ParsedFilenames.malformed` (their rows are NaN, ``ok`` False).

    A name is malformed when it does not hold exactly 15 '@' with a leading '@', or when a numeric
    field (east, north, zone number, lat, lon, heading, pitch, roll, height) is not a number.
    Empty fields are allowed (NaN); whether NaN coordinates are acceptable is the reader's call.
    """
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', not {errors!r}")
    names = list(names) if not isinstance(names, list) else names
    n = len(names)
    columns: dict[str, np.ndarray] = {f: np.full(n, np.nan) for f in NUMERIC_FIELDS}
    str_fields = [f for f in FIELDS if f not in NUMERIC_FIELDS] + ["ext"]
    str_parts: dict[str, list[np.ndarray]] = {f: [] for f in str_fields}
    ok = np.ones(n, dtype=bool)
    malformed: list[tuple[int, str, str]] = []

    for start in range(0, n, _CHUNK):
        chunk = names[start : start + _CHUNK]
        bases = [_basename(s) for s in chunk]
        counts = np.fromiter((b.count("@") for b in bases), dtype=np.int64, count=len(bases))
        lead = np.fromiter((b[:1] == "@" for b in bases), dtype=bool, count=len(bases))
        shape_ok = (counts == _N_AT) & lead
        idx_ok = np.flatnonzero(shape_ok)
        for i in np.flatnonzero(~shape_ok).tolist():
            reason = (
                f"has {counts[i]} '@' separators, expected {_N_AT}"
                if counts[i] != _N_AT
                else "does not start with '@'"
            )
            malformed.append((start + i, chunk[i], reason))
        ok[start : start + len(chunk)] = shape_ok
        good = bases if len(idx_ok) == len(bases) else [bases[i] for i in idx_ok.tolist()]
        rows = start + idx_ok
        for f in str_fields:
            full = np.full(len(bases), "", dtype=object)
            str_parts[f].append(full)
        if not good:
            continue
        cols = _parse_chunk(good)
        for f in str_fields:
            str_parts[f][-1][idx_ok] = cols[f]
        for f in NUMERIC_FIELDS:
            values, bad = _to_float(cols[f])
            columns[f][rows] = values
            for i in np.flatnonzero(bad).tolist():
                r = int(rows[i])
                if ok[r]:
                    ok[r] = False
                    malformed.append((r, names[r], f"field {f} = {cols[f][i]!r} is not a number"))
    for f in str_fields:
        joined = np.concatenate(str_parts[f]) if str_parts[f] else np.empty(0, dtype=object)
        columns[f] = joined.astype(str) if n else np.empty(0, dtype=str)
    bad_rows = ~ok
    if bad_rows.any():
        for f in NUMERIC_FIELDS:
            columns[f][bad_rows] = np.nan
        for f in str_fields:
            columns[f][bad_rows] = ""
    malformed.sort(key=lambda t: t[0])
    parsed = ParsedFilenames(columns={k: columns[k] for k in (*FIELDS, "ext")}, ok=ok, malformed=malformed)
    if errors == "raise":
        parsed.raise_if_malformed()
    return parsed
