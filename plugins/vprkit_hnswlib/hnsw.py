"""``hnsw``: an HNSW graph in inner-product space (docs/indexes/hnsw.md).

The graph comes from faiss (``backend="faiss"``, the default: the library the D&C paper used, with
wheels everywhere) or hnswlib (``backend="hnswlib"``, the optional extra); see
:mod:`vprkit_hnswlib.graphs`. Scores are inner products.

Restricted search (``search_rows``), two modes (``restricted`` in the config):

- ``"exact"`` (default): score the candidates exactly with the shared in-place kernel
  (:func:`vprkit.index.exact.topk_subset`). The pipeline's candidate sets are small (about 1/1000
  of the database), so this is both exact and faster than walking the graph. faiss's graph holds
  its vectors and they are read in place; hnswlib's cannot be read fast (``get_items`` ~60 µs per
  row), so with hnswlib this mode keeps a float32 copy (n · d · 4 bytes, counted in
  :meth:`memory_bytes`, saved as ``vectors.npy``).
- ``"filter"``: a graph walk per query restricted to its CSR slice of the candidates (faiss: an
  ``IDSelectorBatch``; hnswlib: a Python callback per visited node). When the candidates are 0.1 %
  of the graph the walk visits many nodes per accepted one, so it is slow and approximate (see the
  restricted-search benchmark).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vprkit.errors import DataError
from vprkit.fileio import atomic_path
from vprkit.index.base import CandidateRows, DescriptorIndex, StaleIndexError
from vprkit.index.exact import pad_topk, topk_subset
from vprkit_hnswlib.config import HnswConfig
from vprkit_hnswlib.graphs import Graph, HnswlibGraph, make_graph

__all__ = ["HnswIndex"]


class HnswIndex(DescriptorIndex):
    """HNSW over L2-normalised descriptors; memory ≈ n · (4·d + 4·2M + overhead) bytes (+ n·d·4
    for hnswlib's copy in the exact restricted mode)."""

    name = "hnsw"
    config: HnswConfig
    _VECTORS = "vectors.npy"

    def __init__(self, config: HnswConfig | None = None) -> None:
        super().__init__(config or HnswConfig())
        self._graph: Graph | None = None

    def _new_graph(self, dim: int) -> Graph:
        cfg = self.config
        return make_graph(
            cfg.backend, dim, M=cfg.M, ef_construction=cfg.ef_construction, seed=cfg.seed, threads=cfg.threads
        )

    @property
    def ntotal(self) -> int:
        return self._graph.ntotal if self._graph is not None else 0

    def _build(self, x: np.ndarray) -> None:
        self._graph = self._new_graph(x.shape[1])
        self._graph.add(x)
        if self.config.restricted != "exact" and isinstance(self._graph, HnswlibGraph):
            self._graph.set_vectors(None)  # the copy serves the exact mode only

    def _add(self, x: np.ndarray) -> None:
        assert self._graph is not None  # _require_built ran
        keep_copy = self._graph.vectors() is not None
        self._graph.add(x)
        if not keep_copy and isinstance(self._graph, HnswlibGraph):
            self._graph.set_vectors(None)

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self._graph is not None
        kk = min(k, self.ntotal)
        scores, rows = self._graph.knn(q, kk, max(self.config.ef_search, kk))
        scores[rows < 0] = -np.inf  # a walk that found fewer than kk rows
        return pad_topk(scores, rows, k)

    def _search_rows(self, q: np.ndarray, candidates: CandidateRows, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self._graph is not None
        if self.config.restricted == "exact":
            vectors = self._graph.vectors()
            if vectors is None:
                raise DataError("hnsw: restricted='exact' needs the vector copy; rebuild the index in this mode")
            return topk_subset(q, vectors, candidates.padded(), k, "faiss")
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        rows = np.full((len(q), k), -1, dtype=np.int64)
        ef = max(self.config.ef_search, k)
        for i in np.flatnonzero(candidates.counts):  # per query: candidate sets differ; never a loop over rows
            scores[i], rows[i] = self._graph.knn_within(q[i : i + 1], candidates.of_query(i), k, ef)
        return scores, rows

    def memory_bytes(self) -> int:
        if self._graph is None:
            return 0
        copy = self._graph.vectors() if isinstance(self._graph, HnswlibGraph) else None
        return self._graph.nbytes() + (copy.nbytes if copy is not None else 0)

    def _save_payload(self, folder: Path) -> list[str]:
        assert self._graph is not None
        self._graph.save(folder / self._graph.file)
        copy = self._graph.vectors() if isinstance(self._graph, HnswlibGraph) else None
        if copy is None:
            return [self._graph.file]
        with atomic_path(folder / self._VECTORS, suffix=".npy") as tmp:
            np.save(tmp, copy)
        return [self._graph.file, self._VECTORS]

    def _load_payload(self, folder: Path, meta: dict[str, Any], *, mmap: bool) -> None:
        assert self.dim is not None  # load_index set it from index.json
        graph = self._new_graph(self.dim)
        if graph.file not in meta["files"]:
            saved = ", ".join(meta["files"])
            raise StaleIndexError(
                f"{str(folder)!r} holds an hnsw graph of another backend ({saved}), not {self.config.backend!r}'s "
                f"{graph.file}; rebuild it"
            )
        try:
            graph.load(folder / graph.file, int(meta["ntotal"]))
        except RuntimeError as exc:
            raise StaleIndexError(f"cannot read the hnsw graph in {str(folder)!r} ({exc}); rebuild it") from exc
        if isinstance(graph, HnswlibGraph) and self._VECTORS in meta["files"]:
            copy = np.load(folder / self._VECTORS, mmap_mode="r" if mmap else None)
            if copy.shape != (graph.ntotal, self.dim):
                raise StaleIndexError(f"{str(folder)!r}: {self._VECTORS} does not match the graph; rebuild it")
            graph.set_vectors(copy)
        self._graph = graph
