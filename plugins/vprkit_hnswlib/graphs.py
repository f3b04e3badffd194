"""The two HNSW libraries behind the ``hnsw`` index, behind one small interface.

- ``faiss`` (default): ``faiss.IndexHNSWFlat`` in inner-product space, the implementation the D&C
  paper used (supplementary, Fig. 5). faiss-cpu ships wheels for every platform vprkit supports, so
  installing vprkit needs no compiler. Filtered walks take an ``IDSelectorBatch`` (C++, no Python
  callback). The graph keeps the vectors itself (``storage``), so the exact restricted mode reads
  them in place: no second copy.
- ``hnswlib``: hnswlib's graph (the optional ``hnswlib`` extra; PyPI has no wheel for hnswlib 0.8,
  so installing it compiles C++). It reports ``1 - <q, x>`` as the distance: scores are turned back
  into inner products. Its filter is a Python callable called per visited node; its vectors are not
  readable fast (``get_items`` ≈ 60 µs per row), so the exact mode keeps a float32 copy.

Both take ``M``, ``ef_construction`` and ``ef_search`` with the same meaning. faiss draws node levels
from its own fixed seed; ``seed`` applies to hnswlib only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from vprkit.errors import ConfigError
from vprkit.fileio import atomic_path
from vprkit.index.exact import faiss_threads

__all__ = ["FaissGraph", "Graph", "HnswlibGraph", "make_graph"]


class Graph(ABC):
    """An HNSW graph over unit float32 rows ``(n, d)``, searched by inner product."""

    #: the payload file name
    file: str

    def __init__(self, dim: int, *, M: int, ef_construction: int, seed: int, threads: int) -> None:
        self.dim, self.M, self.ef_construction, self.seed, self.threads = dim, M, ef_construction, seed, threads

    @property
    @abstractmethod
    def ntotal(self) -> int: ...

    @abstractmethod
    def add(self, x: np.ndarray) -> None:
        """Append rows ``(m, d)``; they get the next row numbers."""

    @abstractmethod
    def knn(self, q: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` ``(q, k)`` of the graph walk, k ≤ ntotal."""

    @abstractmethod
    def knn_within(self, q: np.ndarray, allowed: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        """One query ``(1, d)``: the walk restricted to the rows ``allowed``; ``(k,)`` scores and rows,
        padded ``-inf`` / ``-1`` when the walk finds fewer."""

    @abstractmethod
    def vectors(self) -> np.ndarray | None:
        """The rows ``(n, d)`` float32 as a view when the library exposes them, else None."""

    @abstractmethod
    def nbytes(self) -> int:
        """Bytes of the graph with its vectors."""

    @abstractmethod
    def save(self, path: Path) -> None: ...

    @abstractmethod
    def load(self, path: Path, ntotal: int) -> None:
        """Read a saved graph (``RuntimeError`` when the file is not one)."""


def _padded(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    out_s = np.full(k, -np.inf, dtype=np.float32)
    out_r = np.full(k, -1, dtype=np.int64)
    n = min(k, len(rows))
    out_s[:n], out_r[:n] = scores[:n], rows[:n]
    return out_s, out_r


class FaissGraph(Graph):
    file = "hnsw.faiss"

    def __init__(self, dim: int, **kwargs: Any) -> None:
        super().__init__(dim, **kwargs)
        import faiss

        self._faiss: Any = faiss  # faiss's stubs lack the HNSW search parameters and storage accessors
        self._index: Any = faiss.IndexHNSWFlat(dim, self.M, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = self.ef_construction

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def add(self, x: np.ndarray) -> None:
        with faiss_threads(self.threads):
            self._index.add(np.ascontiguousarray(x, dtype=np.float32))

    def _params(self, ef: int, selector: Any = None) -> Any:
        params = self._faiss.SearchParametersHNSW()
        params.efSearch = ef
        if selector is not None:
            params.sel = selector
        return params

    def knn(self, q: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        with faiss_threads(self.threads):
            scores, rows = self._index.search(q, k, params=self._params(ef))
        return scores.astype(np.float32), rows.astype(np.int64)

    def knn_within(self, q: np.ndarray, allowed: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        selector = self._faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        # faiss's efSearch bounds the candidate list over every visited node, hnswlib's over the
        # allowed ones: scale it by n / |allowed| so that both walk until about ef allowed nodes
        wide = int(min(self.ntotal, ef * max(1.0, self.ntotal / max(len(allowed), 1))))
        with faiss_threads(1):  # one query: no parallel work to share
            scores, rows = self._index.search(q, k, params=self._params(max(wide, k), selector))
        found = rows[0] >= 0
        return _padded(scores[0][found], rows[0][found].astype(np.int64), k)

    def vectors(self) -> np.ndarray | None:
        storage = self._faiss.downcast_index(self._index.storage)
        n = self.ntotal
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # a view of the graph's own float32 rows (no copy); valid while the graph lives unchanged
        return self._faiss.rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)

    def nbytes(self) -> int:
        links = self._faiss.vector_to_array(self._index.hnsw.offsets)[-1] * 4  # int32 neighbour ids
        return int(self.ntotal * self.dim * 4 + links + self.ntotal * 8)

    def save(self, path: Path) -> None:
        with atomic_path(path, suffix=".faiss") as tmp:
            self._faiss.write_index(self._index, str(tmp))

    def load(self, path: Path, ntotal: int) -> None:
        index = self._faiss.read_index(str(path))
        if not isinstance(index, self._faiss.IndexHNSWFlat):
            raise RuntimeError(f"{type(index).__name__} is not a faiss IndexHNSWFlat")
        self._index = index


class HnswlibGraph(Graph):
    file = "hnsw.bin"

    def __init__(self, dim: int, **kwargs: Any) -> None:
        super().__init__(dim, **kwargs)
        try:
            import hnswlib
        except ImportError as exc:
            raise ConfigError(
                "index hnsw backend 'hnswlib' needs the hnswlib package (pip install 'vprkit[hnswlib]'; it "
                "compiles C++), or use backend=faiss"
            ) from exc
        self._hnswlib = hnswlib
        self._index: Any = None
        self._copy: np.ndarray | None = None

    @property
    def ntotal(self) -> int:
        return int(self._index.get_current_count()) if self._index is not None else 0

    @property
    def _threads(self) -> int:
        return self.threads or -1

    def add(self, x: np.ndarray) -> None:
        start = self.ntotal
        if self._index is None:
            self._index = self._hnswlib.Index(space="ip", dim=self.dim)
            self._index.init_index(
                max_elements=len(x), ef_construction=self.ef_construction, M=self.M, random_seed=self.seed
            )
        else:
            self._index.resize_index(start + len(x))
        self._index.add_items(x, np.arange(start, start + len(x)), num_threads=self._threads)
        self._copy = x.copy() if self._copy is None else np.concatenate([self._copy, x])

    def _query(self, q: np.ndarray, k: int, ef: int, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        self._index.set_ef(ef)
        labels, distances = self._index.knn_query(q, k=k, **kwargs)
        return (1.0 - distances).astype(np.float32), labels.astype(np.int64)

    def knn(self, q: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        return self._query(q, k, ef, num_threads=self._threads)

    def knn_within(self, q: np.ndarray, allowed: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        members = set(allowed.tolist())
        kk = min(k, len(members))
        try:
            s, r = self._query(q, kk, max(ef, kk), num_threads=1, filter=members.__contains__)
        except RuntimeError:  # hnswlib found fewer than kk allowed nodes
            return _padded(np.zeros(0, np.float32), np.zeros(0, np.int64), k)
        return _padded(s[0], r[0], k)

    def vectors(self) -> np.ndarray | None:
        return self._copy

    def set_vectors(self, copy: np.ndarray | None) -> None:
        """The float32 copy read back from disk (the graph's own rows are not readable fast)."""
        self._copy = copy

    def nbytes(self) -> int:
        return int(self._index.index_file_size()) if self._index is not None else 0

    def save(self, path: Path) -> None:
        with atomic_path(path, suffix=".bin") as tmp:
            self._index.save_index(str(tmp))

    def load(self, path: Path, ntotal: int) -> None:
        index = self._hnswlib.Index(space="ip", dim=self.dim)
        index.load_index(str(path), max_elements=ntotal)
        if index.dim != self.dim:
            raise RuntimeError(f"hnswlib index has dimension {index.dim}, not {self.dim}")
        self._index = index
        self._copy = None


def make_graph(backend: str, dim: int, **kwargs: Any) -> Graph:
    """The graph of ``backend`` (``"faiss"`` or ``"hnswlib"``)."""
    return {"faiss": FaissGraph, "hnswlib": HnswlibGraph}[backend](dim, **kwargs)
