"""Fast D&C inference scoring: all groups' prototypes packed once, one scan per batch.

Inference (docs/methods/dnc.md): scores ``s_k = W_k x`` of every group (raw, un-normalised prototypes by
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
* ``precision="bf16"`` (fast batched, exact): one bf16 matrix product, a joint and a per-group
  shortlist re-scored in float32, and a per-query proof from the rounding bounds that no class
  outside the shortlist can beat the result; queries without one are scored in float32
  (:mod:`vprkit_dnc.scoring_bf16`). The output is the float32 scan's; fast where bf16 products are
  native (AMX or avx512_bf16 CPUs, GPUs), slower than float32 elsewhere.
* ``precision="auto"``: ``pq4`` below :data:`AUTO_BF16_BATCH` queries (batch-1 latency is
  memory-bound, and the 4-bit codes are 8× smaller than float32), ``bf16`` from there on where it
  is native (else ``pq4`` throughout; on a GPU ``bf16`` throughout; ``float32`` for a linear head
  with a bias).

Cosine mode scores against prototypes normalised once at packing time (not on every call).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F

from vprkit.errors import ConfigError

if TYPE_CHECKING:
    import faiss

    from vprkit_dnc.scoring_bf16 import Bf16Prototypes

__all__ = ["SCORE_PRECISIONS", "PackedPrototypes", "ScoredTop"]

SCORE_PRECISIONS = ("float32", "pq4", "bf16", "auto")
ScorePrecision = Literal["float32", "pq4", "bf16", "auto"]

# Rows sampled to train the shared 4-bit PQ codebook (16 centroids per sub-space need few points).
_PQ_TRAIN_ROWS = 16_384
# bf16: classes beyond k in the joint shortlist. Only the speed depends on it (a query whose
# certificate fails is re-scored in float32): the rounding bound must fit between the k-th score and
# the shortlist's lowest (at 100k x 512-D, 64 left 118 of 500 random queries unproven, 100 none).
_BF16_EXTRA = 100
_BF16_GROUP_SHORTLIST = 16  # each group's own shortlist, for its top-1 (the confidence)
# auto: the smallest batch scored with bf16. Measured per query on the 2-core development box
# (100k classes x 512-D, benchmarks/bench_classify.py): pq4 0.64 / 0.69 ms and bf16 1.01 / 0.56 ms
# at batch 32 / 64; at batch 1 bf16 is 6x slower, at 256 1.5x faster.
AUTO_BF16_BATCH = 64


@dataclass(frozen=True)
class ScoredTop:
    """Joint top-k of a batch of B queries over the packed columns.

    Attributes:
        scores: ``(B, k)`` float32 exact scores, best first.
        columns: ``(B, k)`` int64 packed column (group-major order of the heads' classes).
        group_best: ``(B, G)`` int64 packed column of every group's own top-1.
        scan: the scan that produced them: ``"float32"``, ``"pq4"`` or ``"bf16"``.
        rescored: queries of the batch scored again in full float32 (``bf16`` queries whose
            certificate failed).
    """

    scores: torch.Tensor
    columns: torch.Tensor
    group_best: torch.Tensor
    scan: str = "float32"
    rescored: int = 0


class PackedPrototypes:
    """The prototype matrices of the G group heads packed into one contiguous ``(C, d)`` matrix.

    Args:
        weights: G matrices ``(S_g, d)`` (the heads' ``weight``; copied and detached).
        bias: optional G vectors ``(S_g,)`` (linear head; added to raw scores only).
        mode: ``"raw"`` (``x @ Wᵀ``, official D&C) or ``"cosine"`` (``x̂ @ Ŵᵀ``).
        precision: ``"float32"`` (exact), ``"pq4"`` (PQ shortlist + exact re-ranking), ``"bf16"``
            (bf16 shortlist + exact re-ranking, certified) or ``"auto"`` (pq4 for small batches,
            bf16 for large ones where bf16 is fast).
        shortlist: ``pq4`` (and ``auto`` below its bf16 batch): classes per group re-ranked exactly.
    """

    def __init__(
        self,
        weights: list[torch.Tensor],
        *,
        bias: list[torch.Tensor] | None = None,
        mode: str = "raw",
        precision: str = "float32",
        shortlist: int = 256,
    ):
        if mode not in ("raw", "cosine"):
            raise ConfigError(f"score mode must be 'raw' or 'cosine', got {mode!r}")
        if precision not in SCORE_PRECISIONS:
            raise ConfigError(f"score_precision must be one of {SCORE_PRECISIONS}, got {precision!r}")
        if shortlist < 1:
            raise ConfigError(f"score_shortlist must be >= 1, got {shortlist}")
        if not weights:
            raise ConfigError("no group prototypes to pack")
        self.mode, self.precision, self.shortlist = mode, precision, int(shortlist)
        self.bf16_extra = _BF16_EXTRA
        sizes = [int(w.shape[0]) for w in weights]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # (G+1,)
        packed = torch.cat([w.detach().float() for w in weights]).contiguous()  # (C, d)
        self.weight = F.normalize(packed, dim=1) if mode == "cosine" else packed
        self.bias = None
        if bias is not None and mode == "raw":
            self.bias = torch.cat([b.detach().float() for b in bias]).contiguous()  # (C,)
        self._pq: list[faiss.Index] = []  # pq4: one index per group
        self._bf16: Bf16Prototypes | None = None
        # auto: pq4 (CPU) for small batches, bf16 for large ones where bf16 is native; float32 when
        # a bias rules both out (the linear head)
        auto = precision == "auto" and self.bias is None
        if precision == "pq4" or (auto and self.weight.device.type == "cpu" and self.weight.shape[1] % 2 == 0):
            self._build_pq()
        if precision == "bf16" or (auto and fast_bf16(self.weight.device)):
            self._build_bf16()

    @property
    def num_groups(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_columns(self) -> int:
        return int(self.offsets[-1])

    def nbytes(self) -> int:
        """Bytes held: the float32 matrix plus the PQ codes (``pq4``) and the bf16 copy (``bf16``)."""
        codes = sum(index.sa_code_size() * index.ntotal for index in self._pq)
        return self.weight.numel() * 4 + codes + (self._bf16.nbytes() if self._bf16 is not None else 0)

    # ------------------------------------------------------------------------------ scoring
    @torch.no_grad()
    def top(self, x: torch.Tensor, k: int) -> ScoredTop:
        """Joint top-``k`` (capped at C) of descriptors ``x (B, d)`` and every group's top-1."""
        x = x.to(self.weight.device, torch.float32)
        if self.mode == "cosine":
            x = F.normalize(x, dim=1)
        k = min(int(k), self.num_columns)
        if self._bf16 is not None and (self.precision == "bf16" or not self._pq or len(x) >= AUTO_BF16_BATCH):
            return self._top_bf16(x, k)
        if self._pq:
            return self._top_pq(x, k)
        return self._top_exact(x, k)

    def _top_exact(self, x: torch.Tensor, k: int) -> ScoredTop:
        scores = self._exact(x)
        top_scores, columns = scores.topk(k, dim=1)
        group_best = torch.stack([scores[:, a:b].argmax(dim=1) + int(a) for a, b in pairwise(self.offsets)], dim=1)
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
            raise ConfigError(
                "score_precision 'pq4' needs bias-free prototypes; use float32 for the linear head in raw mode"
            )
        if self.weight.device.type != "cpu":
            raise ConfigError(f"score_precision 'pq4' runs on CPU (faiss-cpu); use float32 on {self.weight.device}")
        d = self.weight.shape[1]
        if d % 2:
            raise ConfigError(f"score_precision 'pq4' needs an even descriptor size, got {d}")
        weight = self.weight.numpy()
        # One codebook for all groups (they share the descriptor space), trained on a fixed sample:
        # 4-bit codebooks need only 16 centroids per sub-space, and training each group apart costs G×.
        rng = np.random.default_rng(0)
        sample = weight[np.sort(rng.choice(len(weight), min(len(weight), _PQ_TRAIN_ROWS), replace=False))]
        # 2-D sub-vectors: measured on trained-like 512-D prototypes, d/4 sub-quantisers need ~2× the
        # shortlist for the same recall, and re-ranking (memory-bound) costs more than the longer codes.
        trained = faiss.IndexPQFastScan(d, d // 2, 4, faiss.METRIC_INNER_PRODUCT)
        # 16 centroids from a few hundred classes are fine; without this faiss warns once per sub-space
        trained.pq.cp.min_points_per_centroid = 1
        trained.train(np.ascontiguousarray(sample))
        for a, b in pairwise(self.offsets):
            index = faiss.clone_index(trained)
            index.add(np.ascontiguousarray(weight[a:b]))
            self._pq.append(index)

    def _top_pq(self, x: torch.Tensor, k: int) -> ScoredTop:
        query = np.ascontiguousarray(x.numpy())
        lists = []
        per_group = max(self.shortlist, k)  # so a group alone can fill the joint top-k
        for index, start in zip(self._pq, self.offsets[:-1]):
            _, ids = index.search(query, min(per_group, index.ntotal))
            lists.append(torch.from_numpy(ids + start))  # faiss ids are per group
        candidates = torch.cat(lists, dim=1)  # (B, R) packed columns, grouped by group
        widths = np.array([ids.shape[1] for ids in lists])
        exact = self._rescore(x, candidates)
        top_scores, at = exact.topk(k, dim=1)
        bounds = np.concatenate([[0], np.cumsum(widths)])
        group_best = torch.stack(
            [candidates[:, a:b].gather(1, exact[:, a:b].argmax(1, keepdim=True))[:, 0] for a, b in pairwise(bounds)],
            dim=1,
        )
        return ScoredTop(top_scores, candidates.gather(1, at), group_best, scan="pq4")

    def _rescore(self, x: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """``(B, R)`` exact float32 scores of queries ``x (B, d)`` with the packed ``columns (B, R)``."""
        if x.device.type == "cpu":
            import faiss

            # read in place from the packed matrix (no (B, R, d) gathered copy); faiss's __init__.pyi
            # omits this SWIG function, hence the ignore
            query = np.ascontiguousarray(x.numpy())
            ids = np.ascontiguousarray(columns.numpy())
            exact = np.empty(ids.shape, dtype=np.float32)
            faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]
                faiss.swig_ptr(exact),
                faiss.swig_ptr(query),
                faiss.swig_ptr(self.weight.numpy()),
                faiss.swig_ptr(ids),
                query.shape[1],
                ids.shape[0],
                ids.shape[1],
            )
            return torch.from_numpy(exact)
        return rescore_gathered(x, self.weight, columns)

    # ------------------------------------------------------------------------------ bf16 mode
    def _build_bf16(self) -> None:
        from vprkit_dnc.scoring_bf16 import Bf16Prototypes

        if self.bias is not None:
            raise ConfigError(
                "score_precision 'bf16' needs bias-free prototypes; use float32 for the linear head in raw mode"
            )
        self._bf16 = Bf16Prototypes(self.weight, self.offsets)

    def _top_bf16(self, x: torch.Tensor, k: int) -> ScoredTop:
        bf16 = self._bf16
        assert bf16 is not None  # _top_bf16 is called only once _build_bf16 made it
        joint_cols, joint_low, group_cols, group_low, usable = bf16.shortlist(
            x, k + self.bf16_extra, _BF16_GROUP_SHORTLIST
        )
        B, G, m = group_cols.shape
        R = joint_cols.shape[1]
        exact = self._rescore(x, torch.cat([joint_cols, group_cols.view(B, G * m)], dim=1))
        top_scores, at = exact[:, :R].topk(k, dim=1)
        columns = joint_cols.gather(1, at)
        group_best_exact, best_at = exact[:, R:].view(B, G, m).max(dim=2)
        group_best = group_cols.gather(2, best_at[..., None])[..., 0]
        ok = bf16.certify(
            x,
            top_scores[:, -1],
            joint_low,
            self.num_columns <= R,
            group_best_exact,
            group_low,
            torch.from_numpy(np.diff(self.offsets) <= m),
        )
        failed = (~(ok & usable)).nonzero()[:, 0]
        if len(failed):  # no proof for these queries: the float32 scan decides
            again = self._top_exact(x[failed], k)
            top_scores[failed], columns[failed], group_best[failed] = again.scores, again.columns, again.group_best
        return ScoredTop(top_scores, columns, group_best, scan="bf16", rescored=len(failed))


def rescore_gathered(x: torch.Tensor, weight: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """``(B, R)`` float32 ``x[b] · weight[columns[b, r]]`` by gathering rows (GPUs; a chunk of
    queries at a time so the ``(rows, R, d)`` copy stays under 256 MiB)."""
    rows = max(1, (1 << 26) // max(1, columns.shape[1] * x.shape[1]))
    return torch.cat(
        [torch.einsum("bd,brd->br", x[i : i + rows], weight[columns[i : i + rows]]) for i in range(0, len(x), rows)]
    )


def fast_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether bf16 matrix products are native on ``device``: CUDA with bf16 support, or a CPU with
    AMX tiles or avx512_bf16 (elsewhere torch emulates them, slower than float32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    cpu = torch.cpu
    return any(
        getattr(cpu, probe, lambda: False)() for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    )
