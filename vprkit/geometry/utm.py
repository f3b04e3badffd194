"""UTM ↔ lat/lon for whole arrays (the ``utm`` package) and the one-zone-per-dataset rule.

A dataset's coordinates are UTM metres in a single zone. "Zone" here means the projection:
zone number plus hemisphere; latitude band letters (``S``/``T``...) inside one zone number and
hemisphere share the projection, so they do not conflict (the most common letter is reported).
Mixed zones raise :class:`~vprkit.errors.DataError` naming each zone and its row count, unless the
caller names a target zone; then every row is re-projected into it through lat/lon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import utm

from vprkit.errors import DataError

__all__ = [
    "Zone",
    "latlon_to_utm",
    "parse_zone",
    "unify_zone",
    "utm_latlon_distance",
    "utm_to_latlon",
    "zone_letters",
    "zone_numbers",
    "zone_text",
]

_BANDS = np.array(list("CDEFGHJKLMNPQRSTUVWXX"))  # 8° bands from 80°S; X spans 72–84°N


@dataclass(frozen=True)
class Zone:
    """A UTM zone: number 1..60 and band letter (``"S"``); the letter gives the hemisphere."""

    number: int
    letter: str

    @property
    def northern(self) -> bool:
        return self.letter.upper() >= "N"

    def __str__(self) -> str:
        return f"{self.number}{self.letter}"


def zone_text(zone: str | Zone | tuple[int, str] | None) -> str | None:
    """``(10, "S")``, ``"10s"`` or a :class:`Zone` → ``"10S"``; ``None`` stays ``None``."""
    return None if zone is None else str(parse_zone(zone))


def parse_zone(zone: str | Zone | tuple[int, str]) -> Zone:
    """``"10S"``, ``(10, "S")`` or a :class:`Zone` → :class:`Zone`; anything else is a DataError."""
    if isinstance(zone, Zone):
        return zone
    raw_number: int | str
    if isinstance(zone, tuple) and len(zone) == 2:
        raw_number, raw_letter = zone
    else:
        text = str(zone).strip().upper()
        raw_number, raw_letter = text[:-1], text[-1:]
    try:
        number = int(raw_number)
    except (TypeError, ValueError):
        raise DataError(f"UTM zone {zone!r} is not of the form '10S' (number 1-60 and band letter)") from None
    letter = str(raw_letter).upper()
    if not 1 <= number <= 60 or letter not in "CDEFGHJKLMNPQRSTUVWX" or len(letter) != 1:
        raise DataError(f"UTM zone {zone!r} is not of the form '10S' (number 1-60 and band letter)")
    return Zone(number, letter)


def zone_numbers(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """``(n,)`` int UTM zone numbers of points, vectorised (``utm`` handles one zone per call).

    Follows the UTM definition, including the Norway (32V) and Svalbard (31X–37X) exceptions.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    lon = (lon + 180.0) % 360.0 - 180.0
    number = np.floor((lon + 180.0) / 6.0).astype(np.int64) + 1
    number = np.clip(number, 1, 60)
    norway = (lat >= 56) & (lat < 64) & (lon >= 3) & (lon < 12)
    number[norway] = 32
    sval = (lat >= 72) & (lat <= 84) & (lon >= 0)
    for lo, hi, z in ((0, 9, 31), (9, 21, 33), (21, 33, 35), (33, 42, 37)):
        number[sval & (lon >= lo) & (lon < hi)] = z
    return number


def zone_letters(lat: np.ndarray) -> np.ndarray:
    """``(n,)`` band letters of latitudes in [-80, 84] (``""`` outside UTM's range or NaN)."""
    lat = np.asarray(lat, dtype=np.float64)
    inside = np.isfinite(lat) & (lat >= -80) & (lat <= 84)
    idx = np.clip(np.floor((np.where(inside, lat, 0) + 80) / 8).astype(np.int64), 0, len(_BANDS) - 1)
    return np.where(inside, _BANDS[idx], "")


def latlon_to_utm(
    lat: np.ndarray, lon: np.ndarray, zone: str | Zone | tuple[int, str] | None = None
) -> tuple[np.ndarray, np.ndarray, Zone]:
    """Project degrees to UTM metres in one zone.

    Args:
        lat: ``(n,)`` latitudes in degrees (finite).
        lon: ``(n,)`` longitudes in degrees (finite).
        zone: target zone; when None the points must all fall in one zone (else DataError).

    Returns:
        ``(east, north, zone)`` with east/north ``(n,)`` float64 metres.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if len(lat) == 0:
        return np.empty(0), np.empty(0), parse_zone(zone) if zone is not None else Zone(0, "")
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise DataError("latlon_to_utm: lat/lon contain NaN or infinite values")
    if zone is None:
        numbers = zone_numbers(lat, lon)
        north = lat >= 0
        keys = numbers * 2 + north
        uniq, counts = np.unique(keys, return_counts=True)
        if len(uniq) > 1:
            desc = ", ".join(f"{k // 2}{'N' if k % 2 else 'S'}-hemisphere: {c} points" for k, c in zip(uniq, counts))
            raise DataError(f"points span several UTM zones ({desc}); choose a target zone")
        letters = zone_letters(lat)
        vals, cnt = np.unique(letters, return_counts=True)
        zone = Zone(int(numbers[0]), str(vals[np.argmax(cnt)]))
    zone = parse_zone(zone)
    east, northing, _, _ = utm.from_latlon(lat, lon, force_zone_number=zone.number, force_northern=zone.northern)
    return np.asarray(east, dtype=np.float64), np.asarray(northing, dtype=np.float64), zone


def utm_to_latlon(
    east: np.ndarray, north: np.ndarray, zone: str | Zone | tuple[int, str]
) -> tuple[np.ndarray, np.ndarray]:
    """UTM metres of one zone → ``(lat, lon)`` degrees, ``(n,)`` float64 each."""
    zone = parse_zone(zone)
    east = np.asarray(east, dtype=np.float64)
    north = np.asarray(north, dtype=np.float64)
    if len(east) == 0:
        return np.empty(0), np.empty(0)
    try:
        lat, lon = utm.to_latlon(east, north, zone.number, northern=zone.northern, strict=True)
    except utm.error.OutOfRangeError as exc:
        raise DataError(f"UTM coordinates out of range for zone {zone}: {exc}") from exc
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def utm_latlon_distance(
    east: np.ndarray,
    north: np.ndarray,
    zone_number: np.ndarray,
    zone_letter: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
) -> np.ndarray:
    """Metres between each row's UTM position and its lat/lon projected into the row's own zone.

    Args:
        east, north: ``(n,)`` float64 metres (NaN when missing).
        zone_number: ``(n,)`` float zone numbers (NaN when missing).
        zone_letter: ``(n,)`` str band letters (``""`` when missing; the letter gives the hemisphere).
        lat, lon: ``(n,)`` float64 degrees (NaN when missing).

    Returns:
        ``(n,)`` float64: the distance; NaN where a field is missing or the zone number is not
        1..60 (nothing to compare); ``inf`` where lat/lon lie outside UTM's range (they cannot
        match any UTM position). One ``utm.from_latlon`` call per zone and hemisphere.
    """
    east, north = np.asarray(east, dtype=np.float64), np.asarray(north, dtype=np.float64)
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    zn = np.asarray(zone_number, dtype=np.float64)
    zl = np.char.upper(np.asarray(zone_letter, dtype=str))
    out = np.full(len(east), np.nan)
    valid_zone = np.isfinite(zn) & (zn >= 1) & (zn <= 60) & (zn == np.round(np.nan_to_num(zn)))
    both = np.isfinite(east) & np.isfinite(north) & np.isfinite(lat) & np.isfinite(lon) & valid_zone & (zl != "")
    in_range = both & (lat >= -80) & (lat <= 84) & (lon >= -180) & (lon <= 180)
    out[both & ~in_range] = np.inf
    keys = np.where(in_range, np.nan_to_num(zn).astype(np.int64) * 2 + (zl >= "N"), -1)
    for key in np.unique(keys[in_range]).tolist():  # one projection per zone, not per row
        rows = keys == key
        e, n, _, _ = utm.from_latlon(lat[rows], lon[rows], force_zone_number=key // 2, force_northern=bool(key % 2))
        out[rows] = np.hypot(np.asarray(e) - east[rows], np.asarray(n) - north[rows])
    return out


def unify_zone(
    east: np.ndarray,
    north: np.ndarray,
    zone_number: np.ndarray,
    zone_letter: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    target_zone: str | Zone | None = None,
    *,
    source: str = "dataset",
    mixed_zones: str = "raise",
    names: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Zone, np.ndarray | None]:
    """Bring per-row coordinates into one UTM zone; fill missing UTM from lat/lon and vice versa.

    Args:
        east: ``(n,)`` float64 metres (NaN when missing).
        north: ``(n,)`` float64 metres (NaN when missing).
        zone_number: ``(n,)`` float (NaN when missing).
        zone_letter: ``(n,)`` str (``""`` when missing).
        lat: ``(n,)`` float64 degrees (NaN when missing).
        lon: ``(n,)`` float64 degrees (NaN when missing).
        target_zone: re-project every row into this zone (via lat/lon); None requires one zone.
        source: named in error messages (a folder).
        names: optional ``(n,)`` file names; a mixed-zone error then names files outside the
            majority zone.
        mixed_zones: ``"raise"`` (default) or ``"keep"``: multi-city datasets (MSLS) keep every
            row in its own zone; the returned zone is then ``Zone(0, "")`` and ``row_zone`` says
            which zone each row is in (distances are only meaningful within one zone).

    Returns:
        ``(east, north, lat, lon, zone, row_zone)``; ``row_zone`` is None unless zones were kept
        mixed, else an ``(n,)`` str array such as ``"10S"``. Rows with neither UTM nor lat/lon stay NaN.
    """
    if mixed_zones not in ("raise", "keep"):
        raise ValueError(f"mixed_zones must be 'raise' or 'keep', not {mixed_zones!r}")
    east, north = np.array(east, dtype=np.float64), np.array(north, dtype=np.float64)
    lat, lon = np.array(lat, dtype=np.float64), np.array(lon, dtype=np.float64)
    zn = np.asarray(zone_number, dtype=np.float64)
    zl = np.char.upper(np.asarray(zone_letter, dtype=str))
    n = len(east)
    has_utm = np.isfinite(east) & np.isfinite(north) & np.isfinite(zn) & (zl != "")
    has_ll = np.isfinite(lat) & np.isfinite(lon)
    # Rows without a usable UTM zone take the zone their lat/lon fall in.
    fill = ~has_utm & has_ll
    zn = zn.copy()
    zl = zl.copy()
    zn[fill] = zone_numbers(lat[fill], lon[fill])
    zl[fill] = zone_letters(lat[fill])
    known = has_utm | fill
    northern = zl >= "N"
    keys = np.full(n, -1, dtype=np.int64)
    keys[known] = zn[known].astype(np.int64) * 2 + northern[known]
    uniq, counts = np.unique(keys[known], return_counts=True)
    if target_zone is None and len(uniq) > 1 and mixed_zones == "keep":
        need_ll = has_utm & ~has_ll
        for key in np.unique(keys[need_ll]):
            rows = need_ll & (keys == key)
            lat[rows], lon[rows] = utm_to_latlon(east[rows], north[rows], Zone(int(key // 2), "N" if key % 2 else "M"))
        for key in np.unique(keys[fill]):
            rows = fill & (keys == key)
            band = str(zl[rows][0])
            east[rows], north[rows], _ = latlon_to_utm(lat[rows], lon[rows], Zone(int(key // 2), band))
        row_zone = np.where(known, np.char.add(np.where(known, zn, 0).astype(np.int64).astype(str), zl), "")
        return east, north, lat, lon, Zone(0, ""), row_zone
    if target_zone is None and len(uniq) > 1:
        desc = ", ".join(
            f"zone {k // 2} ({'northern' if k % 2 else 'southern'} hemisphere): {c} images"
            for k, c in zip(uniq, counts)
        )
        if names is not None:  # a few files of every zone but the largest, so the user can look
            minority = [k for k in uniq if k != uniq[np.argmax(counts)]]
            shown = [f"{names[i]} (zone {k // 2})" for k in minority for i in np.flatnonzero(keys == k)[:3]]
            desc += "; e.g. " + ", ".join(shown)
        raise DataError(
            f"{source}: images span several UTM zones ({desc}); a dataset must use one zone. "
            "Pass a target zone (e.g. target_zone='10S' or --zone 10S) to re-project through lat/lon, "
            "or, for multi-city datasets such as MSLS, mixed_zones='keep' to keep each image in its own zone."
        )
    if target_zone is None:
        if not len(uniq):
            return east, north, lat, lon, Zone(0, ""), None
        vals, cnt = np.unique(zl[known], return_counts=True)
        zone = Zone(int(uniq[0] // 2), str(vals[np.argmax(cnt)]))
    else:
        zone = parse_zone(target_zone)
    # Lat/lon for rows that only have UTM, one conversion per source zone.
    need_ll = has_utm & ~has_ll
    for key in np.unique(keys[need_ll]):
        rows = need_ll & (keys == key)
        lat[rows], lon[rows] = utm_to_latlon(east[rows], north[rows], Zone(int(key // 2), "N" if key % 2 else "M"))
    # UTM in the dataset zone: re-project rows from other zones (or every row for a target zone).
    target_key = zone.number * 2 + zone.northern
    redo = (fill | (known & (keys != target_key))) & np.isfinite(lat)
    if redo.any():
        east[redo], north[redo], _ = latlon_to_utm(lat[redo], lon[redo], zone)
    return east, north, lat, lon, zone, None
