"""The standard VPR file name (docs/datasets/index.md): write one, write many, parse millions.

A standard name carries 14 '@'-separated fields between a leading '@' and the extension::

    @UTM_east@UTM_north@UTM_zone_number@UTM_zone_letter@lat@lon@pano_id@tile_num@heading@pitch@roll@height@timestamp@note@.jpg

East/north are metres, zero-padded to 10 characters with 2 decimals (``0544388.51``); lat/lon
are degrees with 7 decimals (1e-7 degree is about 1 cm); empty fields are allowed. Only the
*file name* is split, never the folder part of a path, which may itself contain '@'.

Parsing is built for SF-XL scale (millions of names): a block of names is joined into one UTF-8
buffer, the '@' and '/' positions are found with NumPy, each field becomes one fixed-width bytes
column and numeric columns are cast to float64 in C, with no per-name Python call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    "east",
    "north",
    "zone_number",
    "zone_letter",
    "lat",
    "lon",
    "pano_id",
    "tile_num",
    "heading",
    "pitch",
    "roll",
    "height",
    "timestamp",
    "note",
)
#: Fields parsed as float64 (empty → NaN); the others stay strings.
NUMERIC_FIELDS: tuple[str, ...] = ("east", "north", "zone_number", "lat", "lon", "heading", "pitch", "roll", "height")
_N_AT = len(FIELDS) + 1  # '@' characters in a well-formed name
_CHUNK = 500_000  # names per block: bounds the temporary byte matrices to a few hundred MB


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
        east: UTM easting in metres (formatted ``%010.2f``: ``0544388.51``).
        north: UTM northing in metres (same format).
        zone_number: UTM zone number, e.g. ``10``.
        zone_letter: UTM band letter, e.g. ``"S"``.
        lat: latitude in degrees (7 decimals, about 1 cm).
        lon: longitude in degrees (7 decimals).
        pano_id: free text without '@' or '/'.
        tile_num: number or text.
        heading: degrees clockwise from north, or None/NaN for an empty field.
        pitch: number (written without trailing zeros) or string as given.
        roll: as ``pitch``.
        height: as ``pitch``.
        timestamp: free text without '@' or '/'.
        note: free text without '@' or '/'.
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
        # Text formatting has no vectorised form (np.strings.mod calls % per element too, ~3x
        # slower than this comprehension); NaN (v != v) gives an empty field.
        values = arr.astype(np.float64).tolist()
        if fmt is None:
            short = [f"{v:.6f}".rstrip("0").rstrip(".") if v == v else "" for v in values]
            return ["0" if t == "-0" else t for t in short]
        spec = "%" + fmt
        return [spec % v if v == v else "" for v in values]
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


def _spans(buf: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Byte strings ``buf[start[i]:end[i]]`` as one fixed-width ``S`` array (no Python loop)."""
    length = (end - start).astype(np.int32)
    width = max(int(length.max(initial=0)), 1)
    if len(buf) == 0:
        return np.zeros(len(start), dtype=f"S{width}")
    offs = np.arange(width, dtype=np.int32)
    idx = np.minimum(start.astype(np.int32)[:, None] + offs, np.int32(len(buf) - 1))
    mat = buf[idx]
    mat[offs >= length[:, None]] = 0
    return mat.view(f"S{width}").ravel()


def _fixed_layout_spans(
    buf: np.ndarray, at: np.ndarray, line_start: np.ndarray, line_end: np.ndarray, ok: np.ndarray
) -> Callable[[int], np.ndarray] | None:
    """Fast path for machine-written lists: every line has the same length and '@' offsets.

    Then the block is a ``(n, line length)`` byte grid and each field is a column slice of it
    (a strided copy instead of a gather). Returns ``field_index -> S array``, or None.
    """
    n = len(line_start)
    if n == 0 or not ok.all():
        return None
    length = line_end - line_start
    if (length != length[0]).any():
        return None
    rel = at - line_start[:, None]
    if (rel != rel[0]).any():
        return None
    width = int(length[0]) + 1  # the newline
    grid = np.concatenate([buf, np.frombuffer(b"\n", np.uint8)]).reshape(n, width)
    bounds = [int(b) for b in rel[0]] + [int(length[0])]

    def field(j: int) -> np.ndarray:
        a, b = bounds[j] + 1, bounds[j + 1]
        if b <= a:
            return np.zeros(n, dtype="S1")
        return np.ascontiguousarray(grid[:, a:b]).view(f"S{b - a}").ravel()

    return field


def _bytes_to_float(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 column from an ``S`` array, parsed in C; returns (values, bad); ``b""`` → NaN."""
    empty = raw == b""
    if empty.all():
        return np.full(len(raw), np.nan), np.zeros(len(raw), dtype=bool)
    raw = raw.astype(f"S{max(raw.dtype.itemsize, 3)}")  # a copy wide enough for b"nan"
    raw[empty] = b"nan"
    try:
        return raw.astype(np.float64), np.zeros(len(raw), dtype=bool)
    except ValueError:
        pass
    # Rare path (some field is not a number): find the offending rows one by one.
    values = np.full(len(raw), np.nan)
    bad = np.zeros(len(raw), dtype=bool)
    for i, item in enumerate(raw.tolist()):
        try:
            values[i] = float(item)
        except ValueError:
            bad[i] = True
    return values, bad


def _bytes_to_str(raw: np.ndarray) -> np.ndarray:
    try:
        return raw.astype(str)  # ASCII, the common case, converted in C
    except UnicodeDecodeError:
        return np.strings.decode(raw, "utf-8")


def _parse_block(names: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, list[tuple[int, str]]]:
    """Parse one block of names on their UTF-8 bytes: '@' and '/' positions found by NumPy.

    Returns (columns, ok, problems) with ``problems`` as (row, reason) relative to the block.
    """
    n = len(names)
    joined = "\n".join(names)
    if joined.count("\n") != n - 1:
        with_newline = [(i, "contains a newline") for i, s in enumerate(names) if "\n" in s]
        names = [s.replace("\n", " ") for s in names]
        block_cols, block_ok, block_problems = _parse_block(names)
        block_ok[[i for i, _ in with_newline]] = False
        return block_cols, block_ok, sorted(block_problems + with_newline)
    buf = np.frombuffer(joined.encode("utf-8", "surrogateescape"), dtype=np.uint8)
    newlines = np.flatnonzero(buf == ord("\n"))
    line_start = np.concatenate([[0], newlines + 1])
    line_end = np.concatenate([newlines, [len(buf)]])
    # The file name starts after the last '/' of its line. Searching the n line ends among the
    # separator positions (not each separator among the lines) keeps this O(n log n).
    base_start = line_start.copy()
    slashes = np.flatnonzero(buf == ord("/"))
    if len(slashes):
        last = np.searchsorted(slashes, line_end) - 1
        has = last >= 0
        has[has] = slashes[last[has]] >= line_start[has]
        base_start[has] = slashes[last[has]] + 1
    ats = np.flatnonzero(buf == ord("@"))
    first_at = np.searchsorted(ats, base_start)
    counts = np.searchsorted(ats, line_end) - first_at
    lead = np.zeros(n, dtype=bool)
    nonempty = base_start < line_end
    lead[nonempty] = buf[base_start[nonempty]] == ord("@")
    ok = (counts == _N_AT) & lead
    problems = [
        (i, f"has {counts[i]} '@' separators, expected {_N_AT}" if counts[i] != _N_AT else "does not start with '@'")
        for i in np.flatnonzero(~ok).tolist()
    ]
    rows = np.flatnonzero(ok)
    at = ats[first_at[rows][:, None] + np.arange(_N_AT)]
    spans = _fixed_layout_spans(buf, at, line_start, line_end, ok)
    cols: dict[str, np.ndarray] = {}
    for j, name in enumerate(FIELDS):
        raw = spans(j) if spans else _spans(buf, at[:, j] + 1, at[:, j + 1])
        if name in NUMERIC_FIELDS:
            values, bad = _bytes_to_float(raw)
            if len(rows) == n:  # every name well-formed: no scatter needed
                full = values
            else:
                full = np.full(n, np.nan)
                full[rows] = values
            for i in np.flatnonzero(bad).tolist():
                r = int(rows[i])
                if ok[r]:
                    ok[r] = False
                    problems.append((r, f"field {name} = {raw[i].decode('utf-8', 'replace')!r} is not a number"))
        else:
            text = _bytes_to_str(raw)
            if len(rows) == n:
                full = text
            else:
                full = np.full(n, "", dtype=text.dtype)
                full[rows] = text
        cols[name] = full
    text = _bytes_to_str(spans(len(FIELDS)) if spans else _spans(buf, at[:, _N_AT - 1] + 1, line_end[rows]))
    ext = np.full(n, "", dtype=text.dtype)
    ext[rows] = text
    cols["ext"] = ext
    return cols, ok, sorted(problems)


def parse_filenames(names: Sequence[str] | np.ndarray | Iterable[str], *, errors: str = "raise") -> ParsedFilenames:
    """Parse standard file names (or paths: only the part after the last '/' is split).

    Args:
        names: ``(n,)`` names or relative paths (str or ``os.PathLike``).
        errors: ``"raise"`` raises :class:`DataError` listing malformed names; ``"report"``
            returns them in :attr:`ParsedFilenames.malformed` (their rows are NaN/``""``, ``ok`` False).

    A name is malformed when it does not hold exactly 15 '@' with a leading '@', or when a numeric
    field (east, north, zone number, lat, lon, heading, pitch, roll, height) is not a number.
    Empty fields are allowed (NaN); whether NaN coordinates are acceptable is the reader's call.
    """
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', not {errors!r}")
    if isinstance(names, np.ndarray):
        names = names.tolist()
    names = (
        [s if isinstance(s, str) else str(s) for s in names]
        if not isinstance(names, list) or (names and not isinstance(names[0], str))
        else names
    )
    n = len(names)
    blocks = [_parse_block(names[s : s + _CHUNK]) for s in range(0, n, _CHUNK)]
    keys = (*FIELDS, "ext")
    if blocks:
        columns = {k: np.concatenate([b[0][k] for b in blocks]) for k in keys}
        ok = np.concatenate([b[1] for b in blocks])
    else:
        columns = {k: np.empty(0) for k in keys}
        ok = np.zeros(0, dtype=bool)
    malformed = [(bi * _CHUNK + r, names[bi * _CHUNK + r], why) for bi, b in enumerate(blocks) for r, why in b[2]]
    bad_rows = ~ok
    if bad_rows.any():
        for k in keys:
            columns[k][bad_rows] = np.nan if k in NUMERIC_FIELDS else ""
    parsed = ParsedFilenames(columns=columns, ok=ok, malformed=malformed)
    if errors == "raise":
        parsed.raise_if_malformed()
    return parsed
