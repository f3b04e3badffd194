"""CPlaNet partition (Seo et al., ECCV 2018; docs/partitioners/cplanet.md): geoclass sets and their combinatorial regions.

``fit`` builds the atom graph (:mod:`vprkit_cplanet.atoms`), then one geoclass set per column of
the config (paper Table 1) by greedy merging (:mod:`vprkit_cplanet.merge`). The returned
Partition's classes are the **combinatorial regions**: atoms grouped by identical geoclass tuples,
sorted by tuple; ``class_keys`` is that ``(R, K)`` tuple matrix, ``class_coords`` the mean UTM of
the region's training images (eq. 4). ``children`` holds the sets ``set1``..``setK`` (each a
Partition the trainer fits one head to) and ``hierarchy[r, k]`` is region r's geoclass in set k.
``extras`` keeps ``atom_ids``/``atom_region`` and, per set, ``atoms_per_class`` for NormalizedSum
(:func:`vprkit_cplanet.scoring.normalized_sum`).

Visual distances use the per-image ``features`` given to ``fit`` (e.g. from a frozen pretrained
backbone). Without features the visual term is dropped (β1 → 0, β2 → 1 for every set), so the
sets differ only by their node scores and target counts; ``info["visual"]`` records which.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from vprkit_s2.partition import S2Points

from vprkit.config import config_to_dict
from vprkit.errors import DataError
from vprkit.geometry import s2
from vprkit.geometry.adaptive_s2 import occupied_cell_density
from vprkit.geometry.locate import S2Locator
from vprkit.geometry.points import class_means
from vprkit.partition import Partition, PartitionerBase, TrainingPoints
from vprkit_cplanet.atoms import AtomGraph, build_atom_graph
from vprkit_cplanet.config import CPlaNetPartitionConfig
from vprkit_cplanet.merge import edge_medians, greedy_merge

__all__ = ["CPlaNetPartitioner", "target_counts"]

log = logging.getLogger(__name__)


def target_counts(cfg: CPlaNetPartitionConfig, east: np.ndarray, north: np.ndarray) -> list[int]:
    """Geoclasses per set: as configured, or the occupied area (20 m squares) ÷ mean geoclass area."""
    if cfg.num_geoclasses is not None:
        return [int(t) for t in cfg.num_geoclasses]
    density = occupied_cell_density(east, north)
    area = (len(east) / density) * 400.0 if density else 0.0
    return [max(1, round(area / a)) for a in cfg.geoclass_area_m2]


def _check_features(features: ArrayLike | None, n: int) -> np.ndarray | None:
    if features is None:
        return None
    rows = np.asarray(features, dtype=np.float64)
    if rows.ndim != 2 or len(rows) != n:
        raise DataError(f"cplanet: features must be (n_images, d) = ({n}, d), got {rows.shape}")
    if not np.isfinite(rows).all():
        raise DataError("cplanet: features contain NaN or infinite values")
    return rows


def _node_sums(values: np.ndarray, image_node: np.ndarray, order: np.ndarray, num_nodes: int) -> np.ndarray:
    """Per-node sums ``(V, d)`` of per-image rows ``(n, d)``, summed in ``order`` (rows sorted by node
    then position, so the sums do not depend on input order); one ``reduceat``, no Python loop."""
    starts = np.searchsorted(image_node[order], np.arange(num_nodes))
    return np.add.reduceat(values[order], starts, axis=0)


class CPlaNetPartitioner(PartitionerBase[CPlaNetPartitionConfig]):
    """Builds CPlaNet geoclass sets; ``fit`` needs the UTM zone and optionally per-image features ``(n, d)``."""

    name = "cplanet"
    config_cls = CPlaNetPartitionConfig

    def partition(self, points: TrainingPoints) -> Partition:
        cfg, east, north = self.config, points.east, points.north
        features = _check_features(points.features, len(east))
        pts = S2Points.of(points, cfg.utm_zone, self.name)
        zone = pts.zone
        rng = np.random.default_rng(cfg.seed)
        graph = build_atom_graph(pts.leaves, cfg.atom_level, cfg.empty_rings, rng)
        targets = target_counts(cfg, east, north)
        visual = features is not None and features.shape[1] > 0
        if not visual:
            log.warning("cplanet: no image features given; geoclass sets use geographic distances only")

        v = graph.num_nodes
        centroids = class_means(graph.image_node, east, north, v)  # exact, order-independent
        centroid_sums = centroids * graph.node_images[:, None]
        feature_sums = None
        if visual:  # sum features in (node, position, first feature) order: same sums for any input order
            assert features is not None
            order = np.lexsort((features[:, 0], north, east, graph.image_node))
            feature_sums = _node_sums(features, graph.image_node, order, v)

        node_sets, achieved, stuck = [], [], []
        for k in range(cfg.num_sets):
            beta_vis, beta_geo = (cfg.beta1[k], cfg.beta2[k]) if visual else (0.0, 1.0)
            sub = None
            if visual and beta_vis:
                assert features is not None and feature_sums is not None  # computed above when visual
                dims = max(0, round(cfg.feature_fraction[k] * features.shape[1]))
                chosen = np.sort(np.random.default_rng([cfg.seed, k]).choice(features.shape[1], dims, replace=False))
                sub = feature_sums[:, chosen]
            med_geo, med_vis = edge_medians(graph.edges, centroids, sub)
            scores = (
                cfg.alpha1[k] * graph.node_images
                + cfg.alpha2[k] * graph.node_nonempty
                + cfg.alpha3[k] * graph.node_cells
            )
            result = greedy_merge(
                graph.edges,
                scores,
                graph.node_images,
                centroid_sums,
                sub,
                targets[k],
                beta_vis,
                beta_geo,
                med_geo,
                med_vis,
            )
            node_sets.append(result.node_class)
            achieved.append(result.num_classes)
            stuck.append(result.stuck)
        tuples = np.stack(node_sets, axis=1)  # (V, K) geoclass of each node per set
        info = {
            "targets": targets,
            "achieved": achieved,
            "isolated_nodes": stuck,
            "visual": visual,
            "atoms": len(graph.atom_ids),
            "nonempty_atoms": int(v),
        }
        return self._assemble(cfg, graph, tuples, east, north, zone, info)

    def _assemble(
        self,
        cfg: CPlaNetPartitionConfig,
        graph: AtomGraph,
        tuples: np.ndarray,
        east: np.ndarray,
        north: np.ndarray,
        zone: str,
        info: dict[str, Any],
    ) -> Partition:
        config = config_to_dict(cfg)
        regions, node_region = np.unique(tuples, axis=0, return_inverse=True)
        node_region = node_region.reshape(-1)
        children: dict[str, Partition] = {}
        for k in range(tuples.shape[1]):
            children[f"set{k + 1}"] = self._level(
                f"{self.name}.set{k + 1}",
                config,
                graph,
                tuples[:, k],
                int(tuples[:, k].max()) + 1,
                east,
                north,
                zone,
                keys=None,
            )
        part = self._level(self.name, config, graph, node_region, len(regions), east, north, zone, keys=regions)
        part.children = children
        part.hierarchy = regions.astype(np.int64)
        part.extras["atom_region"] = node_region[graph.atom_node]
        part.info = info
        return part

    def _level(
        self,
        method: str,
        config: dict[str, Any],
        graph: AtomGraph,
        node_class: np.ndarray,
        num_classes: int,
        east: np.ndarray,
        north: np.ndarray,
        zone: str,
        keys: np.ndarray | None,
    ) -> Partition:
        """One Partition whose classes are groups of nodes (a geoclass set or the regions)."""
        atom_class = node_class[graph.atom_node]
        labels = node_class[graph.image_node]
        if keys is None:  # a geoclass's natural key: the token of its first (lowest-id) atom
            first_atom = np.full(num_classes, len(atom_class), dtype=np.int64)
            np.minimum.at(first_atom, atom_class, np.arange(len(atom_class)))
            keys = s2.ids_to_tokens(graph.atom_ids[first_atom])
        return Partition(
            method=method,
            config=config,
            locator=S2Locator(graph.atom_ids, atom_class, zone),
            class_keys=keys,
            class_coords=class_means(labels, east, north, num_classes),
            coord_mode="mean",
            group_of_class=np.zeros(num_classes, dtype=np.int64),
            num_groups=1,
            class_counts=np.bincount(labels, minlength=num_classes).astype(np.int64),
            train_labels=labels.astype(np.int64),
            dropped_by_reason={},
            utm_zone=zone,
            extras={
                "atoms_per_class": np.bincount(atom_class, minlength=num_classes).astype(np.int64),
                **({"atom_ids": graph.atom_ids} if method == self.name else {}),
            },
        )
