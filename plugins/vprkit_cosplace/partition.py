"""CosPlace partition (paper 002, METHODS.md §2): cells × heading bins in N·N·L groups.

``E = floor(east/M)``, ``Nn = floor(north/M)``, ``H = floor((heading mod 360)/α)`` (the official
code does not wrap headings; vprkit does). Group of a class
``((E mod N)·N + (Nn mod N))·L + (H mod L)``, i.e. the lexicographic order of the group tuple;
only groups ``< groups_num`` are kept (the official trainer uses the first 8 of 50). Classes with
fewer than ``min_images_per_class`` images are dropped first. Classes are numbered in
lexicographic (E, Nn, H) order.
"""

from __future__ import annotations

import numpy as np

from vprkit.config import config_to_dict
from vprkit.geometry.grid import count_grid_cells
from vprkit.geometry.locate import GridLocator
from vprkit.geometry.points import check_headings, check_points, class_means
from vprkit.geometry.utm_latlon import zone_text
from vprkit.partition import Partition
from vprkit_cosplace.config import CosPlacePartitionConfig

__all__ = ["CosPlacePartitioner"]


class CosPlacePartitioner:
    """Builds CosPlace partitions; ``fit`` needs a heading (degrees) for every image."""

    name = "cosplace"

    def __init__(self, config: CosPlacePartitionConfig | None = None):
        self.config = config or CosPlacePartitionConfig()

    def fit(self, east, north, heading=None, features=None, *, utm_zone=None) -> Partition:
        """Partition ``(n,)`` training points (UTM metres, headings in degrees)."""
        cfg = self.config
        east, north = check_points(east, north, "cosplace training points")
        heading = check_headings(heading, len(east), "cosplace training points", method="CosPlace")
        total_groups = cfg.N * cfg.N * cfg.L
        groups_num = total_groups if cfg.groups_num is None else min(cfg.groups_num, total_groups)

        cells_all = np.stack(
            [np.floor(east / cfg.M), np.floor(north / cfg.M), np.floor(heading / cfg.alpha)], axis=1
        ).astype(np.int64)
        grid = count_grid_cells(cells_all, cfg.min_images_per_class)
        group_all = _groups(grid.cells, cfg.N, cfg.L)
        in_trained = group_all < groups_num
        # Renumber the classes of the kept groups (still lexicographic).
        new_index = np.where(in_trained, np.cumsum(in_trained) - 1, -1)
        labels = np.full(len(east), -1, dtype=np.int64)
        kept = grid.labels >= 0
        labels[kept] = new_index[grid.labels[kept]]
        cells = grid.cells[in_trained]
        untrained = int(grid.counts[~in_trained].sum())

        if cfg.coord_mode == "center":
            coords = (cells[:, :2] + 0.5) * cfg.M
        else:
            coords = class_means(labels, east, north, len(cells))
        keys = np.column_stack([cells[:, :2] * cfg.M, cells[:, 2] * cfg.alpha]).astype(np.float64)
        return Partition(
            method=self.name,
            config=config_to_dict(cfg),
            locator=GridLocator(cfg.M, cells, heading_step=cfg.alpha),
            class_keys=keys,
            class_coords=coords.astype(np.float64),
            coord_mode=cfg.coord_mode,
            group_of_class=group_all[in_trained],
            num_groups=groups_num,
            class_counts=grid.counts[in_trained],
            train_labels=labels.astype(np.int64),
            dropped_by_reason={"min_images_per_class": grid.dropped, "untrained_groups": untrained},
            utm_zone=zone_text(utm_zone),
            info={"total_groups": total_groups},
        )


def _groups(cells: np.ndarray, n: int, l: int) -> np.ndarray:
    """Group index ``(C,)`` of (E, Nn, H) cell indices: lexicographic order of (E mod N, Nn mod N, H mod L)."""
    return ((np.mod(cells[:, 0], n) * n + np.mod(cells[:, 1], n)) * l + np.mod(cells[:, 2], l)).astype(np.int64)
