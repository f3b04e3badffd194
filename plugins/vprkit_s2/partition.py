"""Adaptive S2 partition (PlaNet/HGE/MvMF; docs/partitioners/s2.md).

Training points (UTM metres) are converted to lat/lon in the dataset's UTM zone, then to S2 leaf
ids; :func:`vprkit.geometry.adaptive_s2.adaptive_s2_cells` grows the cells. Classes are the kept
cells in id order; ``class_keys`` are their S2 tokens and ``extras["cell_ids"]`` the uint64 ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vprkit.config import config_to_dict
from vprkit.errors import DataError
from vprkit.geometry import s2
from vprkit.geometry.adaptive_s2 import SFXL_DENSITY, adaptive_s2_cells, occupied_cell_density
from vprkit.geometry.locate import S2Locator
from vprkit.geometry.points import class_means, class_medoids
from vprkit.geometry.utm import Zone, latlon_to_utm, utm_to_latlon, zone_text
from vprkit.partition import Partition, PartitionerBase, TrainingPoints
from vprkit_s2.config import S2PartitionConfig, TauScale

__all__ = ["S2Levels", "S2Partitioner", "S2Points", "resolve_zone", "s2_leaf_ids", "s2_partition", "tau_scale_factor"]


def resolve_zone(fit_zone: str | Zone | tuple[int, str] | None, config_zone: str | None, method: str) -> str:
    """The UTM zone to use, from ``fit(utm_zone=...)`` or the config; missing is a clear error."""
    zone = zone_text(fit_zone if fit_zone is not None else config_zone)
    if zone is None:
        raise DataError(
            f"the {method} partitioner needs the UTM zone of the points to compute S2 cells: "
            f"pass fit(..., utm_zone='10S') or set utm_zone=10S in its config"
        )
    return zone


def tau_scale_factor(tau_scale: TauScale, east: np.ndarray, north: np.ndarray) -> float:
    """The τ multiplier: a number as given, or for ``"auto"`` the density relative to SF-XL."""
    if tau_scale == "auto":
        return occupied_cell_density(east, north) / SFXL_DENSITY
    return float(tau_scale)


def s2_leaf_ids(east: np.ndarray, north: np.ndarray, zone: str) -> np.ndarray:
    lat, lon = utm_to_latlon(east, north, zone)
    return s2.latlon_to_leaf_ids(lat, lon)


@dataclass(frozen=True)
class S2Points:
    """Training points (UTM metres) with their UTM ``zone``, S2 leaf ids (``leaves``) and the τ
    multiplier of the config's ``tau_scale`` (:func:`tau_scale_factor`)."""

    east: np.ndarray
    north: np.ndarray
    zone: str
    leaves: np.ndarray
    tau_scale: float = 1.0

    @classmethod
    def of(cls, points: TrainingPoints, config_zone: str | None, method: str, tau_scale: TauScale = 1.0) -> S2Points:
        """The zone from ``fit(utm_zone=...)`` or the config (:func:`resolve_zone`), the leaf ids, the τ multiplier."""
        east, north = points.east, points.north
        zone = resolve_zone(points.utm_zone, config_zone, method)
        return cls(east, north, zone, s2_leaf_ids(east, north, zone), tau_scale_factor(tau_scale, east, north))


class S2Levels(Protocol):
    """What :func:`s2_partition` reads of a config (the S2 partitioner's, HGE's)."""

    tau_min: int
    lvl_min: int
    lvl_max: int

    @property
    def coord_mode(self) -> str: ...


def class_coordinates(
    mode: str, labels: np.ndarray, east: np.ndarray, north: np.ndarray, cell_ids: np.ndarray, zone: str
) -> np.ndarray:
    """Class2UTM ``(C, 2)`` of S2 cells: image mean, S2 cell centre or image nearest the mean."""
    if mode == "mean":
        return class_means(labels, east, north, len(cell_ids))
    if mode == "medoid":
        return class_medoids(labels, east, north, len(cell_ids))
    lat, lon = s2.cell_centers_latlon(cell_ids)
    east, north, _ = latlon_to_utm(lat, lon, zone)
    return np.stack([east, north], axis=1)


def s2_partition(
    method: str, config: dict[str, Any], cfg: S2Levels, pts: S2Points, tau_max: int, info: dict[str, Any] | None = None
) -> Partition:
    """One adaptive S2 partition of ``pts``, τ scaled by ``pts.tau_scale`` (``config`` is what the
    Partition records of ``cfg``)."""
    tau_min, tau_max = scaled_taus(cfg.tau_min, tau_max, pts.tau_scale)
    cells = adaptive_s2_cells(pts.leaves, tau_min, tau_max, cfg.lvl_min, cfg.lvl_max)
    zone = pts.zone
    return Partition(
        method=method,
        config=config,
        locator=S2Locator(cells.cell_ids, np.arange(len(cells.cell_ids)), zone),
        class_keys=s2.ids_to_tokens(cells.cell_ids),
        class_coords=class_coordinates(cfg.coord_mode, cells.labels, pts.east, pts.north, cells.cell_ids, zone),
        coord_mode=cfg.coord_mode,
        group_of_class=np.zeros(len(cells.cell_ids), dtype=np.int64),
        num_groups=1,
        class_counts=cells.counts,
        train_labels=cells.labels,
        dropped_by_reason={"tau_min_start": cells.dropped_first, "tau_min_end": cells.dropped_last},
        utm_zone=zone,
        extras={"cell_ids": cells.cell_ids, "cell_levels": s2.id_levels(cells.cell_ids)},
        info={"tau_min": tau_min, "tau_max": tau_max, "tau_scale": pts.tau_scale, **(info or {})},
    )


class S2Partitioner(PartitionerBase[S2PartitionConfig]):
    """Builds adaptive S2 cells from UTM metres; ``fit`` needs the points' UTM zone (argument or config)."""

    name = "s2"
    config_cls = S2PartitionConfig

    def partition(self, points: TrainingPoints) -> Partition:
        cfg = self.config
        pts = S2Points.of(points, cfg.utm_zone, self.name, cfg.tau_scale)
        return s2_partition(self.name, config_to_dict(cfg), cfg, pts, cfg.tau_max)


def scaled_taus(tau_min: int, tau_max: int, scale: float) -> tuple[int, int]:
    """τ values multiplied by ``scale`` and rounded (τmax stays above τmin)."""
    lo = round(tau_min * scale)
    return lo, max(round(tau_max * scale), lo + 1)
