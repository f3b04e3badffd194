"""The ``bf16`` scan of :class:`~vprkit_dnc.scoring.PackedPrototypes`: fast and exact.

One bf16 matrix product ``x̃ W̃ᵀ`` of the bf16-rounded queries and prototypes (AMX tiles or
avx512_bf16 on CPUs, tensor cores on GPUs), a shortlist per query (the joint top-R) and per group
(its top-m), exact float32 re-scoring of the shortlists, and a per-query **certificate** that no
class outside them can beat what is returned. Queries without a certificate are scored again in
full float32, so the output is the float32 scan's (up to float32 summation order).

The shortlists come without a ``topk`` over all C columns: every group is padded to NB blocks of
64 classes, and the top-R scores of a row lie in the R blocks with the largest maxima.

The bound. For a prototype ``w = w̃ + r_w`` and a query ``x = x̃ + r_x`` (the residuals of the
rounding are exact in float32 and measured, not assumed):

    x·w − x̃·w̃ = x̃·r_w + r_x·w̃ + r_x·r_w,  so  |x·w − x̃·w̃| ≤ ‖x̃‖‖r_w‖ + ‖r_x‖‖w̃‖ + ‖r_x‖‖r_w‖

(Cauchy–Schwarz, with the largest ‖r_w‖ and ‖w̃‖ of the classes concerned). The bf16 product
accumulates in float32 (error ≤ γ_d ‖x̃‖‖w̃‖, γ_d = d·2⁻²⁴ / (1 − d·2⁻²⁴)) and rounds to bf16 to
nearest (relative error ≤ 2⁻⁸; the tests check it on the machine that runs them). A class outside a
shortlist has a bf16 score ≤ v, the shortlist's lowest, hence a true score ≤ ``upper(v) + slack``;
the shortlist's k-th exact score (its own float32 error is in the slack) above that bound proves the
top-k. The same test on each group's top-m proves the group's own best class (the confidence).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["Bf16Prototypes"]

_U_OUT = 2.0**-8  # bf16 output rounding, relative: round-to-nearest (oneDNN, cuBLAS; checked by the tests)
_U32 = 2.0**-24  # float32 unit roundoff
_SUB = 8  # sub-block of the second selection step (divides BLOCK)
_CHUNK_ROWS = 128  # queries per bf16 product: fewer waste the weight streaming, more only grow the buffer


class Bf16Prototypes:
    """bf16 copy of a packed ``(C, d)`` float32 matrix, laid out for block-wise selection.

    Every group's rows are padded with zeros to ``NB`` blocks of ``BLOCK`` columns (NB of the largest
    group), so the scores of a chunk of queries view as ``(n, G, NB, BLOCK)``: the block maxima find
    the joint and the per-group shortlists without a ``topk`` over all C columns (the top-R scores
    lie in the R blocks of largest maximum). On CPUs the bf16 matrix is also kept pre-packed in
    oneDNN's layout (otherwise re-packed on every product).

    Args:
        weight: ``(C, d)`` float32 packed prototypes (the float32 reference).
        offsets: ``(G+1,)`` column offsets of the groups.
    """

    BLOCK = 64

    def __init__(self, weight: torch.Tensor, offsets: np.ndarray):
        spans = list(zip(offsets[:-1].tolist(), offsets[1:].tolist()))
        sizes = [b - a for a, b in spans]
        self.spans, self.sizes = spans, sizes
        self.blocks = -(-max(sizes) // self.BLOCK)  # NB
        width = self.blocks * self.BLOCK
        d, device = weight.shape[1], weight.device
        padded = torch.zeros(len(spans) * width, d, dtype=torch.bfloat16, device=device)
        packed_of = torch.full((len(spans) * width,), -1, dtype=torch.long, device=device)
        for g, (a, b) in enumerate(spans):
            padded[g * width : g * width + b - a] = weight[a:b].to(torch.bfloat16)
            packed_of[g * width : g * width + b - a] = torch.arange(a, b, device=device)
        self.weight_bf16, self.packed_of, self.width = padded, packed_of, width
        rounded = weight.to(torch.bfloat16).float()
        residual = (weight - rounded).norm(dim=1)  # (C,) ‖r_w‖
        norm = rounded.norm(dim=1)  # (C,) ‖w̃‖
        exact_norm = weight.norm(dim=1)
        # per group: max ‖r_w‖, max ‖w̃‖, max ‖w‖; row G holds the maxima over all columns
        rows = [[float(v[a:b].max()) for v in (residual, norm, exact_norm)] for a, b in spans]
        rows.append([float(residual.max()), float(norm.max()), float(exact_norm.max())])
        self.bounds = torch.tensor(rows, dtype=torch.float32, device=device)  # (G+1, 3)
        self.gamma = d * _U32 / (1 - d * _U32)
        self._onednn = None
        if device.type == "cpu" and torch.backends.mkldnn.is_available():
            try:
                self._onednn = torch.ops.mkldnn._reorder_linear_weight(self.weight_bf16, _CHUNK_ROWS)
            except (RuntimeError, AttributeError):  # private op: absent or changed in this torch
                self._onednn = None

    def nbytes(self) -> int:
        packed = self._onednn.numel() * 2 if self._onednn is not None else 0
        return self.weight_bf16.numel() * 2 + packed + self.packed_of.numel() * 8

    def shortlist(
        self, x: torch.Tensor, joint: int, per_group: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """bf16 shortlists of queries ``x (B, d)``: the joint top-R and every group's top-m.

        Returns ``(joint_cols (B, R), joint_low (B,), group_cols (B, G, m), group_low (B, G), usable (B,))``:
        packed columns; the lowest bf16 score of each shortlist as float32 (no class outside a
        shortlist scores more in bf16); and False where the block shortcut does not hold (fewer
        blocks with a non-negative maximum than blocks searched: those queries need the float32
        scan). R is capped at C, m at the smallest group.
        """
        G, NB, b = len(self.spans), self.blocks, self.BLOCK
        B, C = x.shape[0], sum(self.sizes)
        R, m = min(joint, C), min([per_group, *self.sizes])
        qj, qg = min(R, G * NB), min(m, NB)  # blocks to search: the top-R classes lie in the R best blocks
        xb, dev = x.to(torch.bfloat16), x.device
        joint_cols = torch.empty(B, R, dtype=torch.long, device=dev)
        joint_low = torch.empty(B, dtype=torch.float32, device=dev)
        group_cols = torch.empty(B, G, m, dtype=torch.long, device=dev)
        group_low = torch.empty(B, G, dtype=torch.float32, device=dev)
        usable = torch.empty(B, dtype=torch.bool, device=dev)
        group_base = (torch.arange(G, device=dev) * NB)[None, :, None]
        with _float32_accumulation(dev):
            for i in range(0, B, _CHUNK_ROWS):
                scores = self._product(xb[i : i + _CHUNK_ROWS])  # (n, G·width) bf16
                n = scores.shape[0]
                chunk = slice(i, i + n)
                by_group = scores.view(n, G, self.width)
                for g, size in enumerate(self.sizes):
                    by_group[:, g, size:] = -torch.inf  # padding rows never win
                blocks = scores.view(n, G * NB, b)
                # Block maxima on the raw bits: as int16, non-negative bf16 values order like the
                # numbers and every negative one sorts below them (6x faster than a bf16 amax).
                # Exact for the blocks that matter while at least R blocks have a non-negative max.
                keys = blocks.view(torch.int16).amax(dim=2)  # (n, G·NB)
                signed = (keys >= 0).view(n, G, NB).sum(dim=2)  # (n, G) blocks with a max >= 0
                usable[chunk] = ((signed.sum(dim=1) >= qj) | (qj == G * NB)) & ((signed >= qg) | (qg == NB)).all(dim=1)
                rows = torch.arange(n, device=dev)[:, None]
                picked = keys.topk(qj, dim=1, sorted=False).indices  # (n, qj)
                # the same once more inside the picked blocks, with sub-blocks of 8 (a topk over
                # R·64 values costs twice these two steps)
                sub = blocks[rows, picked].view(n, qj * b // _SUB, _SUB)
                sub_picked = sub.amax(dim=2).topk(min(R, sub.shape[1]), dim=1, sorted=False).indices
                top = sub[rows, sub_picked].view(n, -1).topk(R, dim=1, sorted=False)
                joint_cols[chunk] = self.packed_of[_unblock(picked, _unblock(sub_picked, top.indices, _SUB), b)]
                joint_low[chunk] = top.values.amin(dim=1).float()
                # each group: its top-m classes lie in its m best blocks
                picked = keys.view(n, G, NB).topk(qg, dim=2, sorted=False).indices + group_base
                top = blocks[rows, picked.view(n, -1)].view(n, G, -1).topk(m, dim=2, sorted=False)
                group_cols[chunk] = self.packed_of[_unblock(picked, top.indices, b)]
                group_low[chunk] = top.values.amin(dim=2).float()
        return joint_cols, joint_low, group_cols, group_low, usable

    def _product(self, xb: torch.Tensor) -> torch.Tensor:
        """``(n, d)`` bf16 queries -> ``(n, G·width)`` bf16 scores against the padded prototypes."""
        if self._onednn is not None:
            try:  # the weight pre-packed in oneDNN's blocked layout once, instead of on every call
                return torch.ops.mkldnn._linear_pointwise(xb, self._onednn, None, "none", [], "")
            except (RuntimeError, AttributeError):
                self._onednn = None
        return xb @ self.weight_bf16.T

    def certify(
        self,
        x: torch.Tensor,
        kth_exact: torch.Tensor,
        joint_low: torch.Tensor,
        joint_complete: bool,
        group_best_exact: torch.Tensor,
        group_low: torch.Tensor,
        group_complete: torch.Tensor,
    ) -> torch.Tensor:
        """``(B,)`` bool: the joint top-k and every group's best are provably the float32 ones.

        Args:
            x: ``(B, d)`` float32 queries (as scored).
            kth_exact: ``(B,)`` exact score of the k-th best class of the joint shortlist.
            joint_low: ``(B,)`` lowest bf16 score of the joint shortlist.
            joint_complete: the joint shortlist holds every column (nothing outside it).
            group_best_exact: ``(B, G)`` exact score of every group's best shortlisted class.
            group_low: ``(B, G)`` lowest bf16 score of every group's shortlist.
            group_complete: ``(G,)`` bool, the group's shortlist holds the whole group.
        """
        low = torch.cat([group_low, joint_low[:, None]], dim=1)
        outside = self.upper(low) + self.slack(x)
        complete = torch.cat([group_complete.to(x.device), torch.tensor([joint_complete], device=x.device)])
        outside = outside.masked_fill(complete[None, :], -torch.inf)
        best = torch.cat([group_best_exact, kth_exact[:, None]], dim=1)
        return (best > outside).all(dim=1)

    def slack(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, G+1)``: bound on |x·w − bf16 score| from the rounding of the inputs and the float32
        accumulation of the bf16 product and of the re-scoring, over the classes of each group
        (column G: over all classes)."""
        rounded = x.to(torch.bfloat16).float()
        nx_r = rounded.norm(dim=1, keepdim=True)  # (B, 1) ‖x̃‖
        rx = (x - rounded).norm(dim=1, keepdim=True)  # ‖r_x‖
        nx = x.norm(dim=1, keepdim=True)
        res_w, norm_w, exact_w = self.bounds[:, 0], self.bounds[:, 1], self.bounds[:, 2]  # (G+1,)
        return nx_r * res_w + rx * norm_w + rx * res_w + self.gamma * (nx_r * norm_w + nx * exact_w)

    @staticmethod
    def upper(score: torch.Tensor) -> torch.Tensor:
        """Largest float32 accumulation a bf16 product rounded (to nearest) to ``score`` can have."""
        return torch.where(score >= 0, score / (1 - _U_OUT), score / (1 + _U_OUT))


def _unblock(picked: torch.Tensor, within: torch.Tensor, size: int) -> torch.Tensor:
    """Positions in the blocked layout of ``within`` (indices into the concatenation of the
    ``picked`` blocks of ``size`` entries, last dimension)."""
    return picked.gather(-1, within // size) * size + within % size


@contextmanager
def _float32_accumulation(device: torch.device) -> Iterator[None]:
    """On CUDA, forbid cuBLAS's reduced-precision (bf16) split-K reductions for the bound to hold."""
    if device.type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul
    before, matmul.allow_bf16_reduced_precision_reduction = matmul.allow_bf16_reduced_precision_reduction, False
    try:
        yield
    finally:
        matmul.allow_bf16_reduced_precision_reduction = before
