"""Triplet margin loss and **partial mining** (Masone and Berton's tutorial slides; docs/methods/netvlad.md).

The train split serves as queries and as database. Per chunk of ``cache_refresh_rate`` queries
(1,000), a descriptor cache is filled with the current network for: the chunk's queries, all their
positives (training images within ``positive_radius_m`` = 10 m, the query itself excluded) and a
random pool of ``neg_samples_num`` (1,000) database images. Each query then takes

- its **best positive**: the positive nearest to it in descriptor space;
- its ``negs_num_per_query`` (10) **hardest negatives**: the pool images nearest to it in descriptor
  space (faiss exact kNN) among those farther than ``negative_radius_m`` (25 m) from it.

Cost per chunk: O(chunk + Σ positives + pool) descriptors, independent of the database size
(full mining would describe the whole database). All selection is vectorised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vprkit.data.positives import Positives, positives_within
from vprkit.errors import DataError

__all__ = ["PartialMiner", "Triplets", "training_positives", "triplet_loss"]


def triplet_loss(
    queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, margin: float = 0.1
) -> torch.Tensor:
    """Mean over the ``B·M`` triplets of ``max(0, ‖q − p‖ − ‖q − n‖ + margin)``.

    Args:
        queries, positives: ``(B, D)`` unit descriptors.
        negatives: ``(B, M, D)`` unit descriptors.
    """
    b, m, d = negatives.shape
    q = queries[:, None, :].expand(b, m, d).reshape(b * m, d)
    p = positives[:, None, :].expand(b, m, d).reshape(b * m, d)
    return F.triplet_margin_loss(q, p, negatives.reshape(b * m, d), margin=margin, p=2.0, reduction="mean")


def training_positives(
    utm: np.ndarray, radius_m: float, heading: np.ndarray | None = None, max_heading_diff_deg: float | None = None
) -> Positives:
    """Positives of every training image among the others: within ``radius_m`` metres, itself
    excluded, and, when ``max_heading_diff_deg`` is set, with a heading at most that far (images
    with an unknown heading are not filtered). CSR over ``(n,)`` images, nearest first."""
    pos = positives_within(utm, utm, radius_m)
    owner = pos.query_ids()
    keep = pos.indices != owner
    if max_heading_diff_deg is not None and heading is not None:
        diff = np.abs(heading[owner] - heading[pos.indices]) % 360.0
        diff = np.minimum(diff, 360.0 - diff)
        keep &= ~(diff > max_heading_diff_deg)  # NaN headings compare False: kept
    counts = np.bincount(owner[keep], minlength=len(utm))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Positives(offsets, pos.indices[keep], pos.distances[keep], pos.radius)


@dataclass(frozen=True)
class Triplets:
    """Mined training tuples: ``queries (Q,)``, ``positives (Q,)``, ``negatives (Q, M)`` image rows."""

    queries: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray

    def __len__(self) -> int:
        return len(self.queries)


class PartialMiner:
    """Mines :class:`Triplets` for chunks of queries with a cache of current descriptors.

    Args:
        utm: ``(n, 2)`` UTM metres of the training images.
        positives: per image, its training positives (:func:`training_positives`).
        negative_radius_m: negatives lie farther than this from the query (metres).
        neg_samples_num: size of the random negative pool per chunk.
        negs_num_per_query: hardest negatives kept per query.
    """

    def __init__(
        self,
        utm: np.ndarray,
        positives: Positives,
        negative_radius_m: float = 25.0,
        neg_samples_num: int = 1000,
        negs_num_per_query: int = 10,
    ):
        self.utm = np.asarray(utm, dtype=np.float64)
        self.positives = positives
        self.negative_radius_m = float(negative_radius_m)
        self.pool_size = min(int(neg_samples_num), len(self.utm))
        self.negs = int(negs_num_per_query)
        if self.pool_size < self.negs:
            raise DataError(f"{len(self.utm)} training images cannot give {self.negs} negatives per query")

    @property
    def query_rows(self) -> np.ndarray:
        """Images that can be queries: those with at least one positive."""
        return np.flatnonzero(self.positives.counts > 0)

    def mine(
        self, queries: np.ndarray, describe: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator
    ) -> Triplets:
        """Triplets for the ``(Q,)`` query rows; ``describe(rows) -> (len(rows), D)`` unit descriptors
        with the current network. Queries whose pool holds fewer than ``negs_num_per_query``
        images beyond the negative radius are left out (rare: the pool is random)."""
        queries = np.asarray(queries, dtype=np.int64)
        counts = self.positives.counts[queries]
        if (counts == 0).any():
            raise DataError(f"{int((counts == 0).sum())} queries have no positive; draw them from query_rows")
        starts = self.positives.offsets[queries]
        pair_owner = np.repeat(np.arange(len(queries)), counts)
        pair_rows = self.positives.indices[
            np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        ]
        pool = np.sort(rng.choice(len(self.utm), self.pool_size, replace=False))

        cached = np.unique(np.concatenate([queries, pair_rows, pool]))
        desc = np.ascontiguousarray(describe(cached), dtype=np.float32)
        q_desc = desc[np.searchsorted(cached, queries)]
        p_desc = desc[np.searchsorted(cached, pair_rows)]
        pool_desc = desc[np.searchsorted(cached, pool)]

        # best positive = nearest in descriptor space; ties → nearest in metres (CSR order)
        d2 = ((q_desc[pair_owner] - p_desc) ** 2).sum(axis=1)
        order = np.lexsort((d2, pair_owner))
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        best_positive = pair_rows[order[first]]

        import faiss

        index = faiss.IndexFlatL2(desc.shape[1])
        index.add(pool_desc)
        _, nearest = index.search(q_desc, self.pool_size)  # (Q, pool) pool positions, nearest first
        cand = pool[nearest]
        far = ((self.utm[cand] - self.utm[queries][:, None, :]) ** 2).sum(axis=2) > self.negative_radius_m**2
        enough = far.sum(axis=1) >= self.negs
        # the first `negs` far candidates of each row, in descriptor order (stable sort of ~far)
        pick = np.argsort(~far, axis=1, kind="stable")[:, : self.negs]
        negatives = np.take_along_axis(cand, pick, axis=1)
        return Triplets(queries[enough], best_positive[enough], negatives[enough])
