"""LR@N and R@N, vectorised over queries and ranks.

- **LR@N** (localization radius at N): share of queries with at least one of the first N predicted
  *coordinates* within ``radius`` metres (Euclidean, UTM) of the ground truth. It applies to
  classifiers (class coordinates), retrieval (coordinates of retrieved images) and pipelines alike.
- **R@N** (retrieval convention): share of queries with at least one of the first N retrieved
  database *rows* among the query's positives (database images within ``radius`` of the query).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vprkit.errors import DataError

__all__ = ["DEFAULT_NS", "first_hit_rank", "localization_recall", "recall_at_n"]

DEFAULT_NS: tuple[int, ...] = (1, 5, 10, 20)


def first_hit_rank(pred_coords: np.ndarray, true_coords: np.ndarray, radius: float = 25.0) -> np.ndarray:
    """Rank (0-based) of the first prediction within ``radius`` of the truth; ``K`` when none.

    Args:
        pred_coords: ``(Q, K, 2)`` predicted UTM (east, north) in metres; NaN rows never hit
            (padding when a method returns fewer than K predictions).
        true_coords: ``(Q, 2)`` ground-truth UTM in metres.
    Returns:
        ``(Q,)`` int64.
    """
    pred = np.asarray(pred_coords, dtype=np.float64)
    true = np.asarray(true_coords, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[-1] != 2 or true.shape != (pred.shape[0], 2):
        raise DataError(f"expected predictions (Q, K, 2) and truth (Q, 2), got {pred.shape} and {true.shape}")
    dist2 = ((pred - true[:, None, :]) ** 2).sum(-1)  # (Q, K), NaN for padding
    hit = dist2 <= radius * radius  # NaN compares False
    k = pred.shape[1]
    return np.where(hit.any(1), hit.argmax(1), k).astype(np.int64)


def localization_recall(
    pred_coords: np.ndarray,
    true_coords: np.ndarray,
    ns: Sequence[int] = DEFAULT_NS,
    radius: float = 25.0,
) -> dict[int, float]:
    """LR@N in percent for each N in ``ns`` (N larger than K counts only the K given)."""
    rank = first_hit_rank(pred_coords, true_coords, radius)
    if len(rank) == 0:
        raise DataError("no queries to evaluate")
    k = np.asarray(pred_coords).shape[1]
    return {int(n): float((rank < min(n, k)).mean() * 100.0) for n in ns}


def recall_at_n(
    pred_rows: np.ndarray,
    positives_offsets: np.ndarray,
    positives_rows: np.ndarray,
    ns: Sequence[int] = DEFAULT_NS,
) -> dict[int, float]:
    """R@N in percent: is one of the first N retrieved rows a positive of the query?

    Args:
        pred_rows: ``(Q, K)`` int database rows, −1 for padding.
        positives_offsets: ``(Q + 1,)`` CSR offsets into ``positives_rows``.
        positives_rows: database rows that are positives, grouped by query.
    """
    pred = np.asarray(pred_rows, dtype=np.int64)
    q, k = pred.shape
    counts = np.diff(positives_offsets)
    if counts.shape != (q,):
        raise DataError(f"positives offsets describe {len(counts)} queries, predictions {q}")
    # Encode (query, row) pairs as one int64 key and test membership with one sorted search.
    n_rows = int(max(pred.max(initial=0), positives_rows.max(initial=0))) + 2
    pos_keys = np.repeat(np.arange(q, dtype=np.int64), counts) * n_rows + positives_rows.astype(np.int64)
    pos_keys.sort()
    pred_keys = np.arange(q, dtype=np.int64)[:, None] * n_rows + pred
    idx = np.searchsorted(pos_keys, pred_keys)
    found = (idx < len(pos_keys)) & (pos_keys[np.minimum(idx, len(pos_keys) - 1)] == pred_keys) & (pred >= 0)
    rank = np.where(found.any(1), found.argmax(1), k)
    return {int(n): float((rank < min(n, k)).mean() * 100.0) for n in ns}
