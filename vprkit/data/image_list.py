"""``ImageList``: the arrays every reader returns and every method consumes.

One row per image. Coordinates are UTM metres in a single zone for the whole list (the readers
refuse mixed zones unless a target zone is chosen, then re-project). Missing values are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vprkit.errors import DataError
from vprkit.fileio import fingerprint_strings

__all__ = ["ImageList"]


@dataclass(frozen=True)
class ImageList:
    """Geotagged images of one split.

    Attributes:
        root: folder the ``paths`` are relative to.
        paths: ``(n,)`` relative image paths (str).
        east, north: ``(n,)`` float64 UTM easting/northing in metres.
        zone_number: UTM zone number shared by all rows (``0`` when unknown, e.g. sequences).
        zone_letter: UTM latitude band letter shared by all rows (``""`` when unknown).
        lat, lon: ``(n,)`` float64 degrees (NaN when unknown).
        heading: ``(n,)`` float64 degrees clockwise from north (NaN when unknown).
        extra: optional named per-row arrays (pano id, timestamp, sequence index...).
    """

    root: Path
    paths: np.ndarray
    east: np.ndarray
    north: np.ndarray
    zone_number: int
    zone_letter: str
    lat: np.ndarray
    lon: np.ndarray
    heading: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.paths)
        for name in ("east", "north", "lat", "lon", "heading"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise DataError(f"ImageList.{name} has shape {arr.shape}, expected ({n},)")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def utm(self) -> np.ndarray:
        """``(n, 2)`` float64 array of (east, north) in metres."""
        return np.stack([self.east, self.north], axis=1)

    @property
    def has_headings(self) -> bool:
        """True when every image has a heading."""
        return len(self) > 0 and bool(np.isfinite(self.heading).all())

    def absolute_paths(self) -> list[Path]:
        return [self.root / p for p in self.paths]

    def fingerprint(self) -> str:
        """SHA-256 of the ordered relative paths (the content key of caches and bundles)."""
        return fingerprint_strings(self.paths.tolist())

    def subset(self, rows: np.ndarray) -> "ImageList":
        """Rows ``rows`` (indices or boolean mask) as a new list."""
        return ImageList(
            root=self.root,
            paths=self.paths[rows],
            east=self.east[rows],
            north=self.north[rows],
            zone_number=self.zone_number,
            zone_letter=self.zone_letter,
            lat=self.lat[rows],
            lon=self.lon[rows],
            heading=self.heading[rows],
            extra={k: v[rows] for k, v in self.extra.items()},
        )
