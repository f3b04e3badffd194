"""MvMF (Izbicki et al. 2019; docs/methods/mvmf.md): a mixture of von Mises–Fisher distributions whose
components are the S2 cells, in its city-scale Gaussian limit.

Component i: mean μ_i = mean UTM of cell i's training images (the partition's class coordinate),
concentration κ_i fixed from the cell size: with ``e_i`` the cell's edge length (the mean edge of
S2 cells of its level, ``sqrt(4πR²/(6·4^level))``), a share ``s`` (0.5) of the component's mass lies
within ``e_i`` of μ_i. At κ ~ 1e10–1e12 the vMF density ∝ exp(κ μᵀy) is, on the tangent plane, an
isotropic Gaussian with σ_i = R/√κ_i; its mass within radius r is 1 − exp(−r²/2σ²), so
σ_i = e_i / √(−2 ln(1 − s)). The network gives π = softmax(W f + b); the loss is
−log Σ_i π_i N(y; μ_i, σ_i² I), computed in float64 with log-sum-exp (float32 ``1 − μᵀy`` would
vanish at 10 m). Prediction: components ranked by π (``weight``, MvMF) or by the mixture density at
their μ (``density``; sparse: only components within a few σ contribute).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vprkit.errors import ConfigError, DataError
from vprkit.models.joint_classifier import JointHeadClassifier, gather_rows
from vprkit.partition import Partition
from vprkit_mvmf.classifier_config import MvMFClassifierConfig

__all__ = ["EARTH_RADIUS_M", "MixtureNLL", "MvMFClassifier", "cell_edge_m", "component_sigmas", "log_gaussians"]

#: mean Earth radius (IUGG), metres
EARTH_RADIUS_M = 6_371_008.8


def cell_edge_m(levels: np.ndarray) -> np.ndarray:
    """``(C,)`` mean edge length in metres of S2 cells of the given levels (√ of the mean cell area)."""
    area = 4.0 * math.pi * EARTH_RADIUS_M**2 / (6.0 * 4.0 ** np.asarray(levels, dtype=np.float64))
    return np.sqrt(area)


def component_sigmas(levels: np.ndarray, mass: float) -> np.ndarray:
    """``(C,)`` float64 σ_i in metres such that ``mass`` of an isotropic 2-D Gaussian lies within one cell edge."""
    return cell_edge_m(levels) / math.sqrt(-2.0 * math.log1p(-mass))


def log_gaussians(points: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``(B, 2)`` points, ``(C, 2)`` means, ``(C,)`` σ (metres, float64) → ``(B, C)`` log N(point; μ_i, σ_i² I)."""
    d2 = ((points[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    var = sigma**2
    return -d2 / (2.0 * var) - torch.log(2.0 * math.pi * var)


class MixtureNLL(nn.Module):
    """−log Σ_i π_i N(y; μ_i, σ_i² I) of each row's UTM position y, mean over the batch (float64)."""

    def __init__(
        self, heads: nn.ModuleList, east: np.ndarray, north: np.ndarray, mu: torch.Tensor, sigma: torch.Tensor
    ):
        super().__init__()
        self.heads = heads
        # (n,) float64 each, views of the training list in host memory (no copy)
        self.east = torch.as_tensor(np.ascontiguousarray(east, dtype=np.float64))
        self.north = torch.as_tensor(np.ascontiguousarray(north, dtype=np.float64))
        self.mu: torch.Tensor
        self.sigma: torch.Tensor
        self.register_buffer("mu", mu.clone(), persistent=False)
        self.register_buffer("sigma", sigma.clone(), persistent=False)

    def forward(self, descriptors: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        y = torch.stack([gather_rows(self.east, rows), gather_rows(self.north, rows)], dim=1)
        log_pi = F.log_softmax(self.heads[0](descriptors).double(), dim=1)
        log_density = torch.logsumexp(log_pi + log_gaussians(y, self.mu, self.sigma), dim=1)
        return -log_density.mean()


class MvMFClassifier(JointHeadClassifier):
    """MvMF over the ``s2`` partition (the spec's partitioner); one linear head whose softmax
    weighs the components; predictions rank its cells (= mixture components)."""

    name = "mvmf"
    config_cls = MvMFClassifierConfig

    def prepare(self, partition: Partition) -> None:
        if "cell_levels" not in partition.extras:
            raise DataError(
                f"mvmf needs an S2 partition with extras['cell_levels']; got a {partition.method!r} partition"
            )
        # σ from the configured mass, μ = mean UTM of each cell's images (coord_mode 'mean')
        # a copy: a fingerprinted partition's arrays are read-only
        self.mu = torch.tensor(np.asarray(partition.class_coords, dtype=np.float64))
        self.sigma = torch.as_tensor(component_sigmas(partition.extras["cell_levels"], self.config.mass_within_edge))
        self.kappa = (EARTH_RADIUS_M / self.sigma) ** 2
        self._pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def density_pairs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sparse mixture kernel: ``(i, j, log N(μ_j; μ_i, σ_i))`` for every pair with ‖μ_j − μ_i‖ < cutoff·σ_i."""
        if self._pairs is None:
            import faiss

            mu = self.mu.numpy()
            centred = (mu - mu.mean(0)).astype(np.float32)  # float32 is exact enough to find neighbours
            index = faiss.IndexFlatL2(2)
            index.add(centred)
            radius = float(self.config.density_cutoff_sigmas * self.sigma.max()) * 1.01
            lims, _, found = index.range_search(centred, radius**2)
            j = np.repeat(np.arange(len(mu)), np.diff(lims).astype(np.int64))  # the query point μ_j
            i = found.astype(np.int64)
            d = np.sqrt(((mu[i] - mu[j]) ** 2).sum(1))
            keep = d < self.config.density_cutoff_sigmas * self.sigma.numpy()[i]
            rows_i, rows_j = torch.from_numpy(i[keep]), torch.from_numpy(j[keep])
            var = self.sigma[rows_i] ** 2
            log_k = -torch.from_numpy(d[keep] ** 2) / (2 * var) - torch.log(2 * math.pi * var)
            self._pairs = (rows_i, rows_j, log_k)
        return self._pairs

    def class_scores(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(B, C)``: log π (``weight``) or the log mixture density at every μ_j (``density``)."""
        log_pi = F.log_softmax(self.heads[0](descriptors).double(), dim=1)
        if self.config.prediction == "weight":
            return log_pi
        i, j, log_k = (t.to(log_pi.device) for t in self.density_pairs())
        terms = log_pi[:, i] + log_k  # (B, P), every μ_j has at least its own component (i = j)
        index = j.expand_as(terms)
        peak = torch.full_like(log_pi, -math.inf).scatter_reduce(1, index, terms, "amax")
        sums = torch.zeros_like(log_pi).scatter_add(1, index, torch.exp(terms - peak.gather(1, index)))
        return peak + torch.log(sums)

    def loss_module(self, images) -> nn.Module:
        return MixtureNLL(self.heads, images.east, images.north, self.mu, self.sigma)

    def initialise(self) -> None:
        """Start from a trained PlaNet (``init_from``): network always, head when the cells match."""
        if not self.config.init_from:
            return
        from vprkit_planet.classifier import PlaNetClassifier

        planet = PlaNetClassifier.load(self.config.init_from)
        if planet.config.backbone != self.config.backbone or planet.descriptor_dim != self.descriptor_dim:
            raise ConfigError(
                f"mvmf init_from {self.config.init_from!r}: its network ({planet.config.backbone}, "
                f"{planet.descriptor_dim}-D) differs from this one ({self.config.backbone}, {self.descriptor_dim}-D)"
            )
        self.net.load_state_dict(planet.net.state_dict())
        if np.array_equal(np.asarray(planet.partition.class_keys), np.asarray(self.partition.class_keys)):
            self.heads.load_state_dict(planet.heads.state_dict())
