"""Evaluate a pipeline the way the D&C paper does: LR@N, per-stage latency, throughput, cost.

Latency is measured at batch size 1 over every query (the paper's setting: per-query time,
averaged); throughput runs the same queries in batches. Images are decoded before timing starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from vprkit.contracts import NullProgress, Progress
from vprkit.data.image_list import ImageList
from vprkit.data.images import open_image
from vprkit.data.positives import positives_within
from vprkit.errors import DataError
from vprkit.evaluation.metrics import DEFAULT_NS, localization_recall
from vprkit.evaluation.timing import StageTimer
from vprkit.pipeline.bundle import MapBundle
from vprkit.pipeline.localizer import Localization, Localizer

__all__ = ["Evaluation", "concat_localizations", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` measured on one query set.

    Attributes:
        report: the JSON-able report (keys in :func:`evaluate`), as ``vprkit run --json`` prints it.
        localization: every query's ranked places (batch-1 run, in query order), to plot them or
            write them out (:func:`vprkit.pipeline.predictions.prediction_records`).
    """

    report: dict[str, Any]
    localization: Localization


def concat_localizations(parts: list[Localization]) -> Localization:
    """Stack per-batch results into one (rows in query order)."""

    def stack(field: str) -> np.ndarray:
        return np.concatenate([getattr(p, field) for p in parts])

    return Localization(
        stack("coords"),
        stack("rows"),
        stack("scores"),
        None if parts[0].cells is None else stack("cells"),
        stack("confidence"),
        stack("candidates"),
        inliers=None if parts[0].inliers is None else stack("inliers"),
    )


def evaluate(
    localizer: Localizer,
    queries: ImageList,
    *,
    batch_size: int = 32,
    radius: float = 25.0,
    ns: tuple[int, ...] = DEFAULT_NS,
    progress: Progress | None = None,
    step: str = "queries",
) -> Evaluation:
    """Run every query at batch 1 (latency) and in batches (throughput); ``progress`` counts the
    batch-1 queries under ``step``.

    Returns the :class:`Evaluation`: the localization, and a JSON-able report with ``lr`` (keys
    "1", "5", "10", "20": percent), ``latency_ms`` (``extract``, ``classify``, ``gather``,
    ``knn``, with a re-ranker ``rerank``, and ``total``: per query at batch 1), ``batch_size``, ``radius_m``,
    ``throughput_qps``, ``candidates`` (mean database rows searched per query),
    ``database_size``, ``queries``, ``memory_bytes``, ``confidence``, ``by_condition``,
    ``chance_lr`` (:func:`chance_recall`: LR@N of N database images drawn at random) and, for a
    mixed pipeline, ``positives`` (percent of queries with a database image within ``radius``, and
    with one among their candidates), and with a re-ranker ``rerank`` (:func:`_rerank_report`).
    """
    if len(queries) == 0:
        raise DataError(f"no queries in {str(queries.root)!r}")
    if not np.isfinite(queries.east).all() or not np.isfinite(queries.north).all():
        raise DataError("some queries have no UTM coordinates; they cannot be evaluated")
    images = [open_image(queries.root / p) for p in queries.paths.tolist()]
    timer = StageTimer()
    progress = progress or NullProgress()
    parts = []
    for img in images:  # batch 1: the latency a user sees per photo
        parts.append(localizer.localize([img], timer))
        progress.update(step, len(parts), len(images))
    result = concat_localizations(parts)
    latency = timer.per_query_ms(len(images), localizer.stages)

    start = time.perf_counter()
    for i in range(0, len(images), batch_size):
        localizer.localize(images[i : i + batch_size])
    throughput = len(images) / max(time.perf_counter() - start, 1e-9)

    truth = np.stack([queries.east, queries.north], axis=1)
    lr = localization_recall(result.coords, truth, ns, radius)
    db = localizer.bundle.database
    report: dict[str, Any] = {
        "lr": {str(n): round(v, 2) for n, v in lr.items()},
        "latency_ms": {k: round(v, 4) for k, v in latency.items()},
        "throughput_qps": round(throughput, 1),
        "batch_size": batch_size,
        "candidates": float(result.candidates.mean()) if localizer.retriever is not None else 0.0,
        "database_size": len(db) if db is not None else 0,
        "queries": len(images),
        "memory_bytes": localizer.bundle.memory_bytes(),
        "radius_m": radius,
    }
    conf = result.confidence
    if np.isfinite(conf).any():
        report["confidence"] = _confidence_report(conf, result, truth, radius)
    if db is not None and len(db):
        report["chance_lr"] = chance_recall(truth, np.stack([db.east, db.north], axis=1), ns, radius)
    if localizer.mixed and result.cells is not None:  # (a mixed pipeline has a classifier, hence cells)
        report["positives"] = _positives_report(result.cells, truth, localizer.bundle, radius)
    report["by_condition"] = _by_condition(queries, result, truth, radius)
    if localizer.reranker is not None:
        report["rerank"] = _rerank_report(localizer, parts)
        if localizer.features is not None:
            report["memory_bytes"] = {**report["memory_bytes"], "local_features": localizer.features.size_bytes()}
    return Evaluation(report, result)


def _rerank_report(localizer: Localizer, parts: list[Localization]) -> dict[str, Any]:
    """What the re-ranker saw: its name and K, keypoints per query image and, of the re-ordered
    top-1, the inliers and how often re-ranking changed it."""
    assert localizer.reranker is not None
    done = [r for p in parts for r in (p.reranked or ()) if r is not None]
    query_kp = np.array([len(r.query) for r in done], dtype=np.float64)
    top1 = np.array([int(r.inliers[0]) for r in done], dtype=np.float64)
    moved = np.array([int(r.order[0]) != 0 for r in done], dtype=bool)
    report: dict[str, Any] = {
        "reranker": localizer.reranker.name,
        "k": localizer.rerank_k,
        "queries_verified": len(done),
        "median_query_keypoints": float(np.median(query_kp)) if done else None,
        "median_top1_inliers": float(np.median(top1)) if done else None,
        "top1_changed_pct": round(100.0 * float(moved.mean()), 2) if done else None,
    }
    if localizer.features is not None:
        counts = localizer.features.keypoint_counts()
        report["median_database_keypoints"] = float(np.median(counts)) if counts.size else None
        report["features_bytes_per_image"] = round(localizer.features.bytes_per_image(), 1)
    return report


def chance_recall(
    truth: np.ndarray, database: np.ndarray, ns: tuple[int, ...] = DEFAULT_NS, radius: float = 25.0
) -> dict[str, float]:
    """The chance level of LR@N: percent of queries expected to have a database image within
    ``radius`` among N drawn uniformly without replacement from the ``database`` (``(n, 2)`` UTM),
    exactly: 1 − C(n − p, N) / C(n, N) for a query with p positives, averaged over the queries."""
    import torch

    def gammaln(x: np.ndarray | float) -> np.ndarray:
        return torch.lgamma(torch.as_tensor(x, dtype=torch.float64)).numpy()

    n = len(database)
    p = positives_within(truth, database, radius).counts.astype(np.float64)
    out = {}
    for big_n in ns:
        k = min(big_n, n)
        rest = n - p  # database rows that are not positives
        log_miss = gammaln(rest + 1) - gammaln(np.maximum(rest - k, 0) + 1) - gammaln(n + 1) + gammaln(n - k + 1)
        miss = np.where(rest >= k, np.exp(log_miss), 0.0)
        out[str(big_n)] = round(100.0 * float((1.0 - miss).mean()), 3)
    return out


def _confidence_report(
    conf: np.ndarray, result: Localization, truth: np.ndarray, radius: float
) -> dict[str, float | None]:
    """How well D&C's expert agreement separates correct from wrong top-1 predictions."""
    err = np.sqrt(((result.coords[:, 0] - truth) ** 2).sum(-1))
    correct = err <= radius
    finite = np.isfinite(conf)
    out: dict[str, float | None] = {"median_std_m": float(np.median(conf[finite]))}
    if correct.any():
        out["median_std_correct_m"] = float(np.median(conf[finite & correct])) if (finite & correct).any() else None
    if (~correct).any():
        out["median_std_wrong_m"] = float(np.median(conf[finite & ~correct])) if (finite & ~correct).any() else None
    return out


def _positives_report(top: np.ndarray, truth: np.ndarray, bundle: MapBundle, radius: float) -> dict[str, float]:
    """Where a mixed pipeline can lose: percent of queries with any database image within ``radius``
    (the ceiling of retrieval) and with one among the candidates of their top-N cells (the ceiling
    of the mixed pipeline; the classifier's top-N cells missed the others). ``top``: ``(B, N)`` the
    searched cells of each query."""
    db, store = bundle.database, bundle.store
    assert db is not None and store is not None  # a mixed pipeline's bundle holds both
    pos = positives_within(truth, np.stack([db.east, db.north], axis=1), radius)
    db_cells = store.cells_of_rows()  # the class each database row was assigned to (-1: none)
    n_cells = int(store.n_cells) + 1  # +1 keeps the key of cell -1 apart from real cells
    pair_query, pair_cell = pos.query_ids(), db_cells[pos.indices]
    top_keys = (np.arange(len(top))[:, None] * n_cells + top)[top >= 0]
    hit = (pair_cell >= 0) & np.isin(pair_query * n_cells + pair_cell, top_keys)
    nq = len(truth)
    return {
        "queries_with_positives_pct": round(100.0 * float((pos.counts > 0).mean()), 2),
        "positives_in_candidates_pct": round(100.0 * np.unique(pair_query[hit]).size / nq, 2),
    }


def _by_condition(queries: ImageList, result: Localization, truth: np.ndarray, radius: float) -> dict[str, float]:
    """LR@1 per query condition (synthcity stores it in the file name's ``note`` field)."""
    notes = queries.extra.get("note")
    if notes is None:
        return {}
    notes = np.asarray(notes).astype(str)
    out = {}
    for cond in np.unique(notes):
        mask = notes == cond
        out[str(cond) or "none"] = round(localization_recall(result.coords[mask, :1], truth[mask], (1,), radius)[1], 2)
    return out
