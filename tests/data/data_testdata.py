"""Tiny real datasets on disk for the data tests (real PNG files, standard names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import utm
from PIL import Image

from vprkit.data.filenames import format_filename

ORIGIN = (550_000.0, 4_180_000.0)  # UTM 10S, San Francisco


def write_image(path: Path, seed: int = 0, size: int = 16) -> Path:
    """A real PNG of random pixels; 16 px is the smallest side ``datasets check`` accepts (MIN_IMAGE_SIDE)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def standard_name(east: float, north: float, heading: float | None = None, ext: str = ".png") -> str:
    lat, lon = utm.to_latlon(east, north, 10, "S")
    return format_filename(east, north, 10, "S", lat, lon, heading=heading, ext=ext)


def make_standard_dataset(root: Path, n_db: int = 40, n_q: int = 6, seed: int = 0) -> Path:
    """``root/images/{train,test/database,test/queries}`` with a few dozen real PNGs."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_db), ("test/database", n_db), ("test/queries", n_q)):
        xy = rng.uniform(0, 100, (n, 2)) + ORIGIN
        headings = rng.choice([0.0, 90.0, 180.0, 270.0], n)
        for i, ((e, nn), h) in enumerate(zip(xy, headings)):
            write_image(root / "images" / split / standard_name(e, nn, h), seed=i)
    return root
