"""The base class of re-rankers: ``rerank`` from ``extract`` and ``verify``, threads included."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import BaseModel

from vprkit.contracts import LocalFeatures, RerankCandidates, Reranked, Verification
from vprkit.errors import ConfigError
from vprkit.fileio import fingerprint

__all__ = [
    "MIN_MATCHES",
    "RerankerBase",
    "as_gray",
    "as_rgb",
    "empty_features",
    "image_size_of",
    "ransac_verify",
    "thread_map",
]

FORMAT_VERSION = 1

T = TypeVar("T")
R = TypeVar("R")


def as_rgb(image: Any) -> np.ndarray:
    """``(H, W, 3)`` uint8 of a PIL image or an array (grey ``(H, W)`` is repeated)."""
    arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ConfigError(f"expected an RGB image, got an array of shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def as_gray(image: Any) -> np.ndarray:
    """``(H, W)`` uint8 luminance of a PIL image or an array (ITU-R 601, as PIL's ``convert("L")``)."""
    if hasattr(image, "convert"):
        return np.ascontiguousarray(np.asarray(image.convert("L")), dtype=np.uint8)
    arr = np.asarray(image)
    if arr.ndim == 2:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    rgb = as_rgb(arr).astype(np.float32)
    return np.clip(rgb @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5, 0, 255).astype(np.uint8)


def empty_features(dim: int, dtype: Any, image_size: tuple[int, int] | None = None) -> LocalFeatures:
    """No keypoints: ``(0, 2)`` float32 and ``(0, dim)`` descriptors (of an image of ``image_size``)."""
    return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, dim), dtype), image_size)


def image_size_of(pixels: np.ndarray) -> tuple[int, int]:
    """``(width, height)`` of an ``(H, W)`` or ``(H, W, C)`` array."""
    return int(pixels.shape[1]), int(pixels.shape[0])


def thread_map(fn: Callable[[T], R], items: Iterable[T], threads: int) -> list[R]:
    """``[fn(x) for x in items]``, ``threads`` at a time (in order; one thread: no pool)."""
    seq = list(items)
    if threads <= 1 or len(seq) <= 1:
        return [fn(x) for x in seq]
    with ThreadPoolExecutor(max_workers=min(threads, len(seq))) as pool:
        return list(pool.map(fn, seq))


#: the fewest tentative matches each model's RANSAC needs (the 8-point / 4-point solvers)
MIN_MATCHES = {"fundamental": 8, "homography": 4}


def ransac_verify(
    query: LocalFeatures,
    candidate: LocalFeatures,
    matches: np.ndarray,
    *,
    geometry: str = "fundamental",
    threshold: float = 3.0,
    confidence: float = 0.999,
    max_iters: int = 2000,
) -> Verification:
    """Fit a fundamental matrix or a homography to the tentative ``matches`` (``(m, 2)`` int64
    (query, candidate) keypoint pairs) with OpenCV's RANSAC; its inliers (none when fewer matches
    than the model needs, or no model fits). OpenCV seeds its RANSAC generator with a constant, so
    the same input gives the same inliers."""
    import cv2

    matches = np.asarray(matches, dtype=np.int64).reshape(-1, 2)
    none = Verification(0, np.zeros((0, 2), np.int64), len(matches))
    if geometry not in MIN_MATCHES:
        raise ConfigError(f"geometry {geometry!r}: choose fundamental or homography")
    if len(matches) < MIN_MATCHES[geometry]:
        return none
    p = np.ascontiguousarray(query.keypoints[matches[:, 0]], dtype=np.float32)
    q = np.ascontiguousarray(candidate.keypoints[matches[:, 1]], dtype=np.float32)
    if geometry == "fundamental":
        model, mask = cv2.findFundamentalMat(p, q, cv2.FM_RANSAC, threshold, confidence, max_iters)
    else:
        model, mask = cv2.findHomography(p, q, cv2.RANSAC, threshold, maxIters=max_iters, confidence=confidence)
    if model is None or mask is None:
        return none
    inlier = mask.ravel().astype(bool)
    return Verification(int(inlier.sum()), matches[inlier], len(matches))


class RerankerBase:
    """Derive, set ``name``, ``descriptor_dim`` and ``descriptor_dtype``, implement ``extract`` and
    ``verify``; ``rerank`` verifies the query against each candidate in a thread pool and sorts by
    inlier count, highest first, ties in retrieval order (a stable sort).

    The libraries the built-ins call (OpenCV, torch) release the GIL in their kernels, so pairs
    verified in threads run in parallel.
    """

    name: ClassVar[str] = "reranker"
    #: columns and dtype of the descriptors ``extract`` returns (the feature store checks them)
    descriptor_dim: ClassVar[int] = 0
    descriptor_dtype: ClassVar[str] = "float32"

    def __init__(self, config: BaseModel) -> None:
        self._config = config

    @property
    def config(self) -> BaseModel:
        return self._config

    def weights_fingerprint(self) -> str:
        """What the method's weights contribute to :meth:`fingerprint` (``""``: none)."""
        return ""

    def fingerprint(self) -> str:
        """Method, format, config and weights: what the local features depend on."""
        return fingerprint(
            "reranker", self.name, FORMAT_VERSION, self.config.model_dump(mode="json"), self.weights_fingerprint()
        )

    def extract(self, image: Any) -> LocalFeatures:
        raise NotImplementedError

    def verify(self, query: LocalFeatures, candidate: LocalFeatures) -> Verification:
        raise NotImplementedError

    def extract_many(self, images: Sequence[Any], threads: int = 1) -> list[LocalFeatures]:
        """Local features of several images, ``threads`` at a time."""
        return thread_map(self.extract, images, threads)

    def rerank(self, query: Any, candidates: RerankCandidates, *, threads: int = 1) -> Reranked:
        """Re-order ``candidates`` by geometric verification against ``query`` (an image, or its
        :class:`LocalFeatures`)."""
        q = query if isinstance(query, LocalFeatures) else self.extract(query)
        if candidates.features is not None:
            feats = list(candidates.features)
        elif candidates.images is not None:
            feats = self.extract_many(candidates.images, threads)
        else:
            raise ConfigError(f"reranker {self.name!r}: the candidates carry neither images nor features")
        if len(feats) != len(candidates):
            raise ConfigError(
                f"reranker {self.name!r}: {len(candidates)} candidate rows but {len(feats)} images or features"
            )
        checks = thread_map(lambda f: self.verify(q, f), feats, threads)
        inliers = np.array([c.inliers for c in checks], dtype=np.int64)
        order = np.argsort(-inliers, kind="stable")
        return Reranked(
            order=order,
            rows=np.asarray(candidates.rows, dtype=np.int64)[order],
            scores=inliers[order].astype(np.float32),
            retrieval_scores=np.asarray(candidates.scores, dtype=np.float32)[order],
            inliers=inliers[order],
            matches=tuple(checks[i].matches for i in order),
            query=q,
            candidates=tuple(feats[i] for i in order),
        )
