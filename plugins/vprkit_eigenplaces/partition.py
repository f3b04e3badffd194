"""The EigenPlaces classes (Berton et al., ICCV 2023, §3; docs/methods/eigenplaces.md): per UTM cell,
two focal points from the principal directions of its images' positions, and per focal point the
views that look at it.

The cells and their N×N groups are CosPlace's grid without heading bins — the registered
``cosplace`` partitioner with ``alpha = 360`` and ``L = 1`` builds them (cells of M metres, group
``(cell_e mod N, cell_n mod N)``, groups in order of first appearance, cells under
``min_images_per_class`` images dropped), exactly the official ``get__class_id__group_id``. On top:

1. per cell, the centre of mass ``μ`` of its images' (east, north) and the eigenvectors of their
   2×2 scatter matrix (the principal directions the official code takes from an SVD): the
   *minor* axis (least spread) is across the street, the *major* one along it;
2. the **lateral** focal point ``μ + D · minor`` and the **frontal** one ``μ + D · R(90°) minor``
   (``D = focal_dist``; ``R(90°)`` turns counter-clockwise in the east–north plane), the official
   angles 0° and 90°;
3. per focal point and panorama (the images of a cell at one position), the crop whose heading is
   nearest the bearing from that position to the focal point (kept when within
   ``max_view_error_deg``): the official code cuts that very view out of each panorama; vprkit's
   training sets are crops with headings, so it picks the crop that faces the focal point;
4. a cell is a class of a view when it has ``min_images_per_class`` such images; group ``g`` gives
   the lateral and the frontal class set of the epochs that train it.

Everything is array code over all images at once (NumPy); only the groups (≤ N²) are a loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vprkit.errors import DataError, PluginError
from vprkit.partition import Partition
from vprkit.training.data import GroupData, group_data_from_labels
from vprkit_eigenplaces.config import EigenPlacesPartitionConfig

__all__ = [
    "VIEWS",
    "EigenPlacesClasses",
    "bearing_deg",
    "build_classes",
    "cell_partition_config",
    "focal_points",
    "principal_axes",
    "select_views",
]

#: the two views, in the official order (dataset ``2g`` is lateral, ``2g + 1`` frontal), and the
#: angle (degrees, counter-clockwise) between each focal direction and the cell's minor axis
VIEWS = ("lateral", "frontal")
_VIEW_ANGLES_DEG = (0.0, 90.0)


def cell_partition_config(config: EigenPlacesPartitionConfig) -> Any:
    """The ``cosplace`` partitioner config that gives EigenPlaces' cells and groups: one heading
    bin (``alpha = 360``, ``L = 1``), the same M, N, kept groups and minimum images per cell."""
    from vprkit.errors import UnknownNameError
    from vprkit.registry import get_spec

    try:
        spec = get_spec("partitioner", "cosplace")
    except UnknownNameError as exc:
        raise PluginError(
            "eigenplaces trains on the cells of the 'cosplace' partitioner (alpha=360, L=1), which is not installed"
        ) from exc
    return spec.config.model_validate(
        {
            "M": config.M,
            "alpha": 360.0,
            "N": config.N,
            "L": 1,
            "groups_num": config.groups_num,
            "min_images_per_class": config.min_images_per_class,
            "coord_mode": "mean",
        }
    )


def principal_axes(
    east: np.ndarray, north: np.ndarray, labels: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass and minor principal axis of every class's image positions.

    Args:
        east, north: ``(n,)`` UTM metres.
        labels: ``(n,)`` int class of each image, −1 for images in no class.
        n_classes: ``C``; every class must own at least one image.

    Returns:
        ``centroids (C, 2)`` metres (east, north) and ``minor (C, 2)`` unit vectors: the
        eigenvector of the class's 2×2 scatter matrix with the smaller eigenvalue, signed so
        that its east component is positive (north positive when east is 0) — an eigenvector's
        sign is arbitrary (LAPACK's in the official SVD), this makes it reproducible.
    """
    kept = labels >= 0
    lab, e, n = labels[kept], east[kept], north[kept]
    counts = np.bincount(lab, minlength=n_classes).astype(np.float64)
    if n_classes and counts.min() == 0:
        raise DataError(f"class {int(np.argmin(counts))} has no image: cannot compute its principal axes")
    mean_e = np.bincount(lab, e, minlength=n_classes) / counts
    mean_n = np.bincount(lab, n, minlength=n_classes) / counts
    de, dn = e - mean_e[lab], n - mean_n[lab]  # centred first: UTM values are ~1e6, squares lose digits
    scatter = np.empty((n_classes, 2, 2))
    scatter[:, 0, 0] = np.bincount(lab, de * de, minlength=n_classes)
    scatter[:, 1, 1] = np.bincount(lab, dn * dn, minlength=n_classes)
    scatter[:, 0, 1] = scatter[:, 1, 0] = np.bincount(lab, de * dn, minlength=n_classes)
    _, vectors = np.linalg.eigh(scatter)  # eigenvalues ascending: column 0 is the minor axis
    minor = vectors[:, :, 0]
    flip = (minor[:, 0] < 0) | ((minor[:, 0] == 0) & (minor[:, 1] < 0))
    minor[flip] *= -1.0
    return np.stack([mean_e, mean_n], axis=1), minor


def focal_points(centroids: np.ndarray, minor: np.ndarray, distance: float) -> np.ndarray:
    """``(C, 2, 2)`` focal points ``[class, view, (east, north)]`` in metres: view 0 (lateral) at
    ``distance`` along the minor axis, view 1 (frontal) along the minor axis turned by 90°."""
    angles = np.deg2rad(np.asarray(_VIEW_ANGLES_DEG))
    cos, sin = np.cos(angles)[None, :], np.sin(angles)[None, :]  # (1, V)
    # R(θ)·v for every class and view: (v_e cos θ − v_n sin θ, v_e sin θ + v_n cos θ)
    direction = np.stack(
        [minor[:, :1] * cos - minor[:, 1:] * sin, minor[:, :1] * sin + minor[:, 1:] * cos], axis=2
    )  # (C, V, 2)
    return centroids[:, None, :] + distance * direction


def bearing_deg(east: np.ndarray, north: np.ndarray, target_east: np.ndarray, target_north: np.ndarray) -> np.ndarray:
    """Compass bearing in [0, 360) degrees (clockwise from north) from each point to its target."""
    return np.mod(np.degrees(np.arctan2(target_east - east, target_north - north)), 360.0)


def select_views(
    east: np.ndarray,
    north: np.ndarray,
    heading: np.ndarray,
    labels: np.ndarray,
    focal: np.ndarray,
    max_error_deg: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The image each panorama contributes to each view.

    A panorama is the images of one class at one position (rounded to the centimetre, the
    precision of the standard file names). For view ``v`` it contributes its crop whose heading
    is nearest the bearing to the class's focal point ``focal[c, v]``, when that difference is
    at most ``max_error_deg``.

    Args:
        east, north, heading: ``(n,)`` metres and degrees clockwise from north.
        labels: ``(n,)`` class of each image, −1 for none.
        focal: ``(C, V, 2)`` focal points (:func:`focal_points`).
        max_error_deg: largest accepted heading error, degrees.

    Returns:
        ``view_labels (V, n)`` int64 (the image's class in that view, −1 where it is not used)
        and ``view_error (V, n)`` float64 degrees (heading minus bearing, absolute, in [0, 180];
        NaN for images in no class).
    """
    n, n_views = len(labels), focal.shape[1]
    rows = np.flatnonzero(labels >= 0)
    lab = labels[rows]
    view_labels = np.full((n_views, n), -1, dtype=np.int64)
    view_error = np.full((n_views, n), np.nan)
    if len(rows) == 0:
        return view_labels, view_error
    position = np.stack([lab, np.round(east[rows] * 100.0), np.round(north[rows] * 100.0)], axis=1).astype(np.int64)
    _, panorama = np.unique(position, axis=0, return_inverse=True)
    panorama = panorama.reshape(-1)
    for v in range(n_views):
        bearing = bearing_deg(east[rows], north[rows], focal[lab, v, 0], focal[lab, v, 1])
        error = np.abs(np.mod(heading[rows] - bearing + 180.0, 360.0) - 180.0)
        order = np.lexsort((error, panorama))  # by panorama, then by error: the first is the best crop
        first = np.ones(len(order), dtype=bool)
        first[1:] = panorama[order[1:]] != panorama[order[:-1]]
        best = order[first]
        best = best[error[best] <= max_error_deg]
        view_labels[v, rows[best]] = lab[best]
        view_error[v, rows] = error
    return view_labels, view_error


@dataclass(frozen=True)
class EigenPlacesClasses:
    """The training classes of EigenPlaces.

    Attributes:
        cells: the cell partition (``cosplace`` with one heading bin): classes = cells, groups.
        focal: ``(C, 2, 2)`` focal points ``[cell, view (0 lateral, 1 frontal), (east, north)]``, metres.
        view_labels: ``(2, n)`` int64 cell of each training image in each view (−1: not used there).
        groups: per trained group, its ``(lateral, frontal)`` classes as CSR image lists; local
            class ``j`` of a view is the ``j``-th cell (in cell order) of the group kept in that view.
        group_cells: per trained group, the ``(lateral, frontal)`` cell indices of its local classes.
        dropped_groups: cell groups left out because a view has no class in them.
    """

    cells: Partition
    focal: np.ndarray
    view_labels: np.ndarray
    groups: list[tuple[GroupData, GroupData]]
    group_cells: list[tuple[np.ndarray, np.ndarray]]
    dropped_groups: list[int]

    def summary(self) -> dict[str, Any]:
        """JSON-able facts for the training summary."""
        return {
            "cells": self.cells.num_classes,
            "cell_groups": self.cells.num_groups,
            "groups": len(self.groups),
            "dropped_groups": self.dropped_groups,
            "classes": {view: [len(pair[v]) for pair in self.group_cells] for v, view in enumerate(VIEWS)},
            "images": {view: int((self.view_labels[v] >= 0).sum()) for v, view in enumerate(VIEWS)},
            "cell_partition": self.cells.summary(),
        }


def build_classes(
    cells: Partition, east: np.ndarray, north: np.ndarray, heading: np.ndarray, config: EigenPlacesPartitionConfig
) -> EigenPlacesClasses:
    """The EigenPlaces classes on the cell partition ``cells`` of the images ``(n,)`` (east,
    north in metres, heading in degrees clockwise from north)."""
    labels = np.asarray(cells.train_labels, dtype=np.int64)
    centroids, minor = principal_axes(east, north, labels, cells.num_classes)
    focal = focal_points(centroids, minor, config.focal_dist)
    view_labels, _ = select_views(east, north, heading, labels, focal, config.max_view_error_deg)
    # a cell is a class of a view with enough images there
    enough = (
        np.stack(
            [np.bincount(view_labels[v][view_labels[v] >= 0], minlength=cells.num_classes) for v in range(len(VIEWS))]
        )
        >= config.min_images_per_class
    )  # (V, C)
    view_labels = np.where(np.take_along_axis(enough, np.maximum(view_labels, 0), axis=1), view_labels, -1)
    group_of_class = np.asarray(cells.group_of_class)
    groups, group_cells, dropped = [], [], []
    for g in range(cells.num_groups):
        per_view = [np.flatnonzero((group_of_class == g) & enough[v]) for v in range(len(VIEWS))]
        if any(len(c) == 0 for c in per_view):
            dropped.append(g)
            continue
        pair = []
        for v, members in enumerate(per_view):
            local = np.full(cells.num_classes, -1, dtype=np.int64)
            local[members] = np.arange(len(members))
            pair.append(group_data_from_labels(np.where(view_labels[v] >= 0, local[view_labels[v]], -1), len(members)))
        groups.append((pair[0], pair[1]))
        group_cells.append((per_view[0], per_view[1]))
    if not groups:
        raise DataError(
            f"no group of the EigenPlaces partition has a lateral and a frontal class ({cells.num_classes} cells of "
            f"{config.M:g} m, at least {config.min_images_per_class} panoramas per view): use larger cells "
            "or a lower min_images_per_class"
        )
    return EigenPlacesClasses(cells, focal, view_labels, groups, group_cells, dropped)
