"""``hnsw``: hnswlib's HNSW graph in inner-product space (docs/indexes/index.md).

hnswlib reports ``1 - <q, x>`` as the distance; scores here are inner products again.

Restricted search (``search_rows``), two modes (``restricted`` in the config):

- ``"exact"`` (default): score the candidates exactly with the shared in-place kernel
  (:func:`vprkit.index.exact.topk_subset`). The pipeline's candidate sets are small (about 1/1000
  of the database), so this is both exact and faster than walking the graph. hnswlib's
  ``get_items`` is too slow to fetch candidates per query (~60 µs per row measured), so this mode
  keeps a float32 copy of the vectors (n · d · 4 bytes, counted in :meth:`memory_bytes`, saved as
  ``vectors.npy``).
- ``"filter"``: hnswlib's ``knn_query(filter=...)``, one walk per query over its CSR slice of
  the candidates. The filter is a Python callable that hnswlib calls for every node it considers;
  when the candidates are 0.1 % of the graph the walk visits many nodes per accepted one, so it is
  slow and approximate (see the restricted-search benchmark).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from vprkit.errors import DataError
from vprkit.fileio import atomic_path
from vprkit.index.base import CandidateRows, DescriptorIndex, StaleIndexError
from vprkit.index.exact import pad_topk, topk_subset
from vprkit_hnswlib.config import HnswConfig

__all__ = ["HnswIndex"]


class HnswIndex(DescriptorIndex):
    """HNSW over L2-normalised descriptors; memory ≈ n · (4·d + 8·M + overhead) bytes."""

    name = "hnsw"
    config: HnswConfig
    _FILE = "hnsw.bin"
    _VECTORS = "vectors.npy"

    def __init__(self, config: HnswConfig | None = None) -> None:
        super().__init__(config or HnswConfig())
        self._index: Any = None
        self._vectors: np.ndarray | None = None  # kept only for restricted="exact"

    @property
    def ntotal(self) -> int:
        return int(self._index.get_current_count()) if self._index is not None else 0

    @property
    def _threads(self) -> int:
        return self.config.threads or -1

    def _build(self, x: np.ndarray) -> None:
        cfg = self.config
        self._index = hnswlib.Index(space="ip", dim=x.shape[1])
        self._index.init_index(max_elements=len(x), ef_construction=cfg.ef_construction, M=cfg.M, random_seed=cfg.seed)
        self._index.add_items(x, np.arange(len(x)), num_threads=self._threads)
        self._vectors = x.copy() if cfg.restricted == "exact" else None

    def _add(self, x: np.ndarray) -> None:
        start = self.ntotal
        self._index.resize_index(start + len(x))
        self._index.add_items(x, np.arange(start, start + len(x)), num_threads=self._threads)
        if self._vectors is not None:
            self._vectors = np.concatenate([self._vectors, x])

    def _query(self, q: np.ndarray, k: int, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        self._index.set_ef(max(self.config.ef_search, k))
        labels, distances = self._index.knn_query(q, k=k, **kwargs)
        return (1.0 - distances).astype(np.float32), labels.astype(np.int64)

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return pad_topk(*self._query(q, min(k, self.ntotal), num_threads=self._threads), k)

    def _search_rows(self, q: np.ndarray, candidates: CandidateRows, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.config.restricted == "exact":
            if self._vectors is None:
                raise DataError("hnsw: restricted='exact' needs the vector copy; rebuild the index in this mode")
            return topk_subset(q, self._vectors, candidates.padded(), k, "faiss")
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        rows = np.full((len(q), k), -1, dtype=np.int64)
        for i in np.flatnonzero(candidates.counts):  # per query: candidate sets differ; never a loop over rows
            scores[i], rows[i] = self._filtered(q[i : i + 1], candidates.of_query(i), k)
        return scores, rows

    def _filtered(self, q: np.ndarray, allowed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        members = set(allowed.tolist())
        kk = min(k, len(members))
        out_s = np.full(k, -np.inf, dtype=np.float32)
        out_r = np.full(k, -1, dtype=np.int64)
        try:
            s, r = self._query(q, kk, num_threads=1, filter=members.__contains__)
        except RuntimeError:  # hnswlib found fewer than kk allowed nodes
            return out_s, out_r
        out_s[:kk], out_r[:kk] = s[0], r[0]
        return out_s, out_r

    def memory_bytes(self) -> int:
        copy = self._vectors.nbytes if self._vectors is not None else 0
        return int(self._index.index_file_size()) + copy

    def _save_payload(self, folder: Path) -> list[str]:
        with atomic_path(folder / self._FILE, suffix=".bin") as tmp:
            self._index.save_index(str(tmp))
        if self._vectors is None:
            return [self._FILE]
        with atomic_path(folder / self._VECTORS, suffix=".npy") as tmp:
            np.save(tmp, self._vectors)
        return [self._FILE, self._VECTORS]

    def _load_payload(self, folder: Path, meta: dict[str, Any], *, mmap: bool) -> None:
        index = hnswlib.Index(space="ip", dim=self.dim)
        try:
            index.load_index(str(folder / self._FILE), max_elements=int(meta["ntotal"]))
        except RuntimeError as exc:
            raise StaleIndexError(f"cannot read hnswlib index in {str(folder)!r} ({exc}); rebuild it") from exc
        if index.dim != self.dim:
            raise DataError(f"{str(folder)!r}: hnswlib index has dimension {index.dim}, meta says {self.dim}")
        self._index = index
        self._vectors = None
        if self._VECTORS in meta["files"]:
            self._vectors = np.load(folder / self._VECTORS, mmap_mode="r" if mmap else None)
            if self._vectors.shape != (index.get_current_count(), self.dim):
                raise StaleIndexError(f"{str(folder)!r}: {self._VECTORS} does not match the graph; rebuild it")
