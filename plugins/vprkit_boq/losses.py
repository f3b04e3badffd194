"""Multi-similarity loss and miner (Wang et al., CVPR 2019), the loss BoQ trains with on GSV-Cities.

Both act on the ``(n, n)`` cosine similarities ``S`` of a batch of unit descriptors with place
labels. For anchor ``i``: positives ``P_i`` = other images of its place, negatives ``N_i`` = images
of other places.

- **Miner** (margin ``ε``): keep the positives with ``S_ip − ε < max_{n ∈ N_i} S_in`` and the
  negatives with ``S_in + ε > min_{p ∈ P_i} S_ip`` (an anchor without negatives keeps no positive,
  one without positives keeps no negative).
- **Loss** (``α``, ``β``, offset ``λ``), averaged over the ``n`` anchors (an anchor with no mined
  pair contributes 0)::

      1/α · log(1 + Σ_{p ∈ P_i} exp(−α (S_ip − λ))) + 1/β · log(1 + Σ_{n ∈ N_i} exp(β (S_in − λ)))

The authors' values: ``α = 1``, ``β = 50``, ``λ = 0``, ``ε = 0.1``.
"""

from __future__ import annotations

import torch

__all__ = ["mine_multi_similarity", "multi_similarity_loss"]


def mine_multi_similarity(
    similarity: torch.Tensor, labels: torch.Tensor, epsilon: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positive mask, negative mask)``, each ``(n, n)`` bool: the mined pairs of every anchor
    (row). ``similarity (n, n)`` float, ``labels (n,)`` int."""
    n = len(labels)
    same = labels[:, None] == labels[None, :]
    positives = same & ~torch.eye(n, dtype=torch.bool, device=labels.device)
    negatives = ~same
    sim = similarity.detach()  # mining selects pairs: no gradient flows through the selection
    hardest_negative = sim.masked_fill(~negatives, -torch.inf).amax(dim=1, keepdim=True)
    hardest_positive = sim.masked_fill(~positives, torch.inf).amin(dim=1, keepdim=True)
    return positives & (sim - epsilon < hardest_negative), negatives & (sim + epsilon > hardest_positive)


def _log_one_plus_sum_exp(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Per row, ``log(1 + Σ_{keep} exp(x))``, stably (a logsumexp with a zero appended)."""
    masked = x.masked_fill(~keep, -torch.inf)
    return torch.logsumexp(torch.cat([masked, masked.new_zeros(len(x), 1)], dim=1), dim=1)


def multi_similarity_loss(
    similarity: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    alpha: float = 1.0,
    beta: float = 50.0,
    base: float = 0.0,
) -> torch.Tensor:
    """Scalar multi-similarity loss of ``similarity (n, n)`` over the ``(n, n)`` bool pair masks."""
    pos = _log_one_plus_sum_exp(-alpha * (similarity - base), positives) / alpha
    neg = _log_one_plus_sum_exp(beta * (similarity - base), negatives) / beta
    return (pos + neg).mean()
