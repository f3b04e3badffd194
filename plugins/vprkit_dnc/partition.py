"""D&C partition (paper 001, METHODS.md §1): square cells of M metres in N² groups.

``cell = (floor(east/M), floor(north/M))``; cells with fewer than ``min_images_per_class`` images
are dropped; ``group = (cell_e mod N)·N + (cell_n mod N)``, so two cells of one group are never
adjacent (not even diagonally, for N ≥ 2). Classes are numbered in lexicographic (cell_e, cell_n)
order. Heading and features are ignored.
"""

from __future__ import annotations

import numpy as np

from vprkit.config import config_to_dict
from vprkit.geometry.grid import count_grid_cells
from vprkit.geometry.locate import GridLocator
from vprkit.geometry.points import check_points, class_means
from vprkit.geometry.utm import zone_text
from vprkit.partition import Partition
from vprkit_dnc.config import DncPartitionConfig

__all__ = ["DncPartitioner"]


class DncPartitioner:
    """Builds D&C partitions; ``fit`` takes UTM metres (headings/features are ignored)."""

    name = "dnc"

    def __init__(self, config: DncPartitionConfig | None = None):
        self.config = config or DncPartitionConfig()

    def fit(self, east, north, heading=None, features=None, *, utm_zone=None) -> Partition:
        """Partition ``(n,)`` training points (UTM metres) into cells and groups."""
        cfg = self.config
        east, north = check_points(east, north, "dnc training points")
        locator_cells = np.stack([np.floor(east / cfg.M), np.floor(north / cfg.M)], axis=1).astype(np.int64)
        grid = count_grid_cells(locator_cells, cfg.min_images_per_class)
        cells = grid.cells
        groups = np.mod(cells[:, 0], cfg.N) * cfg.N + np.mod(cells[:, 1], cfg.N)
        if cfg.coord_mode == "center":
            coords = (cells + 0.5) * cfg.M
        else:
            coords = class_means(grid.labels, east, north, len(cells))
        return Partition(
            method=self.name,
            config=config_to_dict(cfg),
            locator=GridLocator(cfg.M, cells),
            class_keys=cells * cfg.M,
            class_coords=coords.astype(np.float64),
            coord_mode=cfg.coord_mode,
            group_of_class=groups.astype(np.int64),
            num_groups=cfg.N * cfg.N,
            class_counts=grid.counts,
            train_labels=grid.labels,
            dropped_by_reason={"min_images_per_class": grid.dropped},
            utm_zone=zone_text(utm_zone),
        )

