"""D&C partition (Trivigno et al., ICCV 2023; docs/partitioners/dnc.md): square cells of M metres in N² groups.

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
from vprkit.geometry.points import class_means
from vprkit.geometry.utm import zone_text
from vprkit.partition import Partition, PartitionerBase, TrainingPoints
from vprkit_dnc.config import DncPartitionConfig

__all__ = ["DncPartitioner"]


class DncPartitioner(PartitionerBase[DncPartitionConfig]):
    """Builds D&C partitions: UTM metres into cells and groups (headings/features are ignored)."""

    name = "dnc"
    config_cls = DncPartitionConfig

    def partition(self, points: TrainingPoints) -> Partition:
        cfg, east, north = self.config, points.east, points.north
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
            utm_zone=zone_text(points.utm_zone),
        )
