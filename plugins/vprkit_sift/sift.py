"""The `sift` re-ranker: OpenCV SIFT features, brute-force 2-NN matching with Lowe's ratio test,
and the RANSAC inlier count of a fundamental matrix (or homography) as the new score."""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np

from vprkit.contracts import LocalFeatures, Verification
from vprkit.rerank.base import RerankerBase, as_gray, empty_features, image_size_of, ransac_verify
from vprkit_sift.config import SiftConfig


class SiftReranker(RerankerBase):
    """SIFT re-ranking. Descriptors are stored as uint8 (OpenCV computes them as saturated bytes,
    so nothing is lost): 128 bytes + 8 bytes of keypoint per feature.

    OpenCV's own thread pool is set to one thread: the parallelism is vprkit's (one query's
    candidates verified ``--threads`` at a time), which keeps the cores from being oversubscribed.
    """

    name: ClassVar[str] = "sift"
    descriptor_dim: ClassVar[int] = 128
    descriptor_dtype: ClassVar[str] = "uint8"

    def __init__(self, config: SiftConfig | None = None) -> None:
        super().__init__(config or SiftConfig())
        cv2.setNumThreads(1)

    @property
    def cfg(self) -> SiftConfig:
        assert isinstance(self.config, SiftConfig)
        return self.config

    def extract(self, image: Any) -> LocalFeatures:
        """SIFT keypoints (x, y in the image's pixels) and uint8 descriptors of a PIL image or array."""
        gray = as_gray(image)
        size = image_size_of(gray)
        scale = self.cfg.upscale
        if scale != 1.0:
            h, w = gray.shape
            scaled = (max(round(w * scale), 1), max(round(h * scale), 1))
            gray = cv2.resize(gray, scaled, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
        # a fresh detector per call: cv2 objects are not documented as safe to share across threads
        sift = cv2.SIFT.create(
            nfeatures=self.cfg.max_keypoints,
            nOctaveLayers=self.cfg.octave_layers,
            contrastThreshold=self.cfg.contrast_threshold,
            edgeThreshold=self.cfg.edge_threshold,
            sigma=self.cfg.sigma,
        )
        kps, desc = sift.detectAndCompute(gray, None)
        if not kps or desc is None:
            return empty_features(self.descriptor_dim, np.uint8, size)
        xy = np.asarray(cv2.KeyPoint.convert(kps), dtype=np.float32).reshape(-1, 2)
        if scale != 1.0:
            xy = (xy + 0.5) / np.float32(scale) - 0.5  # pixel centres of the upscaled image → the original's
        return LocalFeatures(xy, np.clip(np.rint(desc), 0, 255).astype(np.uint8), size)

    def tentative_matches(self, query: LocalFeatures, candidate: LocalFeatures) -> np.ndarray:
        """``(m, 2)`` int64 (query, candidate) keypoint pairs passing the ratio test: each query
        descriptor's nearest candidate descriptor (L2), kept when its distance is below ``ratio``
        × the second-nearest's. One matrix product per pair (what a brute-force matcher does)."""
        if len(query) == 0 or len(candidate) < 2:
            return np.zeros((0, 2), np.int64)
        q = query.descriptors.astype(np.float32)
        c = candidate.descriptors.astype(np.float32)
        squared = (q * q).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * (q @ c.T)
        np.maximum(squared, 0.0, out=squared)  # rounding can leave tiny negatives
        nearest = squared.argmin(axis=1)
        two = np.partition(squared, 1, axis=1)[:, :2]  # the smallest and second smallest, in order
        keep = np.sqrt(two[:, 0]) < self.cfg.ratio * np.sqrt(two[:, 1])
        rows = np.flatnonzero(keep)
        return np.stack([rows, nearest[rows]], axis=1).astype(np.int64)

    def verify(self, query: LocalFeatures, candidate: LocalFeatures) -> Verification:
        """Ratio-test matches, then RANSAC; the inliers of the fitted model (0 if none fits)."""
        c = self.cfg
        return ransac_verify(
            query,
            candidate,
            self.tentative_matches(query, candidate),
            geometry=c.geometry,
            threshold=c.ransac_threshold,
            confidence=c.confidence,
            max_iters=c.max_iters,
        )
