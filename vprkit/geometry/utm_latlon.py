"""UTM ↔ latitude/longitude over NumPy arrays, through the ``utm`` package (one zone per call)."""

from __future__ import annotations

import numpy as np

from vprkit.errors import DataError

__all__ = ["utm_to_latlon", "latlon_to_utm", "parse_utm_zone", "zone_text"]


def parse_utm_zone(zone: str | tuple[int, str]) -> tuple[int, str]:
    """``"10S"`` or ``(10, "S")`` → ``(10, "S")``; anything else is a :class:`DataError`."""
    if isinstance(zone, str):
        text = zone.strip().upper()
        number, letter = text[:-1], text[-1:]
    else:
        try:
            number, letter = zone
        except (TypeError, ValueError):
            raise DataError(f"UTM zone {zone!r} is not of the form '10S' or (10, 'S')") from None
        letter = str(letter).upper()
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise DataError(f"UTM zone {zone!r}: zone number must be an integer 1..60") from None
    if not 1 <= number <= 60 or len(letter) != 1 or letter not in "CDEFGHJKLMNPQRSTUVWX":
        raise DataError(f"UTM zone {zone!r} is not valid (number 1..60, latitude band letter C..X without I, O)")
    return number, letter


def utm_to_latlon(east: np.ndarray, north: np.ndarray, zone: str | tuple[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude in degrees ``(n,)`` of UTM points in metres, all in ``zone``."""
    import utm

    number, letter = parse_utm_zone(zone)
    east = np.asarray(east, dtype=np.float64)
    north = np.asarray(north, dtype=np.float64)
    if east.size == 0:
        return np.zeros(0), np.zeros(0)
    try:
        lat, lon = utm.to_latlon(east, north, number, letter)
    except utm.OutOfRangeError as exc:
        raise DataError(f"UTM coordinates out of range for zone {number}{letter}: {exc}") from exc
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def latlon_to_utm(lat: np.ndarray, lon: np.ndarray, zone: str | tuple[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """UTM east and north in metres ``(n,)`` of points in degrees, forced into ``zone``."""
    import utm

    number, letter = parse_utm_zone(zone)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if lat.size == 0:
        return np.zeros(0), np.zeros(0)
    east, north, _, _ = utm.from_latlon(lat, lon, force_zone_number=number, force_zone_letter=letter)
    return np.asarray(east, dtype=np.float64), np.asarray(north, dtype=np.float64)


def zone_text(zone: str | tuple[int, str] | None) -> str | None:
    """``(10, "S")`` or ``"10s"`` → ``"10S"``; ``None`` stays ``None``."""
    if zone is None:
        return None
    number, letter = parse_utm_zone(zone)
    return f"{number}{letter}"
