"""HGE partition (METHODS.md §6): three nested adaptive S2 partitions and their hierarchy.

The returned Partition is the *fine* level; ``children`` holds ``coarse`` and ``medium``, and
``hierarchy[j] = (coarse class, medium class)`` of fine class j, found from cell-id ancestry (the
fine cell's id lies inside exactly one coarser kept cell's leaf range), never from coordinates.
Nesting is guaranteed: all levels start from the same cells and the same τmin pass, and a coarser
partition stops splitting earlier, so every fine cell lies inside a kept medium and coarse cell.
"""

from __future__ import annotations

import numpy as np

from vprkit.config import config_to_dict
from vprkit.errors import DataError
from vprkit.geometry.points import check_points
from vprkit.partition import Partition
from vprkit_hge.config import HgePartitionConfig
from vprkit_s2.partition import resolve_zone, s2_leaf_ids, s2_partition, scaled_taus, tau_scale_factor

__all__ = ["HgePartitioner", "LEVELS"]

LEVELS = ("coarse", "medium", "fine")


class HgePartitioner:
    """Builds the three HGE partitions; ``fit`` needs the points' UTM zone (argument or config)."""

    name = "hge"

    def __init__(self, config: HgePartitionConfig | None = None):
        self.config = config or HgePartitionConfig()

    def fit(self, east, north, heading=None, features=None, *, utm_zone=None) -> Partition:
        """Partition ``(n,)`` training points (UTM metres); returns the fine level with its parents."""
        cfg = self.config
        east, north = check_points(east, north, "hge training points")
        zone = resolve_zone(utm_zone, cfg.utm_zone, self.name)
        scale = tau_scale_factor(cfg.tau_scale, east, north)
        leaves = s2_leaf_ids(east, north, zone)
        config = config_to_dict(cfg)
        parts = {}
        for level, tau_max in zip(LEVELS, (cfg.tau_max_coarse, cfg.tau_max_medium, cfg.tau_max_fine)):
            tau_min, tau_max = scaled_taus(cfg.tau_min, tau_max, scale)
            parts[level] = s2_partition(
                self.name if level == "fine" else f"{self.name}.{level}", config, leaves, east, north, zone,
                tau_min=tau_min, tau_max=tau_max, lvl_min=cfg.lvl_min, lvl_max=cfg.lvl_max,
                coord_mode=cfg.coord_mode, info={"tau_scale": scale, "level": level},
            )
        fine = parts["fine"]
        fine_ids = fine.extras["cell_ids"]
        columns = [parts[level].locator.locate_leaves(fine_ids) for level in LEVELS[:2]]
        hierarchy = np.stack(columns, axis=1) if len(fine_ids) else np.zeros((0, 2), dtype=np.int64)
        if (hierarchy < 0).any():  # cannot happen with nested τ; guard against future edits
            raise DataError("HGE: some fine cells have no kept ancestor in a coarser partition")
        fine.children = {"coarse": parts["coarse"], "medium": parts["medium"]}
        fine.hierarchy = hierarchy
        return fine
