"""CosPlace partition (Berton et al., CVPR 2022; docs/partitioners/cosplace.md): cells × heading bins in N·N·L groups.

``E = floor(east/M)``, ``Nn = floor(north/M)``, ``H = floor((heading mod 360)/α)`` (the official
code does not wrap headings; vprkit does). Group tuple of a class
``(E mod N, Nn mod N, H mod L)``. Classes with fewer than ``min_images_per_class`` images are
dropped first. Groups are numbered as the official trainer numbers them: in order of first
appearance while walking the training file list (the first image of each group among the kept
classes), and the first ``groups_num`` of them are trained (official: 8 of 50). The walk is the
input order unless ``walk_order`` is given; vprkit's image lists are in the official walk order
already (sorted names, or the order of ``<folder>_images_paths.txt``). Classes are numbered in
lexicographic (E, Nn, H) order.
"""

from __future__ import annotations

import numpy as np

from vprkit.config import config_to_dict
from vprkit.geometry.grid import count_grid_cells
from vprkit.geometry.locate import GridLocator
from vprkit.geometry.points import check_headings, class_means
from vprkit.geometry.utm import zone_text
from vprkit.partition import Partition, PartitionerBase, TrainingPoints
from vprkit_cosplace.config import CosPlacePartitionConfig

__all__ = ["CosPlacePartitioner"]


class CosPlacePartitioner(PartitionerBase[CosPlacePartitionConfig]):
    """Builds CosPlace partitions; ``fit`` needs a heading (degrees) for every image.

    ``fit(..., walk_order=...)``: ``(n,)`` rank of each point in the official walk of the training
    file list (which decides which groups are trained and their numbering); default: input order.
    """

    name = "cosplace"
    config_cls = CosPlacePartitionConfig

    def partition(self, points: TrainingPoints, walk_order: np.ndarray | None = None) -> Partition:
        cfg, east, north = self.config, points.east, points.north
        heading = check_headings(points.heading, len(east), "cosplace training points", method="CosPlace")
        total_groups = cfg.N * cfg.N * cfg.L

        cells_all = np.stack(
            [np.floor(east / cfg.M), np.floor(north / cfg.M), np.floor(heading / cfg.alpha)], axis=1
        ).astype(np.int64)
        grid = count_grid_cells(cells_all, cfg.min_images_per_class)
        tuple_group = _groups(grid.cells, cfg.N, cfg.L)
        trained_tuples = _groups_by_first_appearance(grid.labels, tuple_group, walk_order)[
            : cfg.groups_num or total_groups
        ]
        group_rank = np.full(total_groups, -1, dtype=np.int64)  # tuple index → group index (−1: not trained)
        group_rank[trained_tuples] = np.arange(len(trained_tuples))
        in_trained = group_rank[tuple_group] >= 0
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
            group_of_class=group_rank[tuple_group[in_trained]],
            num_groups=len(trained_tuples),
            class_counts=grid.counts[in_trained],
            train_labels=labels.astype(np.int64),
            dropped_by_reason={"min_images_per_class": grid.dropped, "untrained_groups": untrained},
            utm_zone=zone_text(points.utm_zone),
            # group g is the tuple ((E mod N)·N + (Nn mod N))·L + (H mod L) = group_tuples[g]
            info={"total_groups": total_groups, "group_tuples": trained_tuples.tolist()},
        )


def _groups_by_first_appearance(
    labels: np.ndarray, tuple_group: np.ndarray, walk_order: np.ndarray | None
) -> np.ndarray:
    """Group tuple indices in order of first appearance along the walk (the official
    ``defaultdict`` insertion order): a group enters with the first image of a kept class of it."""
    kept = np.flatnonzero(labels >= 0)
    if walk_order is None:
        position = kept
    else:
        walk_order = np.asarray(walk_order, dtype=np.int64)
        if walk_order.shape != labels.shape:
            raise ValueError(f"walk_order has {len(walk_order)} entries for {len(labels)} points")
        position = walk_order[kept]
    group_of_image = tuple_group[labels[kept]]
    first = np.full(int(tuple_group.max(initial=-1)) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, group_of_image, position)
    present = np.flatnonzero(first < np.iinfo(np.int64).max)
    return present[np.argsort(first[present], kind="stable")]


def _groups(cells: np.ndarray, n: int, l: int) -> np.ndarray:
    """Group index ``(C,)`` of (E, Nn, H) cell indices: lexicographic order of (E mod N, Nn mod N, H mod L)."""
    return ((np.mod(cells[:, 0], n) * n + np.mod(cells[:, 1], n)) * l + np.mod(cells[:, 2], l)).astype(np.int64)
