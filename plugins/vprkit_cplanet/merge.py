"""Greedy graph merging that makes one CPlaNet geoclass set (Seo et al., ECCV 2018, §3.3, eqs. 1–2).

Node score ``ω = α1·n_img + α2·n_S2+ + α3·n_S2``; edge weight
``ν = β1·dist_vis/med_vis + β2·dist_geo/med_geo`` with ``dist_vis = 1 − cos`` of the nodes' mean
features and ``dist_geo`` the distance between the nodes' image centroids (metres); both are
divided by their median over the initial edges so β1 and β2 weigh comparable numbers.
Repeatedly the lowest-score node merges into its neighbour of lowest edge weight; the merged node's
score is the sum of the two. A heap with lazy deletion (version counters) holds the scores; the
loop over merges is inherent to the greedy algorithm, while each merge's edge weights to all of a
node's neighbours are computed in one vectorised step. Ties go to the lowest node index, so the
result depends only on the (sorted) atoms, never on input order.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

__all__ = ["MergeResult", "edge_medians", "greedy_merge"]


@dataclass(frozen=True)
class MergeResult:
    """``node_class`` ``(V,)`` int64 geoclass of each initial node (classes numbered by their
    lowest node index); ``num_classes``; ``stuck`` nodes that had no neighbour left to merge into."""

    node_class: np.ndarray
    num_classes: int
    stuck: int


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 − cos between row(s) ``a`` and rows ``b`` (sums of features: cosine ignores scale)."""
    num = (b * a).sum(axis=-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return 1.0 - np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def edge_medians(edges: np.ndarray, centroids: np.ndarray, features: np.ndarray | None) -> tuple[float, float]:
    """Median geographic and visual distance over the initial edges (1.0 when undefined or 0)."""
    if not len(edges):
        return 1.0, 1.0
    geo = np.hypot(*(centroids[edges[:, 0]] - centroids[edges[:, 1]]).T)
    med_geo = float(np.median(geo)) or 1.0
    med_vis = 1.0
    if features is not None and features.shape[1]:
        vis = _cosine_distance(features[edges[:, 0]], features[edges[:, 1]])
        med_vis = float(np.median(vis)) or 1.0
    return med_geo, med_vis


def greedy_merge(
    edges: np.ndarray,
    scores: np.ndarray,
    image_counts: np.ndarray,
    centroid_sums: np.ndarray,
    feature_sums: np.ndarray | None,
    target: int,
    beta_vis: float,
    beta_geo: float,
    med_geo: float,
    med_vis: float,
) -> MergeResult:
    """Merge nodes until ``target`` remain (or no node can merge).

    Args:
        edges: ``(E, 2)`` undirected node pairs.
        scores: ``(V,)`` initial node scores ω.
        image_counts: ``(V,)`` images per node (weights of the centroids and mean features).
        centroid_sums: ``(V, 2)`` sum of image UTM per node (metres).
        feature_sums: ``(V, d)`` sum of image features per node, or None (no visual term).
    """
    num_nodes = len(scores)
    score = scores.astype(np.float64).copy()
    counts = image_counts.astype(np.float64).copy()
    csum = centroid_sums.astype(np.float64).copy()
    fsum = (
        None
        if feature_sums is None or not feature_sums.shape[1] or beta_vis == 0
        else feature_sums.astype(np.float64).copy()
    )
    parent = np.arange(num_nodes)
    version = np.zeros(num_nodes, dtype=np.int64)
    neighbours: list[set[int]] = [set() for _ in range(num_nodes)]
    for a, b in edges.tolist():
        neighbours[a].add(b)
        neighbours[b].add(a)
    heap = [(s, i, 0) for i, s in enumerate(score.tolist())]
    heapq.heapify(heap)
    alive = num_nodes
    stuck = 0
    while alive > target and heap:
        _s, a, ver = heapq.heappop(heap)
        if ver != version[a] or parent[a] != a:
            continue  # stale entry (lazy deletion)
        if not neighbours[a]:
            stuck += 1  # an isolated component: it cannot merge, leave it as a geoclass
            continue
        nb = np.fromiter(sorted(neighbours[a]), dtype=np.int64)
        weight = np.zeros(len(nb))
        if beta_geo:
            ca = csum[a] / counts[a]
            cb = csum[nb] / counts[nb, None]
            weight += beta_geo * np.hypot(cb[:, 0] - ca[0], cb[:, 1] - ca[1]) / med_geo
        if fsum is not None:
            weight += beta_vis * _cosine_distance(fsum[a], fsum[nb]) / med_vis
        b = int(nb[np.argmin(weight)])  # first minimum = lowest node index on ties
        # Merge a into b.
        parent[a] = b
        score[b] += score[a]
        counts[b] += counts[a]
        csum[b] += csum[a]
        if fsum is not None:
            fsum[b] += fsum[a]
        moved = neighbours[a]
        neighbours[a] = set()
        moved.discard(b)
        for x in moved:
            neighbours[x].discard(a)
            neighbours[x].add(b)
        neighbours[b].discard(a)
        neighbours[b] |= moved
        version[b] += 1
        heapq.heappush(heap, (float(score[b]), b, int(version[b])))
        alive -= 1

    # Resolve merge chains by pointer jumping (vectorised).
    root = parent.copy()
    while True:
        nxt = root[root]
        if (nxt == root).all():
            break
        root = nxt
    roots, first = np.unique(root, return_index=True)
    rank = np.empty(len(roots), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(roots))  # number classes by lowest node
    node_class = rank[np.searchsorted(roots, root)]
    return MergeResult(node_class=node_class, num_classes=len(roots), stuck=stuck)
