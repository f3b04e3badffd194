"""Places for multi-similarity training on a vprkit dataset, and the batches drawn from them.

GSV-Cities gives every image a place id (≥ 4 images per place, places ≥ 100 m apart); vprkit's
datasets give coordinates and headings. A *place* here is a UTM cell of ``cell_m`` metres × a
heading bin of ``heading_deg`` degrees holding at least ``min_images`` training images (images
of smaller cells belong to no place; images without a heading share a bin of their own). Places fall into
``spacing²`` sub-grids (cell coordinates mod ``spacing``); a batch draws its places from one
sub-grid, so that two places of a batch are at least ``(spacing − 1) · cell_m`` metres apart and
none is a false negative of another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vprkit.errors import DataError
from vprkit.training.data import GroupData, group_data_from_labels

__all__ = ["Places", "find_places", "sample_place_batches"]


@dataclass(frozen=True)
class Places:
    """Training places as CSR rows of the image list.

    Attributes:
        members: per place, its image rows (:class:`~vprkit.training.data.GroupData`).
        subgrid: ``(n_places,)`` int64, the sub-grid of each place.
        dropped: training images in no place.
    """

    members: GroupData
    subgrid: np.ndarray
    dropped: int

    @property
    def count(self) -> int:
        return self.members.n_classes


def find_places(
    east: np.ndarray,
    north: np.ndarray,
    heading: np.ndarray | None,
    *,
    cell_m: float,
    heading_deg: float | None,
    min_images: int,
    spacing: int,
) -> Places:
    """Places of ``n`` training images (UTM metres, headings in degrees; see the module docstring)."""
    cells = np.floor(np.stack([np.asarray(east), np.asarray(north)], axis=1) / cell_m).astype(np.int64)
    bins = np.zeros(len(cells), dtype=np.int64)
    if heading_deg is not None and heading is not None:
        heading = np.asarray(heading, dtype=np.float64)
        known = np.isfinite(heading)
        # an image without a heading joins the other heading-less images of its cell (bin -1)
        bins = np.where(known, np.floor(np.mod(np.where(known, heading, 0.0), 360.0) / heading_deg), -1)
        bins = bins.astype(np.int64)
    keys = np.concatenate([cells, bins[:, None]], axis=1)
    unique, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    kept = counts >= min_images
    if not kept.any():
        raise DataError(
            f"no place of {cell_m:g} m × {heading_deg or 360:g}° holds {min_images} training images "
            f"(most: {int(counts.max()) if len(counts) else 0}); use larger places or fewer img_per_place"
        )
    place_of_key = np.where(kept, np.cumsum(kept) - 1, -1)
    labels = place_of_key[inverse.ravel()].astype(np.int64)
    place_cells = unique[kept, :2]
    subgrid = np.mod(place_cells[:, 0], spacing) * spacing + np.mod(place_cells[:, 1], spacing)
    return Places(group_data_from_labels(labels, int(kept.sum())), subgrid.astype(np.int64), int((labels < 0).sum()))


def sample_place_batches(
    places: Places, n_batches: int, places_per_batch: int, img_per_place: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_batches`` batches of ``(rows, labels)``, each ``(P·K,)`` int64 (place-major: the K images
    of a place together; labels are place indices). A batch takes one sub-grid (chosen with
    probability ∝ its number of places), ``P = min(places_per_batch, places in it)`` of its places
    without replacement, and ``K = img_per_place`` images of each without replacement."""
    grids, grid_of_place = np.unique(places.subgrid, return_inverse=True)
    grid_sizes = np.bincount(grid_of_place, minlength=len(grids))
    order = np.argsort(grid_of_place, kind="stable")  # places grouped by sub-grid
    grid_start = np.concatenate([[0], np.cumsum(grid_sizes)])
    offsets, rows = places.members.offsets, places.members.rows
    sizes = np.diff(offsets)
    batches = []
    for g in rng.choice(len(grids), size=n_batches, p=grid_sizes / grid_sizes.sum()):
        members = order[grid_start[g] : grid_start[g + 1]]
        chosen = rng.choice(members, size=min(places_per_batch, len(members)), replace=False)
        # K of each place's images without replacement: the K smallest of random keys, padding last
        width = int(sizes[chosen].max())
        keys = rng.random((len(chosen), width))
        keys[np.arange(width)[None, :] >= sizes[chosen][:, None]] = np.inf
        picks = np.argsort(keys, axis=1)[:, :img_per_place]
        batches.append((rows[offsets[chosen][:, None] + picks].ravel(), np.repeat(chosen, img_per_place)))
    return batches
