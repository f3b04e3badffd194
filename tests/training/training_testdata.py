"""Small training inputs shared by the engine and DDP tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vprkit.data.image_list import ImageList
from vprkit.training.data import GroupData, group_data_from_labels


def images_on_a_line(root: str | Path, paths: list[str], east: np.ndarray) -> ImageList:
    """Images at ``east`` metres along one UTM line (zone 10S, north 0), without lat/lon or headings."""
    n = len(paths)
    nan = np.full(n, np.nan)
    return ImageList(
        root=Path(root),
        paths=np.array(paths),
        east=np.asarray(east, dtype=np.float64),
        north=np.zeros(n),
        zone_number=10,
        zone_letter="S",
        lat=nan,
        lon=nan,
        heading=nan,
    )


def alternating_groups(n: int, per_group: int) -> list[GroupData]:
    """Classes of two consecutive images, alternating between two groups of ``per_group`` classes."""
    labels = np.arange(n) // 2
    return [group_data_from_labels(np.where(labels % 2 == g, labels // 2, -1), per_group) for g in range(2)]
