"""Classification heads trained over one group of classes: ArcFace (AAMC), CosFace, linear.

Every head maps descriptors ``x (B, d)`` and labels ``y (B,)`` int64 in ``[0, n_classes)`` to
training logits ``(B, n_classes)`` fed to cross-entropy; ``forward(x)`` without labels returns the
logits without margin. ``scores(x, mode)`` gives the inference scores of the D&C classifier.

ArcFace / AAMC (Deng et al. 2019; D&C §3.2): with ``cos θ_j = ŵ_jᵀ x̂``,
``logit_j = s·cos θ_j`` for ``j ≠ y`` and ``s·cos(θ_y + m)`` for the true class. With
``easy_margin`` (the official D&C code) the margin is applied only where ``cos θ_y > 0``; without
it, the standard ArcFace fallback ``cos θ_y − m·sin(m)`` is used where ``θ_y + m > π``.

CosFace / LMCL (Wang et al. 2018; CosPlace): ``logit_j = s·(cos θ_j − m·[j = y])``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HEAD_TYPES", "ArcFaceHead", "CosFaceHead", "LinearHead", "MarginHead", "create_head"]


class MarginHead(nn.Module):
    """Shared parts of the cosine heads: a prototype matrix ``weight (n_classes, d)``."""

    def __init__(self, dim: int, n_classes: int, s: float, m: float):
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"a head needs at least one class, got {n_classes}")
        self.dim, self.n_classes, self.s, self.m = dim, n_classes, float(s), float(m)
        self.weight = nn.Parameter(torch.empty(n_classes, dim))
        nn.init.xavier_uniform_(self.weight)

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, d) -> (B, n_classes)`` cosine similarities between descriptors and prototypes."""
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))

    def scores(self, x: torch.Tensor, mode: str = "raw") -> torch.Tensor:
        """Inference scores ``(B, n_classes)``: ``"raw"`` = ``x @ Wᵀ`` with un-normalised
        prototypes (official D&C inference, ‖w‖·cos θ for unit ``x``), ``"cosine"`` = cos θ."""
        if mode == "raw":
            return F.linear(x, self.weight)
        if mode == "cosine":
            return self.cosine(x)
        raise ValueError(f"score mode must be 'raw' or 'cosine', got {mode!r}")

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_classes={self.n_classes}, s={self.s}, m={self.m}"


class ArcFaceHead(MarginHead):
    """Additive angular margin (ArcFace); the D&C AAMC. Defaults are D&C's: s=100, m=0.2, easy margin."""

    def __init__(self, dim: int, n_classes: int, s: float = 100.0, m: float = 0.2, easy_margin: bool = True):
        super().__init__(dim, n_classes, s, m)
        self.easy_margin = bool(easy_margin)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = self.cosine(x)
        if labels is None:
            return self.s * cos
        cos_y = cos.gather(1, labels.view(-1, 1)).float()
        sin_y = (1.0 - cos_y.pow(2)).clamp(0.0, 1.0).sqrt()
        cos_y_m = cos_y * math.cos(self.m) - sin_y * math.sin(self.m)  # cos(θ_y + m)
        if self.easy_margin:
            target = torch.where(cos_y > 0, cos_y_m, cos_y)
        else:  # keep the logit monotonic in θ_y beyond θ_y + m = π
            threshold = math.cos(math.pi - self.m)
            target = torch.where(cos_y > threshold, cos_y_m, cos_y - math.sin(math.pi - self.m) * self.m)
        return self.s * cos.scatter(1, labels.view(-1, 1), target.to(cos.dtype))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", easy_margin={self.easy_margin}"


class CosFaceHead(MarginHead):
    """Large margin cosine (CosFace); CosPlace's head. Defaults are CosPlace's: s=30, m=0.4."""

    def __init__(self, dim: int, n_classes: int, s: float = 30.0, m: float = 0.4):
        super().__init__(dim, n_classes, s, m)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = self.cosine(x)
        if labels is None:
            return self.s * cos
        margin = torch.zeros_like(cos).scatter_(1, labels.view(-1, 1), self.m)
        return self.s * (cos - margin)


class LinearHead(nn.Module):
    """Plain linear layer + cross-entropy (the AAMC-vs-CE ablation of D&C Table 3).

    ``weight (n_classes, d)``, ``bias (n_classes,)``; labels are ignored by ``forward``.
    """

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.dim, self.n_classes = dim, n_classes
        self.linear = nn.Linear(dim, n_classes)

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(x)

    def scores(self, x: torch.Tensor, mode: str = "raw") -> torch.Tensor:
        """Logits (``"raw"``) or cosine to the rows of the weight (``"cosine"``), ``(B, n_classes)``."""
        if mode == "raw":
            return self.linear(x)
        if mode == "cosine":
            return F.linear(F.normalize(x, dim=1), F.normalize(self.linear.weight, dim=1))
        raise ValueError(f"score mode must be 'raw' or 'cosine', got {mode!r}")


HEAD_TYPES = ("arcface", "cosface", "linear")


def create_head(kind: str, dim: int, n_classes: int, *, s: float, m: float, easy_margin: bool = True) -> nn.Module:
    """Build a head by name: ``"arcface"`` (AAMC), ``"cosface"`` or ``"linear"``."""
    if kind == "arcface":
        return ArcFaceHead(dim, n_classes, s=s, m=m, easy_margin=easy_margin)
    if kind == "cosface":
        return CosFaceHead(dim, n_classes, s=s, m=m)
    if kind == "linear":
        return LinearHead(dim, n_classes)
    raise ValueError(f"unknown head {kind!r}; choose one of {HEAD_TYPES}")
