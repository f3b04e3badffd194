"""Validation during training: descriptors of a split, then LR@N of a classifier or of retrieval.

LR@N (docs/pipelines.md) comes from :func:`vprkit.evaluation.localization_recall`; for retrieval it
equals R@N, so it also selects CosPlace's best epoch ("best val R@1").
"""

from __future__ import annotations

import logging

import numpy as np

from vprkit.data.image_list import ImageList
from vprkit.evaluation import DEFAULT_NS, localization_recall

__all__ = ["retrieval_lr", "subsample_queries"]

log = logging.getLogger("vprkit.training")


def retrieval_lr(
    database_desc: np.ndarray,
    database_utm: np.ndarray,
    query_desc: np.ndarray,
    query_utm: np.ndarray,
    ns=DEFAULT_NS,
    radius: float = 25.0,
) -> dict[str, float]:
    """LR@N of exhaustive inner-product retrieval (the exact kNN of :func:`vprkit.index.exact.topk_all`)
    → ``{"LR@1": ..}`` in percent."""
    from vprkit.index.exact import topk_all

    k = min(max(ns), len(database_desc))
    _, rows = topk_all(
        np.ascontiguousarray(query_desc, dtype=np.float32), np.ascontiguousarray(database_desc, dtype=np.float32), k
    )
    pred = database_utm[rows]  # (Q, k, 2)
    return {f"LR@{n}": v for n, v in localization_recall(pred, query_utm, ns, radius).items()}


def subsample_queries(queries: ImageList, max_queries: int | None, seed: int = 0) -> ImageList:
    """At most ``max_queries`` rows, chosen deterministically (validation cost control)."""
    if max_queries is None or len(queries) <= max_queries:
        return queries
    rows = np.sort(np.random.default_rng(seed).choice(len(queries), max_queries, replace=False))
    return queries.subset(rows)
