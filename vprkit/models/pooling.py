"""Pooling and normalisation layers that turn a feature map into a place descriptor.

Shapes: feature maps are ``(B, C, H, W)``; pooled descriptors are ``(B, C)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AvgPool", "GeM", "L2Norm", "avg_whiten_aggregation", "gem_fc_aggregation"]


class L2Norm(nn.Module):
    """L2-normalise along ``dim`` (channels of a map ``(B, C, H, W)`` or of a vector ``(B, C)``)."""

    def __init__(self, dim: int = 1, eps: float = 1e-12):
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2.0, dim=self.dim, eps=self.eps)


class GeM(nn.Module):
    """Generalised-mean pooling (Radenović et al.): ``(mean(clamp(x, eps)^p))^(1/p)`` per channel.

    ``(B, C, H, W) -> (B, C)``. ``p`` is a learnable scalar (shape ``(1,)``) initialised to 3;
    ``eps`` (1e-6) keeps the power defined for the zeros a ReLU produces.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learnable: bool = True):
        super().__init__()
        p_tensor = torch.ones(1) * p
        if learnable:
            self.p = nn.Parameter(p_tensor)
        else:
            self.register_buffer("p", p_tensor)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x.clamp(min=self.eps).pow(self.p), kernel_size=x.shape[-2:])
        return pooled.pow(1.0 / self.p).flatten(1)

    def extra_repr(self) -> str:
        return f"p={float(self.p.detach()[0]):.4f}, eps={self.eps}"


class AvgPool(nn.Module):
    """Global average pooling ``(B, C, H, W) -> (B, C)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1))


def avg_whiten_aggregation(channels: int, out_dim: int | None = None) -> nn.Sequential:
    """D&C's head: average pooling → linear ``C → out_dim`` (the paper's "whitening") → L2 norm.

    ``(B, C, H, W) -> (B, out_dim)``; ``out_dim`` defaults to ``C`` as in the paper.
    Indices: ``0`` pool, ``1`` linear, ``2`` L2 norm.
    """
    return nn.Sequential(AvgPool(), nn.Linear(channels, out_dim or channels), L2Norm())


def gem_fc_aggregation(channels: int, out_dim: int = 512, p: float = 3.0, eps: float = 1e-6) -> nn.Sequential:
    """CosPlace's head: L2 norm over channels → GeM → linear ``C → out_dim`` → L2 norm.

    ``(B, C, H, W) -> (B, out_dim)``. Indices: ``0`` L2 norm, ``1`` GeM, ``2`` linear, ``3`` L2 norm.
    """
    return nn.Sequential(L2Norm(dim=1), GeM(p=p, eps=eps), nn.Linear(channels, out_dim), L2Norm())
