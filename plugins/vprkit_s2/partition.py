"""Adaptive S2 partition (PlaNet/HGE/MvMF, METHODS.md §4).

Training points (UTM metres) are converted to lat/lon in the dataset's UTM zone, then to S2 leaf
ids; :func:`vprkit.geometry.adaptive_s2.adaptive_s2_cells` grows the cells. Classes are the kept
cells in id order; ``class_keys`` are their S2 tokens and ``extras["cell_ids"]`` the uint64 ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vprkit.config import config_to_dict
from vprkit.errors import DataError
from vprkit.geometry import s2
from vprkit.geometry.adaptive_s2 import SFXL_DENSITY, adaptive_s2_cells, occupied_cell_density
from vprkit.geometry.locate import S2Locator
from vprkit.geometry.points import check_points, class_means, class_medoids
from vprkit.geometry.utm import latlon_to_utm, utm_to_latlon, zone_text
from vprkit.partition import Partition
from vprkit_s2.config import S2PartitionConfig

__all__ = ["S2Partitioner", "resolve_zone", "tau_scale_factor", "s2_leaf_ids", "s2_partition"]


def resolve_zone(fit_zone, config_zone, method: str) -> str:
    """The UTM zone to use, from ``fit(utm_zone=...)`` or the config; missing is a clear error."""
    zone = zone_text(fit_zone if fit_zone is not None else config_zone)
    if zone is None:
        raise DataError(
            f"the {method} partitioner needs the UTM zone of the points to compute S2 cells: "
            f"pass fit(..., utm_zone='10S') or set utm_zone=10S in its config"
        )
    return zone


def tau_scale_factor(tau_scale, east: np.ndarray, north: np.ndarray) -> float:
    """The τ multiplier: a number as given, or for ``"auto"`` the density relative to SF-XL."""
    if tau_scale == "auto":
        return occupied_cell_density(east, north) / SFXL_DENSITY
    return float(tau_scale)


def s2_leaf_ids(east: np.ndarray, north: np.ndarray, zone: str) -> np.ndarray:
    lat, lon = utm_to_latlon(east, north, zone)
    return s2.latlon_to_leaf_ids(lat, lon)


def class_coordinates(mode: str, labels, east, north, cell_ids: np.ndarray, zone: str) -> np.ndarray:
    """Class2UTM ``(C, 2)`` of S2 cells: image mean, S2 cell centre or image nearest the mean."""
    if mode == "mean":
        return class_means(labels, east, north, len(cell_ids))
    if mode == "medoid":
        return class_medoids(labels, east, north, len(cell_ids))
    lat, lon = s2.cell_centers_latlon(cell_ids)
    east, north, _ = latlon_to_utm(lat, lon, zone)
    return np.stack([east, north], axis=1)


def s2_partition(
    method: str, config: dict[str, Any], leaves, east, north, zone: str, *, tau_min: int, tau_max: int,
    lvl_min: int, lvl_max: int, coord_mode: str, info: dict[str, Any] | None = None,
) -> Partition:
    """One adaptive S2 partition of points given by their leaf ids and UTM."""
    cells = adaptive_s2_cells(leaves, tau_min, tau_max, lvl_min, lvl_max)
    return Partition(
        method=method,
        config=config,
        locator=S2Locator(cells.cell_ids, np.arange(len(cells.cell_ids)), zone),
        class_keys=s2.ids_to_tokens(cells.cell_ids),
        class_coords=class_coordinates(coord_mode, cells.labels, east, north, cells.cell_ids, zone),
        coord_mode=coord_mode,
        group_of_class=np.zeros(len(cells.cell_ids), dtype=np.int64),
        num_groups=1,
        class_counts=cells.counts,
        train_labels=cells.labels,
        dropped_by_reason={"tau_min_start": cells.dropped_first, "tau_min_end": cells.dropped_last},
        utm_zone=zone,
        extras={"cell_ids": cells.cell_ids, "cell_levels": s2.id_levels(cells.cell_ids)},
        info={"tau_min": tau_min, "tau_max": tau_max, **(info or {})},
    )


class S2Partitioner:
    """Builds adaptive S2 partitions; ``fit`` needs the points' UTM zone (argument or config)."""

    name = "s2"

    def __init__(self, config: S2PartitionConfig | None = None):
        self.config = config or S2PartitionConfig()

    def fit(self, east, north, heading=None, features=None, *, utm_zone=None) -> Partition:
        """Partition ``(n,)`` training points (UTM metres) into adaptive S2 cells."""
        cfg = self.config
        east, north = check_points(east, north, "s2 training points")
        zone = resolve_zone(utm_zone, cfg.utm_zone, self.name)
        scale = tau_scale_factor(cfg.tau_scale, east, north)
        tau_min, tau_max = scaled_taus(cfg.tau_min, cfg.tau_max, scale)
        return s2_partition(
            self.name, config_to_dict(cfg), s2_leaf_ids(east, north, zone), east, north, zone,
            tau_min=tau_min, tau_max=tau_max, lvl_min=cfg.lvl_min, lvl_max=cfg.lvl_max,
            coord_mode=cfg.coord_mode, info={"tau_scale": scale},
        )


def scaled_taus(tau_min: int, tau_max: int, scale: float) -> tuple[int, int]:
    """τ values multiplied by ``scale`` and rounded (τmax stays above τmin)."""
    lo = int(round(tau_min * scale))
    return lo, max(int(round(tau_max * scale)), lo + 1)
