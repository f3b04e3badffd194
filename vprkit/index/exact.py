"""Exact inner-product top-k: the one exact-kNN path of vprkit, shared by every index.

:func:`topk_all` scores every row (faiss ``knn``, or chunked NumPy products); :func:`topk_subset`
scores each query against its own subset of rows. Two kernels score a query against a subset:

- ``"faiss"``: faiss's ``knn_inner_products_by_idx`` reads the subset rows in place (no gathered
  copy), computes SIMD inner products and keeps a top-k heap in C++; batches run in parallel over
  queries (OpenMP). Memory bandwidth bounds it: each candidate row is read once.
- ``"numpy"``: gathers the subset rows (``np.take``), one matrix-vector product, ``argpartition``. It reads
  each row twice (gather, then product), so it is slower, but needs nothing beyond NumPy.
- ``"torch"``: gather by the padded positions, one batched matrix product, ``topk``
  (:mod:`vprkit.index.torch_kernel`); here on a zero-copy CPU tensor of the array, and on a CUDA
  copy when the ``flat`` index is moved there (``to_device``).

All return the inner products faiss ``IndexFlatIP`` computes for those rows (same float32
arithmetic up to summation order); ties may come out in another order.

float16 databases (the ``flat`` index's ``storage="float16"``) are scored by
:func:`topk_all_float16` / :func:`topk_subset_float16`: rows are gathered, converted to float32
in chunks (by torch on the CPU, faster than NumPy's casts) and handed to the same kernels (NumPy's
own float16 products are slow), to pick a
shortlist of :func:`shortlist_size` rows that the float32 rows then re-rank exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import numpy as np

from vprkit.errors import ConfigError

__all__ = [
    "Kernel",
    "csr_to_padded",
    "faiss_threads",
    "merge_topk",
    "pad_topk",
    "resolve_kernel",
    "shortlist_size",
    "topk_all",
    "topk_all_float16",
    "topk_from_scores",
    "topk_subset",
    "topk_subset_float16",
]

Kernel = Literal["auto", "faiss", "numpy", "torch"]
_FLT_MAX = np.finfo(np.float32).max
#: bound on the temporaries (gathered float16 rows and their float32 copy) of one float16 chunk
CHUNK_BYTES = 1 << 28
#: rows gathered per piece of a float16 restricted search: small enough to stay in cache (measured
#: 2.3x the batched throughput of 256 MiB pieces on 100k x 512)
FLOAT16_PIECE_BYTES = 1 << 24


def resolve_kernel(kernel: str) -> str:
    """``"auto"`` → ``"faiss"`` when faiss imports, else ``"numpy"``; the others as given."""
    if kernel not in ("auto", "faiss", "numpy", "torch"):
        raise ConfigError(f"kernel must be 'auto', 'faiss', 'numpy' or 'torch', got {kernel!r}")
    if kernel != "auto":
        return kernel
    try:
        import faiss  # noqa: F401
    except ImportError:
        return "numpy"
    return "faiss"


@contextlib.contextmanager
def faiss_threads(threads: int) -> Iterator[None]:
    """Run faiss with ``threads`` OpenMP threads (0 = leave faiss's setting), then restore it."""
    if threads <= 0:
        yield
        return
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def csr_to_padded(flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """CSR row lists → (q, max_len) int64 matrix padded with -1 (vectorised scatter)."""
    lengths = np.diff(offsets)
    q = len(lengths)
    if q == 1:  # one query: its list is the matrix (no scatter)
        return np.asarray(flat, dtype=np.int64)[None, :]
    width = int(lengths.max()) if q else 0
    out = np.full((q, width), -1, dtype=np.int64)
    if flat.size:
        owner = np.repeat(np.arange(q), lengths)
        column = np.arange(flat.size) - np.repeat(offsets[:-1], lengths)
        out[owner, column] = flat
    return out


def topk_from_scores(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one score vector (n,) → (scores (k,), column indices (k,)), padded -inf / -1."""
    n = scores.shape[0]
    out_s = np.full(k, -np.inf, dtype=np.float32)
    out_i = np.full(k, -1, dtype=np.int64)
    if n == 0:
        return out_s, out_i
    if n > k:
        part = np.argpartition(-scores, k - 1)[:k]
        order = part[np.argsort(-scores[part], kind="stable")]
    else:
        order = np.argsort(-scores, kind="stable")
    out_s[: len(order)] = scores[order]
    out_i[: len(order)] = order
    return out_s, out_i


def topk_subset(
    queries: np.ndarray, database: np.ndarray, subset: np.ndarray, k: int, kernel: str = "faiss"
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k inner product of each query against its own subset of database rows.

    queries (q, d) float32; database (n, d) float32 C-contiguous (may be a read-only memmap);
    subset (q, L) int64 row numbers into ``database``, each query's list padded with -1 at the
    end. Returns (scores (q, k) float32, rows (q, k) int64 values taken from ``subset``), padded
    with -inf / -1 where a query has fewer than k rows.
    """
    q, width = subset.shape
    if kernel == "torch":
        from vprkit.index.torch_kernel import as_tensor, torch_topk_subset

        return torch_topk_subset(queries, as_tensor(database), subset, k)
    if kernel == "faiss":
        import faiss

        subset = np.ascontiguousarray(subset, dtype=np.int64)
        scores = np.empty((q, k), dtype=np.float32)
        rows = np.empty((q, k), dtype=np.int64)
        if width == 0:
            scores.fill(-np.inf)
            rows.fill(-1)
            return scores, rows
        # a SWIG function faiss's type information omits
        faiss.knn_inner_products_by_idx(  # type: ignore[attr-defined]
            faiss.swig_ptr(queries),
            faiss.swig_ptr(database),
            faiss.swig_ptr(subset),
            database.shape[1],
            q,
            database.shape[0],
            width,
            k,
            faiss.swig_ptr(scores),
            faiss.swig_ptr(rows),
            width,
        )
        if rows[:, -1].min() < 0:  # faiss pads with -FLT_MAX; the protocol pads with -inf
            scores[rows < 0] = -np.inf
        return scores, rows
    scores = np.empty((q, k), dtype=np.float32)
    rows = np.empty((q, k), dtype=np.int64)
    for i in range(q):  # one matrix product per query, never a loop over rows
        cand = subset[i]
        if width and cand[-1] < 0:
            cand = cand[cand >= 0]
        # einsum, not BLAS gemv: a (L, d)·(d,) product is too small to gain from BLAS threads, and
        # OpenBLAS's spinning threads cost milliseconds when another process holds the other core.
        s, j = topk_from_scores(np.einsum("ij,j->i", database.take(cand, axis=0), queries[i]), k)
        scores[i] = s
        rows[i] = -1
        found = j >= 0
        rows[i, found] = cand[j[found]]
    return scores, rows


def topk_all(
    queries: np.ndarray, database: np.ndarray, k: int, kernel: str = "faiss", chunk_rows: int = 262_144
) -> tuple[np.ndarray, np.ndarray]:
    """Exhaustive top-k inner product over every database row (q, d) × (n, d) → (q, k) each."""
    n = database.shape[0]
    if kernel == "torch":
        from vprkit.index.torch_kernel import as_tensor, torch_topk_all

        return torch_topk_all(queries, as_tensor(database), k)
    if kernel == "faiss":
        import faiss

        kk = min(k, n)
        scores, rows = faiss.knn(queries, database, kk, metric=faiss.METRIC_INNER_PRODUCT)
        return pad_topk(scores, rows, k)
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, n, chunk_rows):  # chunks bound the (q, chunk) score matrix
        block = database[start : start + chunk_rows] @ queries.T
        cand_s = np.concatenate([best_s, block.T], axis=1)
        cand_i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + len(block)), block.T.shape)], axis=1)
        kk = min(k, cand_s.shape[1])
        part = np.argpartition(-cand_s, kk - 1, axis=1)[:, :kk]
        best_s = np.take_along_axis(cand_s, part, 1)
        best_i = np.take_along_axis(cand_i, part, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return pad_topk(np.take_along_axis(best_s, order, 1), np.take_along_axis(best_i, order, 1), k)


def pad_topk(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A search's (q, k') output → the protocol's (q, k): float32 / int64, ``-inf`` / ``-1`` where
    no row was found (faiss marks a missing row with id -1 and pads scores with ``-FLT_MAX``)."""
    q, have = scores.shape
    scores = np.asarray(scores, dtype=np.float32)
    rows = np.asarray(rows, dtype=np.int64)
    scores = np.where(rows < 0, -np.inf, scores).astype(np.float32)
    if have == k:
        return scores, rows
    out_s = np.full((q, k), -np.inf, dtype=np.float32)
    out_i = np.full((q, k), -1, dtype=np.int64)
    out_s[:, :have] = scores
    out_i[:, :have] = rows
    return out_s, out_i


def shortlist_size(k: int) -> int:
    """Rows a float16 first pass keeps for the float32 re-ranking of a top-``k``.

    float16 rounding moves an inner product of unit vectors by about 1e-3 at most; a margin of
    3·k (at least 32) rows keeps every true top-k row in practice, at little cost (the re-ranking
    reads that many float32 rows per query).
    """
    return max(4 * k, k + 32)


def merge_topk(
    scores_a: np.ndarray, rows_a: np.ndarray, scores_b: np.ndarray, rows_b: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of two per-query top lists (q, a) and (q, b) → (q, k) each, best first,
    padded -inf / -1 (scores float32, rows int64)."""
    scores = np.concatenate([scores_a, scores_b], axis=1)
    rows = np.concatenate([rows_a, rows_b], axis=1)
    kk = min(k, scores.shape[1])
    if kk < scores.shape[1]:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        scores, rows = np.take_along_axis(scores, part, 1), np.take_along_axis(rows, part, 1)
    order = np.argsort(-scores, axis=1, kind="stable")
    return pad_topk(np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1), k)


def topk_all_float16(
    queries: np.ndarray, database: np.ndarray, k: int, kernel: str = "faiss", *, chunk_bytes: int = CHUNK_BYTES
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk_all` over a float16 database: blocks of rows are converted to float32 and
    searched by the exact ``kernel`` ("faiss" or "numpy"), the blocks' top-k merged.

    queries (q, d) float32; database (n, d) float16 (may be a memmap). Returns (scores (q, k)
    float32 of the float16 rows, rows (q, k) int64 into ``database``), best first, -inf / -1 padded.
    """
    n, d = database.shape
    block = max(k, chunk_bytes // max(1, 6 * d))  # float16 rows read + their float32 copy
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    from vprkit.index.torch_kernel import float32_rows  # torch converts float16 several times faster

    for start in range(0, n, block):
        rows32 = float32_rows(database[start : start + block])
        s, j = topk_all(queries, rows32, k, kernel)
        best_s, best_i = merge_topk(best_s, best_i, s, np.where(j >= 0, j + start, -1), k)
    return pad_topk(best_s, best_i, k)


def topk_subset_float16(
    queries: np.ndarray,
    database: np.ndarray,
    positions: np.ndarray,
    offsets: np.ndarray,
    k: int,
    kernel: str = "faiss",
    *,
    chunk_bytes: int = FLOAT16_PIECE_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of each query among its own rows of a float16 database, with the exact kernels.

    queries (q, d) float32; database (n, d) float16 (may be a memmap); CSR candidates: query ``i``
    searches ``positions[offsets[i]:offsets[i+1]]`` (int64 rows of ``database``, offsets (q+1,)
    int64). The flat candidate list is cut into pieces of at most ``chunk_bytes`` of gathered
    rows (a piece may end inside a query's list, so one long list never becomes one huge copy);
    each piece is gathered, converted to float32 and scored by :func:`topk_subset` with
    ``kernel`` ("faiss" or "numpy"), and the pieces' top-k are merged per query.

    Returns (scores (q, k) float32 of the float16 rows, rows (q, k) int64 into ``database``),
    best first, padded -inf / -1 where a query has fewer than k rows.
    """
    q, d = len(queries), database.shape[1]
    best_s = np.full((q, k), -np.inf, dtype=np.float32)
    best_i = np.full((q, k), -1, dtype=np.int64)
    total = len(positions)
    piece = max(1, chunk_bytes // max(1, 6 * d))  # float16 rows gathered + their float32 copy
    import torch

    from vprkit.index.torch_kernel import float32_rows  # torch gathers and converts several times faster

    piece = min(piece, max(1, total))
    # one pair of buffers for every piece: new memory per piece cost ~7x the gather (measured)
    buffers = (
        torch.empty((piece, d), dtype=torch.float16 if database.dtype == np.float16 else torch.float32),
        torch.empty((piece, d), dtype=torch.float32),
    )
    for a in range(0, total, piece):
        b = min(total, a + piece)
        rows32 = float32_rows(database, positions[a:b], out=buffers)
        # the queries whose lists overlap [a, b): the owners of entries a and b - 1, and those between
        first = int(np.searchsorted(offsets, a, side="right")) - 1
        last = int(np.searchsorted(offsets, b - 1, side="right")) - 1
        local = np.clip(offsets[first : last + 2], a, b) - a
        subset = csr_to_padded(np.arange(b - a, dtype=np.int64), local)
        s, j = topk_subset(queries[first : last + 1], rows32, subset, k, kernel)
        found = np.where(j >= 0, positions[a + np.maximum(j, 0)], -1)
        owners = slice(first, last + 1)
        best_s[owners], best_i[owners] = merge_topk(best_s[owners], best_i[owners], s, found, k)
    return best_s, best_i
