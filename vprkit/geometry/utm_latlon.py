"""UTM ↔ lat/lon for the partitioners: thin adapters over :mod:`vprkit.data.coords` (the ``utm``
package, one zone per call), with zones passed as ``"10S"`` or ``(10, "S")``."""

from __future__ import annotations

import numpy as np

from vprkit.data.coords import latlon_to_utm as _latlon_to_utm
from vprkit.data.coords import parse_zone
from vprkit.data.coords import utm_to_latlon as _utm_to_latlon

__all__ = ["utm_to_latlon", "latlon_to_utm", "parse_utm_zone", "zone_text"]


def parse_utm_zone(zone) -> tuple[int, str]:
    """``"10S"``, ``(10, "S")`` or a :class:`~vprkit.data.coords.Zone` → ``(10, "S")``."""
    parsed = parse_zone(zone)
    return parsed.number, parsed.letter


def zone_text(zone) -> str | None:
    """``(10, "S")`` or ``"10s"`` → ``"10S"``; ``None`` stays ``None``."""
    return None if zone is None else str(parse_zone(zone))


def utm_to_latlon(east: np.ndarray, north: np.ndarray, zone) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude in degrees ``(n,)`` of UTM points in metres, all in ``zone``."""
    return _utm_to_latlon(east, north, parse_zone(zone))


def latlon_to_utm(lat: np.ndarray, lon: np.ndarray, zone) -> tuple[np.ndarray, np.ndarray]:
    """UTM east and north in metres ``(n,)`` of points in degrees, forced into ``zone``."""
    east, north, _ = _latlon_to_utm(lat, lon, parse_zone(zone))
    return east, north
