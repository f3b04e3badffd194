"""Classify → retrieve: any classifier (or none) → top-N cells → any retriever (or none) → index.

One :class:`Localizer` serves the three shapes of pipeline the D&C paper compares:

- **classification only** (no retriever): predictions are the coordinates of the top-K classes;
- **retrieval only** (no classifier): k-NN of the query descriptor over the whole database;
- **mixed**: the classifier's top-N classes select the database rows in those cells (CSR slices of
  the cell-sorted store: :meth:`~vprkit.index.CellSortedDescriptors.cell_candidates`), and the
  bundle's index searches among those candidates only (``search_rows``, the one restricted-search
  path of every index: exact for ``flat``). When the candidates are fewer than K, the list is
  filled with the coordinates of the next classes (N+1, N+2, ...).

A **re-ranker** (:class:`vprkit.contracts.Reranker`, optional) then verifies the first
``rerank_k`` retrieved database images against the query with local features and re-orders them
by inlier count (ties keep their retrieval order); the database images' features come from a
:class:`~vprkit.rerank.FeatureStore` when one is given, else from the image files.

Stage timings (``extract``: retrieval descriptor; ``classify``: classifier forward + ranking;
``gather``: candidate rows; ``knn``: nearest-neighbour search; ``rerank``, with a re-ranker: the
query's local features and the verification of its shortlist) are accumulated in a
:class:`~vprkit.evaluation.timing.StageTimer`. Image decoding is not timed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from vprkit.errors import ConfigError
from vprkit.evaluation.timing import StageTimer
from vprkit.pipeline.bundle import MapBundle

if TYPE_CHECKING:
    from PIL.Image import Image

    from vprkit.contracts import Classifier, NearestIndex, Reranked, Reranker, Retriever
    from vprkit.data.image_list import ImageList
    from vprkit.index.cell_sorted import CellSortedDescriptors
    from vprkit.models.interfaces import ClassPrediction
    from vprkit.rerank.store import FeatureStore
    from vprkit.runtime import Runtime

__all__ = ["STAGES", "Localization", "Localizer"]

STAGES = ("extract", "classify", "gather", "knn")


@dataclass(frozen=True)
class Localization:
    """Ranked places for a batch of B queries.

    Attributes:
        coords: ``(B, K, 2)`` float64 UTM (east, north) metres, best first; NaN padding.
        rows: ``(B, K)`` int64 database rows, −1 where the place is a class coordinate or padding.
        scores: ``(B, K)`` float32 (similarities for rows, class scores for filled places).
        cells: ``(B, N)`` int64 the classifier's top-N classes, or ``None`` without a classifier.
        confidence: ``(B,)`` float64 metres (D&C: spread of the group experts' top-1; NaN if none).
        candidates: ``(B,)`` int64 database rows searched per query.
        descriptors: ``(B, D)`` float32 the queries' retriever descriptors (L2-normalised, as
            searched), or ``None`` without a retriever (and in stacked results).
        inliers: ``(B, K)`` int64 with a re-ranker: the inlier count of each verified place, −1
            where a place was not verified (beyond ``rerank_k``, or not a database image); the
            verified places' ``scores`` are their inlier counts. ``None`` without a re-ranker.
        reranked: with a re-ranker, each query's :class:`~vprkit.contracts.Reranked` (matches
            and local features; ``None`` for a query with nothing to verify), else ``None`` (and in
            stacked results).
    """

    coords: np.ndarray
    rows: np.ndarray
    scores: np.ndarray
    cells: np.ndarray | None
    confidence: np.ndarray
    candidates: np.ndarray
    descriptors: np.ndarray | None = None
    inliers: np.ndarray | None = None
    reranked: tuple[Reranked | None, ...] | None = None


class Localizer:
    """Runs a map bundle's models on query images.

    Args:
        bundle: a loaded :class:`MapBundle`.
        topn: classes whose cells are searched (paper default 100).
        k: places returned per query (20: enough for LR@20).
        use_classifier: False switches the classification stage off even if the bundle has it.
        use_retriever: False switches the retrieval stage off even if the bundle has it.
        runtime: where and how the models run (:class:`vprkit.runtime.Runtime`; default CPU,
            float32); the models are moved there.
        reranker: a re-ranker of the retrieved places (needs the retriever), or ``None``.
        rerank_k: places it verifies per query (the retrieval returns at least that many).
        features: the database's local features for ``reranker``
            (:func:`vprkit.rerank.database_features`); ``None``: extracted from the image files.
    """

    def __init__(
        self,
        bundle: MapBundle,
        *,
        topn: int = 100,
        k: int = 20,
        use_classifier: bool = True,
        use_retriever: bool = True,
        runtime: Runtime | None = None,
        reranker: Reranker | None = None,
        rerank_k: int = 20,
        features: FeatureStore | None = None,
    ) -> None:
        from vprkit.runtime import Runtime

        self.bundle = bundle
        self.runtime = runtime or Runtime.resolve("cpu", "float32", threads=1)
        self.classifier: Classifier | None = bundle.classifier if use_classifier else None
        self.retriever: Retriever | None = bundle.retriever if use_retriever else None
        if self.classifier is None and self.retriever is None:
            raise ConfigError("a pipeline needs a classifier, a retriever, or both")
        if topn < 1 or k < 1:
            raise ConfigError(f"topn and k must be positive, got topn={topn}, k={k}")
        self.topn, self.k = int(topn), int(k)
        if reranker is not None and self.retriever is None:
            raise ConfigError(
                "a re-ranker verifies retrieved database images: it needs a retriever (not --retriever none)"
            )
        if rerank_k < 1:
            raise ConfigError(f"--rerank-k must be at least 1, got {rerank_k}")
        self.reranker, self.rerank_k, self.features = reranker, int(rerank_k), features
        if features is not None and self.bundle.database is not None and len(features) != len(self.bundle.database):
            raise ConfigError(
                f"the local-feature store {str(features.root)!r} holds {len(features)} images, the bundle's "
                f"database {len(self.bundle.database)}"
            )
        #: places retrieved per query: K, or more for the re-ranker to verify
        self.search_k = max(self.k, self.rerank_k) if reranker is not None else self.k
        self.mixed = self.classifier is not None and self.retriever is not None
        if self.classifier is not None and self.mixed:
            self.topn = min(self.topn, self.classifier.partition.num_classes)
        self.runtime.prepare(self.retriever)
        self.runtime.prepare(self.classifier)
        #: where the k-NN runs: the runtime's device when the index has a path there, else the CPU
        self.index_device = self._place_index() if self.retriever is not None else None
        self._encode = (
            self.runtime.encoder(self.retriever.encode, normalized=True) if self.retriever is not None else None
        )
        self._describe = self.runtime.encoder(self.classifier.descriptor) if self.classifier is not None else None

    @property
    def stages(self) -> tuple[str, ...]:
        """The timed stages of this pipeline (:data:`STAGES`, and ``rerank`` with a re-ranker)."""
        return (*STAGES, "rerank") if self.reranker is not None else STAGES

    def localize(self, images: Sequence[Image], timer: StageTimer | None = None) -> Localization:
        """Localize B decoded images (PIL, RGB)."""
        import torch

        from vprkit.models.transforms import apply_by_shape

        timer = timer or StageTimer()
        b = len(images)
        query_desc = pred = None
        with torch.inference_mode():
            if self.retriever is not None:
                with timer.stage("extract"):
                    tensors = [self.retriever.transform(img) for img in images]
                    assert self._encode is not None  # set with the retriever
                    query_desc = np.ascontiguousarray(apply_by_shape(self._encode, tensors).cpu().numpy())
            if self.classifier is not None:
                with timer.stage("classify"):
                    tensors = [self.classifier.transform(img) for img in images]
                    n_classes = self.classifier.partition.num_classes
                    want = min(n_classes, self.topn + self.search_k if self.mixed else self.k)
                    assert self._describe is not None  # set with the classifier
                    pred = self.classifier.classify_descriptors(apply_by_shape(self._describe, tensors), want)
        if self.retriever is None:
            assert pred is not None  # no retriever: the classifier ran
            return self._classification_only(pred, b)
        assert query_desc is not None
        if self.classifier is None:
            _, index, database = self._search_parts()
            with timer.stage("knn"):
                scores, rows = index.search(query_desc, self.search_k)
            loc = self._from_rows(
                scores, rows, None, np.full(b, np.nan), np.full(b, database.east.size, dtype=np.int64)
            )
        else:
            assert pred is not None
            loc = self._mixed(query_desc, pred, timer)
        if self.reranker is not None:
            with timer.stage("rerank"):
                loc = self._rerank(images, loc)
        return replace(loc, descriptors=query_desc)

    def _place_index(self) -> str:
        """Move the bundle's index to the runtime's CUDA device when it has a path there (the
        ``flat`` store's torch kernel, a faiss GPU index); an index without one stays on the CPU."""
        index = self.bundle.index
        to_device = getattr(index, "to_device", None)
        if self.runtime.device.type != "cuda" or index is None or to_device is None:
            return "cpu"
        try:
            self.bundle.index = to_device(self.runtime.device)
        except ConfigError:
            return "cpu"
        if self.bundle.store is index:
            self.bundle.store = self.bundle.index  # type: ignore[assignment]  # the flat index is the store
        return str(self.runtime.device)

    def _search_parts(self) -> tuple[CellSortedDescriptors, NearestIndex, ImageList]:
        """The bundle's store, index and database (a bundle with a retriever has all three)."""
        store, index, database = self.bundle.store, self.bundle.index, self.bundle.database
        assert store is not None and index is not None and database is not None
        return store, index, database

    # -- the three shapes ---------------------------------------------------------------------

    def _classification_only(self, pred: ClassPrediction, b: int) -> Localization:
        k = self.k
        coords = np.full((b, k, 2), np.nan)
        scores = np.full((b, k), -np.inf, dtype=np.float32)
        got = pred.classes.shape[1]
        coords[:, :got] = pred.coords[:, :k]
        scores[:, :got] = pred.scores[:, :k]
        return Localization(
            coords,
            np.full((b, k), -1, dtype=np.int64),
            scores,
            pred.classes,
            pred.confidence,
            np.zeros(b, dtype=np.int64),
        )

    def _mixed(self, query_desc: np.ndarray, pred: ClassPrediction, timer: StageTimer) -> Localization:
        store, index, _ = self._search_parts()
        cells = pred.classes[:, : self.topn]
        with timer.stage("gather"):
            candidates = store.cell_candidates(cells)  # CSR, distinct by construction
        with timer.stage("knn"):
            scores, rows = index.search_rows(query_desc, candidates, self.search_k)
        loc = self._from_rows(scores, rows, cells, pred.confidence, candidates.counts)
        return self._fill_with_classes(loc, pred)

    def _rerank(self, images: Sequence[Image], loc: Localization) -> Localization:
        """Verify each query's first ``rerank_k`` database places, re-order them by the
        re-ranker's score, and cut the list to K."""
        from vprkit.contracts import RerankCandidates
        from vprkit.data.images import open_image

        assert self.reranker is not None
        _, _, db = self._search_parts()
        rows, coords, scores = loc.rows.copy(), loc.coords.copy(), loc.scores.copy()
        inliers = np.full(rows.shape, -1, dtype=np.int64)
        head = min(self.rerank_k, rows.shape[1])
        results: list[Reranked | None] = []
        for b, image in enumerate(images):
            at = np.flatnonzero(loc.rows[b, :head] >= 0)  # database places (not class coordinates)
            if at.size == 0:
                results.append(None)
                continue
            shortlist = loc.rows[b, at]
            if self.features is not None:
                candidates = RerankCandidates(shortlist, loc.scores[b, at], features=self.features.gather(shortlist))
            else:
                files = [db.root / db.path_at(r) for r in shortlist]
                candidates = RerankCandidates(shortlist, loc.scores[b, at], images=[open_image(f) for f in files])
            done = self.reranker.rerank(image, candidates, threads=self.runtime.threads)
            rows[b, at] = done.rows
            coords[b, at] = loc.coords[b, at][done.order]
            scores[b, at] = done.scores
            inliers[b, at] = done.inliers
            results.append(done)
        k = self.k
        return replace(
            loc,
            rows=rows[:, :k],
            coords=coords[:, :k],
            scores=scores[:, :k],
            inliers=inliers[:, :k],
            reranked=tuple(results),
        )

    def _from_rows(
        self,
        scores: np.ndarray,
        rows: np.ndarray,
        cells: np.ndarray | None,
        confidence: np.ndarray,
        candidates: np.ndarray,
    ) -> Localization:
        _, _, db = self._search_parts()
        valid = rows >= 0
        safe = np.maximum(rows, 0)
        coords = np.stack([db.east[safe], db.north[safe]], axis=-1)
        coords[~valid] = np.nan
        return Localization(coords, rows, scores.astype(np.float32, copy=False), cells, confidence, candidates)

    def _fill_with_classes(self, loc: Localization, pred: ClassPrediction) -> Localization:
        """Fill-up rule: empty places (fewer candidates than K) take the next classes' coordinates."""
        empty = loc.rows < 0
        if not empty.any():
            return loc
        spare = pred.coords[:, self.topn :]  # (B, S, 2) classes after the top-N
        spare_scores = pred.scores[:, self.topn :]
        # The j-th empty slot of a query takes that query's j-th spare class.
        slot = np.cumsum(empty, axis=1) - 1
        usable = empty & (slot < spare.shape[1])
        b_idx, k_idx = np.nonzero(usable)
        coords, scores = loc.coords.copy(), loc.scores.copy()
        coords[b_idx, k_idx] = spare[b_idx, slot[b_idx, k_idx]]
        scores[b_idx, k_idx] = spare_scores[b_idx, slot[b_idx, k_idx]]
        return replace(loc, coords=coords, scores=scores)
