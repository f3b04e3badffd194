"""Sequence datasets without GPS (Nordland-style): positions from the frame index.

Nordland's reference and query traversals are the same train journey in two seasons, frame-aligned:
frame ``i`` of the queries shows the place of frame ``i`` of the reference. Convention used here:

- the frame index is the last run of digits in the file-name stem (``00123.png`` → 123,
  ``imageNumber_123.jpg`` → 123); with ``index_from="order"``, the position in sorted order;
- the image is placed at ``east = index × frame_spacing_m``, ``north = 0``, UTM zone 0 ("no zone");
- the frame index is kept in ``extra["frame"]``.

So the usual Nordland criterion "a match within ±k frames" is :func:`~vprkit.data.positives.positives_within`
with ``radius = k × frame_spacing_m``; :func:`frame_tolerance_radius` computes it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vprkit.data.image_list import ImageList
from vprkit.data.standard import list_image_paths
from vprkit.errors import DataError

__all__ = ["frame_tolerance_radius", "read_sequence"]

_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def frame_tolerance_radius(frames: int, frame_spacing_m: float = 1.0) -> float:
    """Radius (metres in sequence units) that accepts matches within ±``frames`` frames."""
    return float(frames) * frame_spacing_m + 1e-6 * frame_spacing_m  # inclusive despite rounding


def read_sequence(folder: str | Path, *, frame_spacing_m: float = 1.0, index_from: str = "name") -> ImageList:
    """Images of one traversal as an :class:`ImageList` positioned by frame index.

    Args:
        folder: folder of frames (``<folder>_images_paths.txt`` is honoured as elsewhere).
        frame_spacing_m: distance assigned between consecutive frames (metres, nominal).
        index_from: ``"name"`` (digits in the file name) or ``"order"`` (sorted position).

    Raises:
        DataError: a name without digits, or two frames with the same index (both named).
    """
    folder = Path(folder)
    paths = list_image_paths(folder)
    if index_from == "order":
        frame = np.arange(len(paths), dtype=np.int64)
    elif index_from == "name":
        found = [_DIGITS.search(Path(p).stem) for p in paths]
        missing = [p for p, m in zip(paths, found) if m is None]
        if missing:
            raise DataError(
                f"{folder}: {len(missing)} frame names carry no frame number, e.g. {missing[:3]}; "
                "use index_from='order' to number frames by sorted position"
            )
        frame = np.array([int(m.group(1)) for m in found if m is not None], dtype=np.int64)  # none is missing
        order = np.argsort(frame, kind="stable")
        paths = [paths[i] for i in order]
        frame = frame[order]
        dup = np.flatnonzero(np.diff(frame) == 0)
        if len(dup):
            i = int(dup[0])
            raise DataError(f"{folder}: frames {paths[i]!r} and {paths[i + 1]!r} have the same frame number {frame[i]}")
    else:
        raise ValueError(f"index_from must be 'name' or 'order', not {index_from!r}")
    nan = np.full(len(paths), np.nan)
    return ImageList(
        root=folder,
        paths=np.asarray(paths, dtype=str),
        east=frame.astype(np.float64) * frame_spacing_m,
        north=np.zeros(len(paths)),
        zone_number=0,
        zone_letter="",
        lat=nan,
        lon=nan.copy(),
        heading=nan.copy(),
        extra={"frame": frame},
    )
