"""The NetVLAD layer (Arandjelović et al., CVPR 2016 / TPAMI 2018; docs/methods/netvlad.md) and its k-means init.

For local features ``x_i`` (``C``-D, L2-normalised over channels) at the ``N = H·W`` locations of a
feature map and ``K`` centroids ``c_k``:

- soft assignment ``a_k(x_i) = softmax_k(w_kᵀ x_i + b_k)`` (a 1×1 convolution);
- residual aggregation ``V_k = Σ_i a_k(x_i) (x_i − c_k)``  (``K × C``);
- intra-normalisation (each ``V_k`` to unit length), flatten, global L2 normalisation.

Initialisation (the paper's): ``c_k`` = k-means centroids of local features; ``w_k = 2α c_k``,
``b_k = −α ‖c_k‖²`` (so ``a_k ∝ exp(−α ‖x_i − c_k‖²)``), with ``α = −ln(0.01) / mean(d₁ − d₂)``
where ``d₁ ≥ d₂`` are each feature's two largest dot products with the centroids: on average the
nearest centroid then gets 100 times the weight of the second.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vprkit.errors import DataError

__all__ = ["NetVLAD", "PCAWhitening", "fit_pca_whitening", "kmeans_centroids", "netvlad_alpha"]


class NetVLAD(nn.Module):
    """``(B, C, H, W) -> (B, K·C)`` unit vectors (cluster-major: ``V[k, c]`` at ``k·C + c``).

    Args:
        channels: ``C`` of the feature map.
        clusters: ``K`` (paper: 64).
        normalize_input: L2-normalise each local feature over channels first (paper: yes).
    """

    def __init__(self, channels: int, clusters: int = 64, normalize_input: bool = True):
        super().__init__()
        self.channels, self.clusters, self.normalize_input = channels, clusters, normalize_input
        self.assign = nn.Conv2d(channels, clusters, kernel_size=1, bias=True)
        self.centroids = nn.Parameter(torch.rand(clusters, channels))

    @property
    def dim(self) -> int:
        return self.channels * self.clusters

    def _local(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2.0, dim=1) if self.normalize_input else x

    def soft_assignment(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, K, H·W)``; sums to 1 over ``K`` at every location."""
        return F.softmax(self.assign(self._local(x)).flatten(2), dim=1)

    def residuals(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, K, C)``: ``V_k = Σ_i a_k(x_i) x_i − (Σ_i a_k(x_i)) c_k`` (before any norm)."""
        local = self._local(x)
        a = F.softmax(self.assign(local).flatten(2), dim=1)  # (B, K, N)
        # Σ_i a_k(x_i)(x_i − c_k) expanded, so no (B, K, C, N) tensor is built.
        return torch.bmm(a, local.flatten(2).transpose(1, 2)) - a.sum(dim=2, keepdim=True) * self.centroids

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vlad = F.normalize(self.residuals(x), p=2.0, dim=2)  # intra-normalisation
        return F.normalize(vlad.flatten(1), p=2.0, dim=1)

    @torch.no_grad()
    def init_from_kmeans(self, centroids: np.ndarray, local_features: np.ndarray) -> float:
        """Set ``c_k``, ``w_k = 2α c_k``, ``b_k = −α‖c_k‖²`` from ``(K, C)`` centroids and the
        ``(n, C)`` L2-normalised local features they came from; returns α."""
        if centroids.shape != (self.clusters, self.channels):
            raise DataError(
                f"NetVLAD init: centroids of shape {centroids.shape}, expected {(self.clusters, self.channels)}"
            )
        alpha = netvlad_alpha(centroids, local_features)
        c = torch.as_tensor(centroids, dtype=self.centroids.dtype)
        self.centroids.copy_(c)
        self.assign.weight.copy_((2.0 * alpha * c)[:, :, None, None])
        bias = self.assign.bias
        assert bias is not None  # the assignment conv is built with bias=True
        bias.copy_(-alpha * c.pow(2).sum(dim=1))
        return alpha

    def extra_repr(self) -> str:
        return f"channels={self.channels}, clusters={self.clusters}, normalize_input={self.normalize_input}"


def netvlad_alpha(centroids: np.ndarray, local_features: np.ndarray) -> float:
    """``α = −ln(0.01) / mean(d₁ − d₂)`` over the ``(n, C)`` features, ``d₁ ≥ d₂`` their two
    largest dot products with the ``(K, C)`` centroids."""
    dots = np.asarray(local_features, np.float64) @ np.asarray(centroids, np.float64).T  # (n, K)
    top2 = -np.partition(-dots, 1, axis=1)[:, :2]
    gap = float(np.mean(top2[:, 0] - top2[:, 1]))
    if not gap > 0:
        raise DataError(
            "NetVLAD init: the local features are equidistant from their two nearest centroids (degenerate k-means)"
        )
    return -math.log(0.01) / gap


def kmeans_centroids(local_features: np.ndarray, clusters: int, *, iterations: int = 100, seed: int = 0) -> np.ndarray:
    """``(K, C)`` float32 k-means centroids (faiss) of ``(n, C)`` local features (n ≥ K)."""
    import faiss

    x = np.ascontiguousarray(local_features, dtype=np.float32)
    if len(x) < clusters:
        raise DataError(
            f"NetVLAD init: {len(x)} local features for {clusters} clusters; sample more images "
            "(kmeans_images / kmeans_features_per_image) or lower 'clusters'"
        )
    km = faiss.Kmeans(
        x.shape[1],
        clusters,
        niter=iterations,
        seed=int(seed) % (2**31),
        verbose=False,
        max_points_per_centroid=max(256, len(x) // clusters + 1),
    )
    km.train(x)
    return np.asarray(km.centroids, dtype=np.float32)


class PCAWhitening(nn.Module):
    """``(B, D) -> (B, d)``: ``L2(P (x − μ))`` with ``P`` the ``(d, D)`` PCA-whitening matrix
    (rows = principal directions divided by the square root of their eigenvalue). Until fitted it
    is a fixed random projection (buffers, not trained by the triplet loss, as in the paper)."""

    mean: torch.Tensor
    projection: torch.Tensor

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("projection", torch.randn(out_dim, in_dim) / math.sqrt(in_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize((x - self.mean) @ self.projection.T, p=2.0, dim=1)


def fit_pca_whitening(descriptors: np.ndarray, out_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean (D,), projection (out_dim, D))`` of PCA-whitening fitted on ``(n, D)`` descriptors
    with faiss (``eigen_power = −0.5``); needs ``n > out_dim``."""
    import faiss

    x = np.ascontiguousarray(descriptors, dtype=np.float32)
    n, d = x.shape
    if out_dim > d or n <= out_dim:
        raise DataError(
            f"PCA to {out_dim}-D needs more than {out_dim} descriptors of dimension ≥ {out_dim}; got {n} of {d}-D "
            "(raise pca_images, lower out_dim, or use reduction: fc / none)"
        )
    pca = faiss.PCAMatrix(d, out_dim, -0.5)
    pca.train(x)
    mean = faiss.vector_to_array(pca.mean).astype(np.float32)
    proj = faiss.vector_to_array(pca.A).reshape(out_dim, d).astype(np.float32)  # eigen_power already applied
    return mean, proj
