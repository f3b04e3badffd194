"""Fast D&C inference scoring: all groups' prototypes packed once, one scan per batch.

METHODS.md §1 inference: scores ``s_k = W_k x`` of every group (raw, un-normalised prototypes by
default; cosine as a switch), joint top-K over all classes of all groups, and each group's own top-1
(for the confidence). :class:`PackedPrototypes` does all three from one scan:

* ``precision="float32"`` (the reference, exact): one matrix product ``x @ Wᵀ`` over the packed
  ``(C, d)`` matrix, joint ``topk``, per-group ``argmax`` over column slices of the same scores.
  At batch 1 it reads all C·d·4 bytes of prototypes (205 MB for 100k × 512), so its latency is the
  machine's memory bandwidth.
* ``precision="pq4"`` (approximate shortlist, exact re-ranking): every group's prototypes are also
  encoded with faiss 4-bit product quantisation read by the fast-scan kernels
  (``IndexPQFastScan``, inner product, one 4-bit code per 2-D sub-vector → ``d / 4`` bytes per
  class, 128 B for d = 512, one codebook shared by the groups); the
  ``shortlist`` best classes of every group under the PQ scores are re-scored exactly in float32
  from the packed matrix, and the joint top-K and the per-group top-1 are taken among them. The
  returned scores are exact float32 scores; the only error is a true top-K class missing from its
  group's shortlist (measured by ``benchmarks/bench_classify.py``).

Cosine mode scores against prototypes normalised once at packing time (not on every call).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from vprkit.errors import ConfigError

__all__ = ["SCORE_PRECISIONS", "PackedPrototypes", "ScoredTop"]

SCORE_PRECISIONS = ("float32", "pq4")
ScorePrecision = Literal["float32", "pq4"]

# Rows sampled to train the shared 4-bit PQ codebook (16 centroids per sub-space need few points).
_PQ_TRAIN_ROWS = 16_384


@dataclass(frozen=True)
class ScoredTop:
    """Joint top-k of a batch of B queries over the packed columns.

    Attributes:
        scores: ``(B, k)`` float32 exact scores, best first.
        columns: ``(B, k)`` int64 packed column (group-major order of the heads' classes).
        group_best: ``(B, G)`` int64 packed column of every group's own top-1.
    """

    scores: torch.Tensor
    columns: torch.Tensor
    group_best: torch.Tensor


class PackedPrototypes:
    """The prototype matrices of the G group heads packed into one contiguous ``(C, d)`` matrix.

    Args:
        weights: G matrices ``(S_g, d)`` (the heads' ``weight``; copied and detached).
        bias: optional G vectors ``(S_g,)`` (linear head; added to raw scores only).
        mode: ``"raw"`` (``x @ Wᵀ``, official D&C) or ``"cosine"`` (``x̂ @ Ŵᵀ``).
        precision: ``"float32"`` (exact) or ``"pq4"`` (PQ shortlist + exact re-ranking).
        shortlist: classes per group re-ranked exactly in ``pq4`` mode.
    """

    def __init__(self, weights: list[torch.Tensor], *, bias: list[torch.Tensor] | None = None,
                 mode: str = "raw", precision: str = "float32", shortlist: int = 256):
        if mode not in ("raw", "cosine"):
            raise ConfigError(f"score mode must be 'raw' or 'cosine', got {mode!r}")
        if precision not in SCORE_PRECISIONS:
            raise ConfigError(f"score_precision must be one of {SCORE_PRECISIONS}, got {precision!r}")
        if shortlist < 1:
            raise ConfigError(f"score_shortlist must be >= 1, got {shortlist}")
        if not weights:
            raise ConfigError("no group prototypes to pack")
        self.mode, self.precision, self.shortlist = mode, precision, int(shortlist)
        sizes = [int(w.shape[0]) for w in weights]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # (G+1,)
        packed = torch.cat([w.detach().float() for w in weights]).contiguous()  # (C, d)
        self.weight = F.normalize(packed, dim=1) if mode == "cosine" else packed
        self.bias = None
        if bias is not None and mode == "raw":
            self.bias = torch.cat([b.detach().float() for b in bias]).contiguous()  # (C,)
        self._pq: list = []
        if precision == "pq4":
            self._build_pq()

    @property
    def num_groups(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_columns(self) -> int:
        return int(self.offsets[-1])

    def nbytes(self) -> int:
        """Bytes held: the float32 matrix plus the PQ codes (``pq4``)."""
        return self.weight.numel() * 4 + sum(index.sa_code_size() * index.ntotal for index in self._pq)

    # ------------------------------------------------------------------------------ scoring
    @torch.no_grad()
    def top(self, x: torch.Tensor, k: int) -> ScoredTop:
        """Joint top-``k`` (capped at C) of descriptors ``x (B, d)`` and every group's top-1."""
        x = x.to(self.weight.device, torch.float32)
        if self.mode == "cosine":
            x = F.normalize(x, dim=1)
        k = min(int(k), self.num_columns)
        if self.precision == "pq4":
            return self._top_pq(x, k)
        scores = self._exact(x)
        top_scores, columns = scores.topk(k, dim=1)
        group_best = torch.stack([scores[:, a:b].argmax(dim=1) + int(a)
                                  for a, b in pairwise(self.offsets)], dim=1)
        return ScoredTop(top_scores, columns, group_best)

    def _exact(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, d) -> (B, C)`` exact float32 scores: one matrix product over the packed matrix."""
        if self.bias is not None:
            return torch.addmm(self.bias, x, self.weight.T)
        return x @ self.weight.T

    # ------------------------------------------------------------------------------ pq4 mode
    def _build_pq(self) -> None:
        import faiss

        if self.bias is not None:
            raise ConfigError("score_precision 'pq4' needs bias-free prototypes; use float32 for the "
                              "linear head in raw mode")
        if self.weight.device.type != "cpu":
            raise ConfigError("score_precision 'pq4' runs on CPU (faiss-cpu); use float32 on "
                              f"{self.weight.device}")
        d = self.weight.shape[1]
        if d % 2:
            raise ConfigError(f"score_precision 'pq4' needs an even descriptor size, got {d}")
        weight = self._weight_np = self.weight.numpy()
        # One codebook for all groups (they share the descriptor space), trained on a fixed sample:
        # 4-bit codebooks need only 16 centroids per sub-space, and training each group apart costs G×.
        rng = np.random.default_rng(0)
        sample = weight[np.sort(rng.choice(len(weight), min(len(weight), _PQ_TRAIN_ROWS), replace=False))]
        # 2-D sub-vectors: measured on trained-like 512-D prototypes, d/4 sub-quantisers need ~2× the
        # shortlist for the same recall, and re-ranking (memory-bound) costs more than the longer codes.
        trained = faiss.IndexPQFastScan(d, d // 2, 4, faiss.METRIC_INNER_PRODUCT)
        trained.train(np.ascontiguousarray(sample))
        for a, b in pairwise(self.offsets):
            index = faiss.clone_index(trained)
            index.add(np.ascontiguousarray(weight[a:b]))
            self._pq.append(index)

    def _top_pq(self, x: torch.Tensor, k: int) -> ScoredTop:
        import faiss

        query = np.ascontiguousarray(x.numpy())
        lists = []
        per_group = max(self.shortlist, k)  # so a group alone can fill the joint top-k
        for index, start in zip(self._pq, self.offsets[:-1]):
            _, ids = index.search(query, min(per_group, index.ntotal))
            lists.append(torch.from_numpy(ids + start))  # faiss ids are per group
        candidates = torch.cat(lists, dim=1)  # (B, R) packed columns, grouped by group
        widths = np.array([ids.shape[1] for ids in lists])
        # Exact float32 inner products with the shortlisted rows, read in place (no gathered copy).
        exact = np.empty(candidates.shape, dtype=np.float32)
        ids = np.ascontiguousarray(candidates.numpy())
        faiss.fvec_inner_products_by_idx(faiss.swig_ptr(exact), faiss.swig_ptr(query),
                                         faiss.swig_ptr(self._weight_np), faiss.swig_ptr(ids),
                                         query.shape[1], ids.shape[0], ids.shape[1])
        exact = torch.from_numpy(exact)
        top_scores, at = exact.topk(k, dim=1)
        bounds = np.concatenate([[0], np.cumsum(widths)])
        group_best = torch.stack([candidates[:, a:b].gather(1, exact[:, a:b].argmax(1, keepdim=True))[:, 0]
                                  for a, b in pairwise(bounds)], dim=1)
        return ScoredTop(top_scores, candidates.gather(1, at), group_best)
