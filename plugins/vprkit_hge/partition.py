"""HGE partition (docs/partitioners/hge.md): three nested adaptive S2 partitions and their hierarchy.

The returned Partition is the *fine* level; ``children`` holds ``coarse`` and ``medium``, and
``hierarchy[j] = (coarse class, medium class)`` of fine class j, found from cell-id ancestry (the
fine cell's id lies inside exactly one coarser kept cell's leaf range), never from coordinates.
Nesting is guaranteed: all levels start from the same cells and the same τmin pass, and a coarser
partition stops splitting earlier, so every fine cell lies inside a kept medium and coarse cell.
"""

from __future__ import annotations

import numpy as np
from vprkit_s2.partition import S2Points, s2_partition

from vprkit.config import config_to_dict
from vprkit.errors import DataError
from vprkit.geometry.locate import S2Locator
from vprkit.partition import Partition, PartitionerBase, TrainingPoints
from vprkit_hge.config import HgePartitionConfig

__all__ = ["LEVELS", "HgePartitioner"]

LEVELS = ("coarse", "medium", "fine")


class HgePartitioner(PartitionerBase[HgePartitionConfig]):
    """Builds the three HGE partitions (``fit`` returns the fine level with its parents); ``fit``
    needs the points' UTM zone (argument or config)."""

    name = "hge"
    config_cls = HgePartitionConfig

    def partition(self, points: TrainingPoints) -> Partition:
        cfg = self.config
        pts = S2Points.of(points, cfg.utm_zone, self.name, cfg.tau_scale)
        config = config_to_dict(cfg)
        parts: dict[str, Partition] = {}
        for level, tau_max in zip(LEVELS, (cfg.tau_max_coarse, cfg.tau_max_medium, cfg.tau_max_fine)):
            method = self.name if level == "fine" else f"{self.name}.{level}"
            parts[level] = s2_partition(method, config, cfg, pts, tau_max, info={"level": level})
        fine = parts["fine"]
        fine_ids = fine.extras["cell_ids"]
        columns = []
        for level in LEVELS[:2]:
            locator = parts[level].locator
            assert isinstance(locator, S2Locator)  # s2_partition locates by S2 cells
            columns.append(locator.locate_leaves(fine_ids))
        hierarchy = np.stack(columns, axis=1) if len(fine_ids) else np.zeros((0, 2), dtype=np.int64)
        if (hierarchy < 0).any():  # cannot happen with nested τ; guard against future edits
            raise DataError("HGE: some fine cells have no kept ancestor in a coarser partition")
        fine.children = {"coarse": parts["coarse"], "medium": parts["medium"]}
        fine.hierarchy = hierarchy
        return fine
