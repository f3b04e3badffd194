"""Exact inner-product top-k in torch, on the CPU or a CUDA device: the ``"torch"`` kernel.

The database is a torch tensor (n, d) float32 or float16 on some device. :func:`torch_topk_all`
scores every row in blocks of rows (one matrix product and one ``topk`` per block);
:func:`torch_topk_subset` gathers each query's candidate rows by their padded positions, scores
them with one batched matrix product and keeps a ``topk``. Both work in chunks (of queries and,
for long candidate lists, of candidates) so that the temporaries stay under ``chunk_bytes``, and
merge the chunks' top-k; the loops are over chunks, never over rows.

Arithmetic: a float16 database is converted to float32 chunk by chunk and the products run in
float32, on the CPU (torch's CPU float16 products are slow and less exact) and on CUDA alike (so
the float16 rounding bound of :mod:`vprkit.index.float16_search`, which assumes float32 queries and
float32 sums, holds there too; the GPU search is bound by reading the float16 rows, not by the
arithmetic). A float32 database gives float32 inner products equal to faiss's up to summation
order (the tests check 1e-5; on CUDA this assumes torch's default full-float32 matmul precision,
not TF32). Results come back as NumPy arrays with the
protocol's padding (score ``-inf``, position ``-1``). On the CPU this kernel is for portability
and checks: faiss's in-place kernel is several times faster there (a gather copies every
candidate row before the product).

Importing this module imports torch (a dependency of vprkit); :mod:`vprkit.index.exact` imports it
only when the ``"torch"`` kernel runs.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["CHUNK_BYTES", "as_tensor", "float32_rows", "torch_topk_all", "torch_topk_subset"]

#: bound on the temporaries of one chunk (gathered rows, their converted copy, the score block)
CHUNK_BYTES = 1 << 28


def as_tensor(array: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """(n, d) float32 or float16 NumPy array (may be a read-only memmap) → a tensor on ``device``.

    On the CPU it is a zero-copy view of the array (a memmap stays mapped); on CUDA a copy in the
    same dtype.
    """
    with warnings.catch_warnings():
        # torch warns that a read-only array is not writable; the kernels never write into it
        warnings.simplefilter("ignore", UserWarning)
        tensor = torch.from_numpy(np.asarray(array))
    return tensor.to(device)


def float32_rows(
    array: np.ndarray, positions: np.ndarray | None = None, *, out: tuple[torch.Tensor, torch.Tensor] | None = None
) -> np.ndarray:
    """``array[positions]`` (all rows without ``positions``) as a C-contiguous float32 array.

    array (n, d) float16 or float32 (may be a memmap); positions (m,) int64. Gathered and converted
    by torch on the CPU: several times faster than NumPy's fancy indexing and float16 cast. The
    result is a new array, except for a float32 ``array`` without ``positions`` (then ``array``).

    ``out``: a pair of CPU buffers ``(rows in array's dtype, rows in float32)`` of at least m rows,
    reused by a caller that gathers many pieces (filling freshly allocated memory costs more than
    the gather itself); the result is then a view of the float32 buffer, valid until the next call.
    """
    tensor = as_tensor(array)
    if positions is None:
        return tensor.to(torch.float32).contiguous().numpy()
    index = torch.from_numpy(np.ascontiguousarray(positions, dtype=np.int64))
    if out is None:
        return tensor.index_select(0, index).to(torch.float32).contiguous().numpy()
    gathered, converted = out[0][: len(index)], out[1][: len(index)]
    torch.index_select(tensor, 0, index, out=gathered)
    converted.copy_(gathered)
    return converted.numpy()


def _compute_dtype(database: torch.Tensor) -> torch.dtype:
    """float32 products for every storage dtype and device (see the module docstring)."""
    return torch.float32


def _merge(
    best_s: torch.Tensor | None, best_i: torch.Tensor | None, s: torch.Tensor, i: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``k`` best of a running (qc, ≤k) top-k and a new (qc, m) block, best first.

    The block is cut to its own top-k first, so only (qc, ≤2k) tensors are concatenated.
    """
    top_s, col = s.topk(min(k, s.shape[1]), dim=1)
    top_i = i.gather(1, col)
    if best_s is None or best_i is None:
        return top_s, top_i
    both_s, both_i = torch.cat([best_s, top_s], dim=1), torch.cat([best_i, top_i], dim=1)
    top_s, col = both_s.topk(min(k, both_s.shape[1]), dim=1)
    return top_s, both_i.gather(1, col)


def _to_numpy(scores: torch.Tensor, found: torch.Tensor, out_s: np.ndarray, out_i: np.ndarray, start: int) -> None:
    """Write a chunk's (qc, kk) results into the (q, k) outputs; rows scored -inf become -1."""
    s = scores.float().cpu().numpy()
    i = found.cpu().numpy()
    i[np.isneginf(s)] = -1
    out_s[start : start + len(s), : s.shape[1]] = s
    out_i[start : start + len(s), : s.shape[1]] = i


def torch_topk_all(
    queries: np.ndarray, database: torch.Tensor, k: int, *, chunk_bytes: int = CHUNK_BYTES
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k inner product of each query over every database row.

    queries (q, d) float32 NumPy; database (n, d) float32/float16 tensor on any device. Returns
    (scores (q, k) float32, positions (q, k) int64 row numbers into ``database``), best first,
    padded -inf / -1 when k > n.
    """
    q, k = len(queries), int(k)
    n, d = database.shape
    out_s = np.full((q, k), -np.inf, dtype=np.float32)
    out_i = np.full((q, k), -1, dtype=np.int64)
    if n == 0 or q == 0:
        return out_s, out_i
    dtype = _compute_dtype(database)
    width = torch.finfo(dtype).bits // 8
    # a block of rows (its converted copy) and the (qc, rows) score block each stay under chunk_bytes
    block_rows = int(min(n, max(k, chunk_bytes // (d * width))))
    q_chunk = int(max(1, chunk_bytes // (block_rows * 4)))
    qt_all = torch.from_numpy(np.ascontiguousarray(queries)).to(database.device, dtype)
    for a in range(0, q, q_chunk):
        qt = qt_all[a : a + q_chunk]
        best_s: torch.Tensor | None = None
        best_i: torch.Tensor | None = None
        for b in range(0, n, block_rows):
            block = database[b : b + block_rows].to(dtype)  # a view when the dtype already matches
            scores = qt @ block.T  # (qc, rows)
            ids = torch.arange(b, b + block.shape[0], device=database.device).expand_as(scores)
            best_s, best_i = _merge(best_s, best_i, scores, ids, k)
        assert best_s is not None and best_i is not None
        _to_numpy(best_s, best_i, out_s, out_i, a)
    return out_s, out_i


def torch_topk_subset(
    queries: np.ndarray, database: torch.Tensor, subset: np.ndarray, k: int, *, chunk_bytes: int = CHUNK_BYTES
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k inner product of each query against its own subset of database rows.

    queries (q, d) float32 NumPy; database (n, d) float32/float16 tensor on any device; subset
    (q, L) int64 NumPy positions into ``database``, padded with -1 (anywhere). Returns (scores
    (q, k) float32, positions (q, k) int64 taken from ``subset``), best first, padded -inf / -1
    where a query has fewer than k rows.
    """
    q, width = subset.shape
    k = int(k)
    out_s = np.full((q, k), -np.inf, dtype=np.float32)
    out_i = np.full((q, k), -1, dtype=np.int64)
    if width == 0 or q == 0:
        return out_s, out_i
    d = database.shape[1]
    dtype = _compute_dtype(database)
    stored, computed = database.element_size(), torch.finfo(dtype).bits // 8
    per_candidate = d * (stored + computed) + 8 + 4  # gathered row, converted row, position, score
    col_chunk = int(min(width, max(1, chunk_bytes // per_candidate)))
    q_chunk = int(max(1, chunk_bytes // (col_chunk * per_candidate)))
    qt_all = torch.from_numpy(np.ascontiguousarray(queries)).to(database.device, dtype)
    for a in range(0, q, q_chunk):
        qt = qt_all[a : a + q_chunk].unsqueeze(2)  # (qc, d, 1)
        positions = torch.from_numpy(np.ascontiguousarray(subset[a : a + q_chunk])).to(database.device)
        best_s: torch.Tensor | None = None
        best_i: torch.Tensor | None = None
        for b in range(0, width, col_chunk):
            idx = positions[:, b : b + col_chunk]
            missing = idx < 0
            # index_select of the flat positions: much faster than (qc, w) advanced indexing;
            # padding reads row 0 and is masked below
            rows = database.index_select(0, idx.reshape(-1).clamp(min=0)).view(*idx.shape, d).to(dtype)
            scores = torch.bmm(rows, qt).squeeze(2).masked_fill_(missing, -torch.inf)
            best_s, best_i = _merge(best_s, best_i, scores, idx, k)
        assert best_s is not None and best_i is not None
        _to_numpy(best_s, best_i, out_s, out_i, a)
    return out_s, out_i
