"""float16 storage of the ``flat`` index: cell lists scored in place, and an exact float32 re-ranking.

**Cell lists** (:func:`build_cell_lists`): a float16 store keeps its rows as a faiss
``IndexIVFScalarQuantizer`` with ``QT_fp16`` codes, one inverted list per cell (list ``c`` holds
the sorted positions ``offsets[c]:offsets[c+1]``; the tail, cell -1, is the last list), ids = the
sorted positions. No coarse quantizer is ever used: a restricted search hands faiss the query's
cells as its pre-assigned lists (``search_preassigned``), so the float16 codes are decoded and
scored in place by faiss's SIMD scanner, with no gathered float32 copy. Saved with
``faiss.write_index`` and read back with ``IO_FLAG_MMAP_IFC`` (codes memory-mapped, zero-copy).

**Exact re-ranking** (:func:`exact_topk`): rounding a row to float16 moves each coordinate by at
most one float16 step, 2^-10 of itself (round-to-nearest gives half that; faiss's encoder and
NumPy's cast differ by one step on some values, so the bound does not rely on the rounding mode;
subnormals: by at most 2^-24), so the float16 inner product of a query ``q`` and a row ``x``
differs from the float32 one by at most ``eps = |q| (|x|max (2^-10 + d 2^-23) + sqrt(d) 2^-24)``
(:func:`float16_score_bound`; the d·2^-23 term covers both kernels' float32 summation). Every true top-k row therefore has a float16 score
of at least ``s16_k - 2 eps``, where ``s16_k`` is the k-th best float16 score. The first pass keeps
:func:`~vprkit.index.exact.shortlist_size` rows; any query whose last kept row is still above
that threshold is searched again with a 4x wider shortlist, until none is cut short. Only the
rows above the threshold (typically k plus a few) are read in float32 and re-scored by the same
exact kernel as float32 storage, so scores and rows are those of a float32 search.

**Reading float32 rows** (:func:`read_rows`): when the float32 descriptors are a memory-mapped file
(a loaded store), the shortlist rows are read with ``pread`` instead of through the mapping: the
kernel maps whole page-cache folios around every faulted row (measured here: a 5.7 GB file fully
mapped after 24,000 random row reads), which would make the float32 file count as resident.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FirstPass",
    "build_cell_lists",
    "cell_list_codes",
    "exact_topk",
    "float16_score_bound",
    "max_row_norm",
    "read_cell_lists",
    "read_rows",
    "search_all_lists",
    "search_cell_lists",
    "write_cell_lists",
]

#: first-pass shortlist → (scores (m, L) float32 best first, positions (m, L) int64, -1 padded)
FirstPass = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def max_row_norm(descriptors: np.ndarray, chunk_rows: int = 262_144) -> float:
    """Largest L2 norm of the rows of ``descriptors`` (n, d) float32/float16, read in chunks."""
    best = 0.0
    for start in range(0, len(descriptors), chunk_rows):
        block = np.asarray(descriptors[start : start + chunk_rows], dtype=np.float32)
        best = max(best, float(np.einsum("ij,ij->i", block, block).max(initial=0.0)))
    return float(np.sqrt(best))


def float16_score_bound(query_norms: np.ndarray, row_norm_max: float, dim: int) -> np.ndarray:
    """(q,) bound on |float16 score − float32 score| for queries of the given norms (see the module)."""
    relative = row_norm_max * (2.0**-10 + dim * 2.0**-23) + np.sqrt(dim) * 2.0**-24
    return np.asarray(query_norms, dtype=np.float64) * relative


def build_cell_lists(descriptors: np.ndarray, offsets: np.ndarray, chunk_rows: int = 262_144) -> Any:
    """float16 cell lists of cell-sorted ``descriptors`` (n, d) float32 with CSR ``offsets``
    (n_cells + 1,): a faiss ``IndexIVFScalarQuantizer`` (``QT_fp16``, inner product) with
    ``n_cells + 1`` lists, the last holding the tail; ids are the sorted positions."""
    import faiss

    n, d = descriptors.shape
    n_cells = len(offsets) - 1
    lists = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(d), d, n_cells + 1, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT, False
    )
    lists.is_trained = True  # float16 codes need no training; the quantizer is never asked
    sizes = np.append(np.diff(offsets), n - offsets[-1])
    owner = np.repeat(np.arange(n_cells + 1, dtype=np.int64), sizes)
    for start in range(0, n, chunk_rows):  # chunks bound the float32 copy of a memory-mapped input
        block = np.ascontiguousarray(descriptors[start : start + chunk_rows], dtype=np.float32)
        ids = np.arange(start, start + len(block), dtype=np.int64)
        assign = np.ascontiguousarray(owner[start : start + len(block)])
        # the arrays are bound to names: swig_ptr keeps no reference to its argument
        lists.add_core(len(block), faiss.swig_ptr(block), faiss.swig_ptr(ids), faiss.swig_ptr(assign))
    return lists


def write_cell_lists(lists: Any, path: Path) -> None:
    import faiss

    faiss.write_index(lists, str(path))


def read_cell_lists(path: Path, *, mmap: bool) -> Any:
    """Read saved cell lists; ``mmap`` maps the codes (faiss ``IO_FLAG_MMAP_IFC``, where this faiss
    has it; older versions read them)."""
    import faiss

    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) if mmap else 0
    return faiss.read_index(str(path), flag)


def cell_list_codes(lists: Any) -> np.ndarray:
    """The float16 rows of the cell lists, in sorted-position order, as one (n, d) float16 array
    (a copy: the torch and NumPy kernels need contiguous rows). One step per list: O(lists)."""
    import faiss

    invlists: Any = faiss.extract_index_ivf(lists).invlists
    d = lists.d
    out = np.empty((lists.ntotal, d), dtype=np.float16)
    at = 0
    for c in range(invlists.nlist):  # a loop over cells, not rows: each step copies one cell's block
        size = invlists.list_size(c)
        if size:
            raw = faiss.rev_swig_ptr(invlists.get_codes(c), size * d * 2)
            out[at : at + size] = np.frombuffer(raw, dtype=np.float16).reshape(size, d)
            at += size
    return out


def _search_lists(lists: Any, queries: np.ndarray, assign: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    q = len(queries)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    assign = np.ascontiguousarray(assign, dtype=np.int64)
    coarse = np.zeros(assign.shape, dtype=np.float32)
    scores = np.empty((q, width), dtype=np.float32)
    found = np.empty((q, width), dtype=np.int64)
    lists.nprobe = assign.shape[1]
    # fewer queries than threads: split each query's lists across the threads (faiss parallel_mode 1)
    # rather than leave threads idle; otherwise one query per thread (mode 0)
    lists.parallel_mode = 1 if q < faiss.omp_get_max_threads() else 0
    lists.search_preassigned_c(
        q,
        faiss.swig_ptr(queries),
        width,
        faiss.swig_ptr(assign),
        faiss.swig_ptr(coarse),
        faiss.swig_ptr(scores),
        faiss.swig_ptr(found),
        False,
    )
    scores[found < 0] = -np.inf  # faiss pads with -FLT_MAX
    return scores, found


def search_cell_lists(lists: Any, queries: np.ndarray, cells: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """float16 top-``width`` of each query among its cells: queries (q, d) float32, cells (q, N)
    int64 (-1 skipped) → (scores (q, width) float32, positions (q, width) int64), -inf / -1 padded."""
    if cells.shape[1] == 0:
        return np.full((len(queries), width), -np.inf, np.float32), np.full((len(queries), width), -1, np.int64)
    return _search_lists(lists, queries, cells, width)


def search_all_lists(
    lists: Any, queries: np.ndarray, width: int, chunk_bytes: int = 1 << 25
) -> tuple[np.ndarray, np.ndarray]:
    """float16 top-``width`` of each query over every row (every list), in chunks of queries so
    that the (chunk, n_lists) list assignment stays under ``chunk_bytes``."""
    nlist = lists.nlist
    step = max(1, chunk_bytes // (8 * nlist))
    every = np.arange(nlist, dtype=np.int64)
    parts = [
        _search_lists(lists, queries[a : a + step], np.broadcast_to(every, (len(queries[a : a + step]), nlist)), width)
        for a in range(0, len(queries), step)
    ]
    if not parts:
        return np.zeros((0, width), np.float32), np.zeros((0, width), np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_rows(array: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``array[positions]`` as a new (m, d) float32 array; positions (m,) int64, sorted, distinct.

    A memory-mapped ``.npy`` (``np.load(..., mmap_mode="r")``) is read with ``os.preadv``, one call
    per run of consecutive positions (the standard library has no scattered-read call; a query
    reads k plus a few rows); any other array is gathered by torch.
    """
    if not isinstance(array, np.memmap) or array.filename is None:
        from vprkit.index.torch_kernel import float32_rows

        return float32_rows(array, positions)
    d = array.shape[1]
    row_bytes = d * array.itemsize
    out = np.empty((len(positions), d), dtype=array.dtype)
    if not len(positions):
        return out.astype(np.float32, copy=False)
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(positions)]])
    fd = os.open(array.filename, os.O_RDONLY)
    try:
        view = out.reshape(-1).view(np.uint8).data
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            offset = array.offset + int(positions[a]) * row_bytes
            want = (b - a) * row_bytes
            got = os.preadv(fd, [view[a * row_bytes : b * row_bytes]], offset)
            if got != want:
                raise OSError(f"{array.filename}: short read ({got} of {want} bytes); the file was truncated")
    finally:
        os.close(fd)
    return out.astype(np.float32, copy=False)


def exact_topk(
    queries: np.ndarray,
    first_pass: FirstPass,
    float32_rows: Callable[[np.ndarray], np.ndarray],
    k: int,
    row_norm_max: float,
    *,
    kernel: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact float32 top-``k`` from a float16 first pass (see the module docstring).

    queries (q, d) float32; ``first_pass(query_ids, width)`` → the float16 top-``width`` of those
    queries (scores best first, positions, -inf / -1 padded); ``float32_rows(positions)`` →
    (m, d) float32 rows for sorted distinct positions. Returns (scores (q, k) float32, positions
    (q, k) int64), best first, padded -inf / -1.
    """
    from vprkit.index.exact import pad_topk, shortlist_size, topk_subset

    q, d = queries.shape
    margin = 2.0 * float16_score_bound(np.linalg.norm(queries, axis=1), row_norm_max, d)

    def shortlist(ids: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        scores, positions = first_pass(ids, width)
        if scores.shape[1] < width:  # the pass had fewer rows than asked for
            return pad_topk(scores, positions, width)
        return scores, positions

    width = shortlist_size(k)
    scores, positions = shortlist(np.arange(q), width)
    while True:
        threshold = scores[:, k - 1].astype(np.float64) - margin  # -inf when fewer than k rows
        cut = (positions[:, -1] >= 0) & (scores[:, -1] >= threshold)
        if not cut.any():
            break
        width *= 4  # rare: many rows within the rounding margin of the k-th
        redo = np.flatnonzero(cut)
        wide_s = np.full((q, width), -np.inf, dtype=np.float32)
        wide_p = np.full((q, width), -1, dtype=np.int64)
        wide_s[:, : scores.shape[1]], wide_p[:, : scores.shape[1]] = scores, positions
        wide_s[redo], wide_p[redo] = shortlist(redo, width)
        scores, positions = wide_s, wide_p
    keep = (positions >= 0) & (scores >= threshold[:, None])  # a prefix of each row (best first)
    width = max(1, int(keep.sum(axis=1).max(initial=0)))
    keep, positions = keep[:, :width], positions[:, :width]
    needed = np.unique(positions[keep])
    if not needed.size:
        return np.full((q, k), -np.inf, dtype=np.float32), np.full((q, k), -1, dtype=np.int64)
    rows32 = float32_rows(needed)
    local = np.where(keep, np.searchsorted(needed, positions), -1)
    exact_s, exact_local = topk_subset(queries, rows32, np.ascontiguousarray(local), k, kernel)
    return exact_s, np.where(exact_local >= 0, needed[np.maximum(exact_local, 0)], -1)
