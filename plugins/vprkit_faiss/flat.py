"""``flat``: exact inner-product search with faiss ``IndexFlatIP``.

``search`` is faiss's exhaustive search. ``search_rows`` scores only the given rows, reading them
in place from the index's own storage (``knn_inner_products_by_idx``), so a restricted search
costs O(candidates), not O(database); it returns exactly what ``IndexFlatIP`` with an ID selector
returns for the same rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from vprkit.fileio import atomic_path
from vprkit.index.base import DescriptorIndex, StaleIndexError
from vprkit.index.exact import csr_to_padded, topk_subset
from vprkit_faiss.config import FlatConfig

__all__ = ["FlatIndex", "faiss_threads", "pad_results", "read_faiss_index", "write_faiss_index"]


@contextlib.contextmanager
def faiss_threads(threads: int) -> Iterator[None]:
    """Run faiss with ``threads`` OpenMP threads (0 = leave faiss's setting), then restore it."""
    if threads <= 0:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def pad_results(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss output (q, k') → protocol output (q, k): -inf / -1 where no row was found."""
    q, have = rows.shape
    out_s = np.full((q, k), -np.inf, dtype=np.float32)
    out_r = np.full((q, k), -1, dtype=np.int64)
    out_s[:, :have] = np.where(rows < 0, -np.inf, scores)
    out_r[:, :have] = rows
    return out_s, out_r


def write_faiss_index(index: Any, path: Path) -> None:
    with atomic_path(path, suffix=".faiss") as tmp:
        faiss.write_index(index, str(tmp))


def read_faiss_index(path: Path) -> Any:
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:  # faiss reports a truncated/corrupt file as RuntimeError
        raise StaleIndexError(f"cannot read faiss index {str(path)!r} ({exc}); rebuild it") from exc


class FlatIndex(DescriptorIndex):
    """Exact search over all rows or given rows; memory = n · d · 4 bytes."""

    name = "flat"
    _FILE = "flat.faiss"

    def __init__(self, config: FlatConfig | None = None) -> None:
        super().__init__(config or FlatConfig())
        self._index: Any = None

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal) if self._index is not None else 0

    def vectors(self) -> np.ndarray:
        """(n, d) float32 view of the stored vectors (no copy; invalid after ``add``)."""
        n, d = self.ntotal, self.dim
        return faiss.rev_swig_ptr(self._index.get_xb(), n * d).reshape(n, d)

    def _build(self, x: np.ndarray) -> None:
        self._index = faiss.IndexFlatIP(x.shape[1])
        self._index.add(x)

    def _add(self, x: np.ndarray) -> None:
        self._index.add(x)

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        with faiss_threads(self.config.threads):
            scores, rows = self._index.search(q, min(k, self.ntotal))
        return pad_results(scores, rows, k)

    def _search_rows(self, q, flat_rows, offsets, k):
        subset = csr_to_padded(flat_rows, offsets)
        with faiss_threads(self.config.threads):
            return topk_subset(q, self.vectors(), subset, k, "faiss")

    def memory_bytes(self) -> int:
        return self.ntotal * (self.dim or 0) * 4

    def _save_payload(self, folder: Path) -> list[str]:
        write_faiss_index(self._index, folder / self._FILE)
        return [self._FILE]

    def _load_payload(self, folder: Path, meta: dict[str, Any], *, mmap: bool) -> None:
        self._index = read_faiss_index(folder / self._FILE)
        if self._index.d != self.dim:
            raise StaleIndexError(f"{str(folder)!r}: faiss index has dimension {self._index.d}, meta says {self.dim}")
