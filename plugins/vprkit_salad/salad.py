"""SALAD aggregation (Izquierdo & Civera, CVPR 2024, Sec. 3) and the network around it.

For ``n`` local features ``t_i`` (the ViT's patch tokens, ``C``-D) and its class token ``t_{n+1}``:

1. scores ``s_i = MLP_s(t_i) ∈ R^m`` (conv 1×1 C→512, dropout, ReLU, conv 512→m), stacked as
   ``S ∈ R^{m×n}``, plus a dustbin row of the learned scalar ``z``: ``S̄ ∈ R^{(m+1)×n}``;
2. an optimal transport plan ``P̄`` from ``S̄`` by ``T`` Sinkhorn iterations in log space with
   row masses ``a = [1, …, 1, n − m] / (n + m)`` (m clusters and the dustbin) and column masses
   ``b = 1 / (n + m)`` (every feature), scaled by ``n + m`` so that each feature distributes a
   mass of 1; the dustbin row is then dropped (``P ∈ R^{m×n}``);
3. reduced features ``f_i = MLP_f(t_i) ∈ R^l`` (conv 1×1 C→512, dropout, ReLU, conv 512→l);
4. per cluster ``V_k = Σ_i P_ki f_i ∈ R^l``, each L2-normalised ("intra-normalisation");
5. a global token ``g = MLP_g(t_{n+1}) ∈ R^g`` (linear C→512, ReLU, linear 512→g), L2-normalised;
6. the descriptor ``[g, V]`` (``V`` flattened dimension-major: entry ``j·m + k`` is ``V_k[j]``, the
   authors' order) L2-normalised: ``(B, m·l + g)``.

``n ≥ m`` is required (the dustbin's mass ``n − m`` cannot be negative): a 322 × 322 image gives
``n = 529`` patches for ``m = 64``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vprkit.errors import ConfigError
from vprkit.models.descriptor import DescriptorNet
from vprkit.models.dinov2 import DINOv2Backbone

__all__ = ["SALADAggregation", "SALADNet", "sinkhorn_log_plan"]


def sinkhorn_log_plan(scores: Tensor, dustbin: Tensor, iterations: int) -> Tensor:
    """Log of the transport plan of step 2 (module docstring), dustbin row included.

    Args:
        scores: ``(B, m, n)`` feature-to-cluster scores.
        dustbin: scalar dustbin score ``z``.
        iterations: Sinkhorn iterations (row then column normalisation each).

    Returns:
        ``(B, m + 1, n)`` log-plan, scaled so that a feature's column sums to 1 after ``exp``
        (exactly so once the iterations converge; the last one normalises the columns).
    """
    batch, clusters, features = scores.shape
    if features < clusters:
        raise ConfigError(
            f"SALAD needs at least as many patches as clusters: {features} patches for {clusters} clusters; "
            "use larger images or fewer clusters (num_clusters)"
        )
    log_total = math.log(features + clusters)
    augmented = torch.cat([scores, dustbin.to(scores.dtype).expand(batch, 1, features)], dim=1)
    log_rows = scores.new_full((clusters + 1,), -log_total)
    # the dustbin absorbs the mass the clusters cannot take: n − m (−inf when n = m: an empty bin)
    log_rows[-1] = (math.log(features - clusters) if features > clusters else -math.inf) - log_total
    log_cols = scores.new_full((features,), -log_total)
    row_scale = torch.zeros(batch, clusters + 1, dtype=scores.dtype, device=scores.device)
    col_scale = torch.zeros(batch, features, dtype=scores.dtype, device=scores.device)
    for _ in range(iterations):
        row_scale = log_rows - torch.logsumexp(augmented + col_scale[:, None, :], dim=2)
        col_scale = log_cols - torch.logsumexp(augmented + row_scale[:, :, None], dim=1)
    return augmented + row_scale[:, :, None] + col_scale[:, None, :] + log_total


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()


class SALADAggregation(nn.Module):
    """``(patch map (B, C, h, w), class token (B, C)) → (B, m·l + g)`` unit descriptors.

    Submodules (the authors' key names, so that releases map one to one): ``score`` and
    ``cluster_features`` (``Sequential`` of conv 1×1, dropout, ReLU, conv 1×1: weights at
    indices 0 and 3), ``token_features`` (linear, ReLU, linear: indices 0 and 2), ``dust_bin``.
    """

    def __init__(
        self,
        channels: int,
        num_clusters: int = 64,
        cluster_dim: int = 128,
        token_dim: int = 256,
        *,
        hidden_dim: int = 512,
        dropout: float = 0.3,
        sinkhorn_iterations: int = 3,
        dustbin_init: float = 1.0,
    ):
        super().__init__()
        self.num_clusters, self.cluster_dim, self.token_dim = num_clusters, cluster_dim, token_dim
        self.sinkhorn_iterations = sinkhorn_iterations
        self.score = nn.Sequential(
            nn.Conv2d(channels, hidden_dim, 1), _dropout(dropout), nn.ReLU(), nn.Conv2d(hidden_dim, num_clusters, 1)
        )
        self.cluster_features = nn.Sequential(
            nn.Conv2d(channels, hidden_dim, 1), _dropout(dropout), nn.ReLU(), nn.Conv2d(hidden_dim, cluster_dim, 1)
        )
        self.token_features = nn.Sequential(
            nn.Linear(channels, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, token_dim)
        )
        self.dust_bin = nn.Parameter(torch.tensor(float(dustbin_init)))

    @property
    def dim(self) -> int:
        return self.num_clusters * self.cluster_dim + self.token_dim

    def assignment(self, patch_map: Tensor) -> Tensor:
        """``(B, m, n)`` transport plan of the patches to the clusters (dustbin dropped)."""
        scores = self.score(patch_map).flatten(2)
        return sinkhorn_log_plan(scores, self.dust_bin, self.sinkhorn_iterations)[:, :-1].exp()

    def forward(self, patch_map: Tensor, class_token: Tensor) -> Tensor:
        features = self.cluster_features(patch_map).flatten(2)  # (B, l, n)
        plan = self.assignment(patch_map)  # (B, m, n)
        clusters = F.normalize(torch.einsum("bln,bmn->blm", features, plan), dim=1)  # each cluster's l-vector
        token = F.normalize(self.token_features(class_token), dim=-1)
        return F.normalize(torch.cat([token, clusters.flatten(1)], dim=1), dim=-1)


class SALADNet(DescriptorNet):
    """DINOv2 backbone → :class:`SALADAggregation` (patch tokens and class token):
    ``images (B, 3, H, W)``, sides multiples of 14 → ``(B, m·l + g)`` unit descriptors.
    Keys: ``backbone.model.*`` (timm's DINOv2) and ``aggregation.*``."""

    backbone: DINOv2Backbone
    aggregation: SALADAggregation

    def __init__(self, backbone: DINOv2Backbone, aggregation: SALADAggregation):
        super().__init__(backbone, aggregation, aggregation.dim)

    def forward(self, images: Tensor) -> Tensor:
        class_token, patch_map = self.backbone.forward_tokens(images)
        return self.aggregation(patch_map, class_token)
