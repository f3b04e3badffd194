"""Database descriptors sorted by cell with CSR offsets, and the candidate-restricted exact search.

METHODS.md §9 / §1 "Classify → retrieve": the database is stored **sorted by cell**, so cell ``c``
is the contiguous row range ``offsets[c]:offsets[c+1]`` of :attr:`descriptors`. Rows that fall in
no cell (cell ``-1``: e.g. a database image in a cell the partition dropped) are kept in a tail
segment ``offsets[-1]:n``: a plain :meth:`search` still sees them, a cell-restricted search never
does. Top-N cells per query become N contiguous slices; their row positions are built with one
vectorised ``repeat``/``cumsum`` (no Python loop over candidates) and scored by one exact kernel
(:mod:`vprkit.index.exact`).

Results are always *database row numbers* (the order descriptors were given to :meth:`build`),
so a caller maps them to image names and coordinates without knowing about the sorting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vprkit.errors import DataError
from vprkit.fileio import atomic_path
from vprkit.index.base import DescriptorIndex, IndexFingerprint, as_descriptors, check_k
from vprkit.index.exact import csr_to_padded, resolve_kernel, topk_all, topk_subset

__all__ = ["CellSortedDescriptors"]

_FILES = ("descriptors.npy", "row_ids.npy", "offsets.npy")


class CellSortedDescriptors(DescriptorIndex):
    """Exact index over cell-sorted descriptors; answers ``search_cells`` in O(candidates).

    Attributes (after :meth:`build`):

    - ``descriptors`` (n, d) float32: database descriptors sorted by cell, tail (cell -1) last;
    - ``row_ids`` (n,) int64: database row number of each sorted position;
    - ``offsets`` (n_cells + 1,) int64: cell ``c`` occupies positions ``offsets[c]:offsets[c+1]``.

    ``kernel``: ``"faiss"`` (default when available: scores candidate rows in place),
    ``"numpy"`` (gather + one matrix product), or ``"auto"``.
    """

    name = "cell_sorted"

    def __init__(self, config: Any = None, *, kernel: str = "auto") -> None:
        super().__init__(config)
        self.kernel = resolve_kernel(kernel)
        self._set_arrays(np.zeros((0, 0), dtype=np.float32), np.zeros(0, np.int64), np.zeros(1, np.int64))
        self._positions: np.ndarray | None = None  # inverse of row_ids, built on first use
        self._pending_cells: np.ndarray | None = None
        self._pending_n_cells: int | None = None

    # -- building -----------------------------------------------------------------------------

    def build(  # type: ignore[override]
        self,
        descriptors: Any,
        *,
        cells: Any = None,
        n_cells: int | None = None,
        fingerprint: IndexFingerprint | None = None,
    ) -> CellSortedDescriptors:
        """Sort ``descriptors`` (n, d) by ``cells`` (n,) int (cell id per row, -1 = no cell).

        ``n_cells`` defaults to ``max(cells) + 1``; pass the partition's class count so that empty
        trailing cells still have (empty) ranges. Without ``cells`` every row is in the tail and
        the store is a plain exact index.
        """
        self._pending_cells = None if cells is None else np.asarray(cells)
        self._pending_n_cells = n_cells
        return super().build(descriptors, fingerprint=fingerprint)  # type: ignore[return-value]

    @classmethod
    def from_sorted(
        cls,
        descriptors: np.ndarray,
        offsets: np.ndarray,
        row_ids: np.ndarray | None = None,
        *,
        fingerprint: IndexFingerprint | None = None,
        kernel: str = "auto",
    ) -> CellSortedDescriptors:
        """Wrap descriptors that are *already* sorted by cell, without copying them.

        descriptors (n, d) float32 C-contiguous (may be a memmap); offsets (n_cells + 1,) int64,
        non-decreasing from 0 to at most n; row_ids (n,) int64 database row of each position
        (default: identity, i.e. database order is cell order). Norms are not re-checked.
        """
        store = cls(kernel=kernel)
        if descriptors.ndim != 2 or descriptors.dtype != np.float32 or not descriptors.flags.c_contiguous:
            raise DataError("descriptors: expected a C-contiguous float32 (n, d) array")
        n = len(descriptors)
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] > n or (np.diff(offsets) < 0).any():
            raise DataError(f"offsets: expected non-decreasing int64 from 0 to at most {n}")
        row_ids = np.arange(n, dtype=np.int64) if row_ids is None else np.asarray(row_ids, dtype=np.int64)
        if row_ids.shape != (n,):
            raise DataError(f"row_ids: expected shape ({n},), got {row_ids.shape}")
        store._set_arrays(descriptors, row_ids, offsets)
        store.dim = int(descriptors.shape[1])
        store.fingerprint = fingerprint
        return store

    def _set_arrays(self, descriptors: np.ndarray, row_ids: np.ndarray, offsets: np.ndarray) -> None:
        """Install the three arrays and the lookup tables the hot path uses.

        Index -1 must mean "nothing" without a branch: ``_row_ids_ext`` ends with -1 (so position
        -1 → row -1) and ``_cell_starts``/``_cell_ends`` end with an empty range (cell -1 → 0 rows).
        """
        self.descriptors = descriptors
        self.offsets = offsets
        self._row_ids_ext = np.append(np.asarray(row_ids, dtype=np.int64), np.int64(-1))
        self._cell_starts = np.append(offsets[:-1], np.int64(0))
        self._cell_ends = np.append(offsets[1:], np.int64(0))
        self._positions = None

    @property
    def row_ids(self) -> np.ndarray:
        """(n,) int64 database row of each sorted position (a view)."""
        return self._row_ids_ext[:-1]

    @property
    def n_cells(self) -> int:
        return len(self.offsets) - 1

    @property
    def ntotal(self) -> int:
        return int(self.row_ids.shape[0])

    def _build(self, x: np.ndarray) -> None:
        cells = self._validated_cells(self._pending_cells, len(x), self._pending_n_cells)
        self._pending_cells = None
        n_cells = self._pending_n_cells if self._pending_n_cells is not None else int(cells.max(initial=-1)) + 1
        # Tail rows (-1) sort after every cell; a stable sort keeps database order inside a cell.
        key = np.where(cells < 0, n_cells, cells)
        order = np.argsort(key, kind="stable")
        counts = np.bincount(key, minlength=n_cells + 1)[:n_cells]
        offsets = np.zeros(n_cells + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        self._set_arrays(np.ascontiguousarray(x[order]), order, offsets)

    @staticmethod
    def _validated_cells(cells: np.ndarray | None, n: int, n_cells: int | None) -> np.ndarray:
        if cells is None:
            return np.full(n, -1, dtype=np.int64)
        if cells.shape != (n,):
            raise DataError(f"cells: expected shape ({n},) (one cell per database row), got {cells.shape}")
        if cells.size and not np.issubdtype(cells.dtype, np.integer):
            raise DataError(f"cells: expected integer cell ids, got dtype {cells.dtype}")
        cells = cells.astype(np.int64, copy=False)
        if cells.size and cells.min() < -1:
            raise DataError(f"cells: ids must be >= 0 (or -1 for no cell), got {int(cells.min())}")
        if n_cells is not None and cells.size and cells.max() >= n_cells:
            raise DataError(f"cells: id {int(cells.max())} is out of range for n_cells={n_cells}")
        return cells

    def cells_of_rows(self) -> np.ndarray:
        """(n,) int64 cell of each database row (in database order), -1 for the tail."""
        per_position = np.full(self.ntotal, -1, dtype=np.int64)
        per_position[: self.offsets[-1]] = np.repeat(np.arange(self.n_cells), np.diff(self.offsets))
        out = np.empty_like(per_position)
        out[self.row_ids] = per_position
        return out

    def _add(self, x: np.ndarray) -> None:
        raise DataError("cell_sorted: use add_rows(descriptors, cells) so new rows land in their cells")

    def add_rows(self, descriptors: Any, cells: Any) -> None:
        """Append rows with their cells; re-sorts the store (an O(n·d) copy: build once if you can)."""
        self._require_built()
        x = as_descriptors(descriptors, dim=self.dim, what="added descriptors", check_norm=True)
        new_cells = self._validated_cells(np.asarray(cells), len(x), None)
        originals = np.empty_like(self.descriptors)
        originals[self.row_ids] = self.descriptors
        all_cells = np.concatenate([self.cells_of_rows(), new_cells])
        n_cells = max(self.n_cells, int(new_cells.max(initial=-1)) + 1)
        self._pending_cells, self._pending_n_cells = all_cells, n_cells
        self._build(np.concatenate([originals, x]))

    # -- searching ----------------------------------------------------------------------------

    def candidate_positions(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted positions of the rows of each query's cells, in CSR form.

        cells (q, N) int64 (-1 entries are skipped) → (positions (R,) int64, offsets (q+1,) int64):
        query i's candidates are ``positions[offsets[i]:offsets[i+1]]``. Vectorised: each of the
        q·N slices is ``start + arange(length)``, built at once as ``arange(R) + repeat(shift)``.
        """
        flat_cells = cells.ravel()
        starts = self._cell_starts[flat_cells]  # cell -1 reads the trailing empty range
        lengths = self._cell_ends[flat_cells] - starts
        ends = np.cumsum(lengths)
        shift = starts - (ends - lengths)
        positions = np.arange(ends[-1] if ends.size else 0, dtype=np.int64) + np.repeat(shift, lengths)
        per_query = np.zeros(cells.shape[0] + 1, dtype=np.int64)
        per_query[1:] = ends.reshape(cells.shape)[:, -1] if cells.shape[1] else 0
        return positions, per_query

    def cell_rows(self, cells: Any) -> np.ndarray:
        """Database rows (int64, database numbering) of the given cells, cell by cell."""
        cells2d = self._validated_query_cells(np.atleast_1d(np.asarray(cells))[None, :], 1)
        positions, _ = self.candidate_positions(cells2d)
        return self.row_ids[positions]

    def search_cells(self, queries: Any, cells: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` among the rows of each query's cells.

        queries (q, d) float32 (or (d,) for one query); cells (q, N) int cell ids, distinct per
        query, -1 entries ignored (ragged top-N). Returns (scores (q, k) float32, rows (q, k)
        int64 database row numbers), padded -inf / -1 when the cells hold fewer than k rows.
        """
        self._require_built()
        q = as_descriptors(queries, dim=self.dim, what="queries", check_norm=False)
        k = check_k(k)
        cells2d = self._validated_query_cells(np.asarray(cells), len(q))
        positions, per_query = self.candidate_positions(cells2d)
        if len(q) == 1:
            subset = positions[None, :]
        else:
            subset = csr_to_padded(positions, per_query)
        scores, found = topk_subset(q, self.descriptors, subset, k, self.kernel)
        return scores, self._to_rows(found)

    def _validated_query_cells(self, cells: np.ndarray, n_queries: int) -> np.ndarray:
        if cells.ndim == 1 and n_queries == 1:
            cells = cells[None, :]
        if cells.ndim != 2 or cells.shape[0] != n_queries:
            raise DataError(f"cells: expected shape ({n_queries}, N), got {cells.shape}")
        if cells.dtype.kind not in "iu" and cells.size:
            raise DataError(f"cells: expected integer cell ids, got dtype {cells.dtype}")
        cells = cells.astype(np.int64, copy=False)
        if cells.size:  # one sort answers range and repetition (this runs on every query)
            ordered = np.sort(cells, axis=1)
            lo, hi = int(ordered[:, 0].min()), int(ordered[:, -1].max())
            if lo < -1 or hi >= self.n_cells:
                raise DataError(f"cells: ids must lie in [0, {self.n_cells}) or be -1, got range [{lo}, {hi}]")
            repeated = ordered[:, 1:] == ordered[:, :-1]
            if repeated.any():
                repeated &= ordered[:, 1:] >= 0  # several -1 (ragged padding) are fine
                if repeated.any():
                    i, j = np.argwhere(repeated)[0]
                    raise DataError(f"cells: cell {ordered[i, j + 1]} is listed twice for query {i}")
        return cells

    def _to_rows(self, positions: np.ndarray) -> np.ndarray:
        return self._row_ids_ext[positions]  # padding position -1 → row -1

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, found = topk_all(q, self.descriptors, k, self.kernel)
        return scores, self._to_rows(found)

    def _search_rows(
        self, q: np.ndarray, flat_rows: np.ndarray, offsets: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._positions is None:
            self._positions = np.empty_like(self.row_ids)
            self._positions[self.row_ids] = np.arange(self.ntotal, dtype=np.int64)
        subset = csr_to_padded(self._positions[flat_rows], offsets)
        scores, found = topk_subset(q, self.descriptors, subset, k, self.kernel)
        return scores, self._to_rows(found)

    def memory_bytes(self) -> int:
        extra = self._positions.nbytes if self._positions is not None else 0
        tables = self._row_ids_ext.nbytes + self._cell_starts.nbytes + self._cell_ends.nbytes
        return int(self.descriptors.nbytes + self.offsets.nbytes + tables + extra)

    # -- persistence --------------------------------------------------------------------------

    def _save_payload(self, folder: Path) -> list[str]:
        for name, arr in zip(_FILES, (self.descriptors, self.row_ids, self.offsets)):
            with atomic_path(folder / name, suffix=".npy") as tmp:
                np.save(tmp, arr)
        return list(_FILES)

    def _load_payload(self, folder: Path, meta: dict[str, Any], *, mmap: bool) -> None:
        mode = "r" if mmap else None
        descriptors = np.load(folder / _FILES[0], mmap_mode=mode)
        row_ids = np.load(folder / _FILES[1])
        offsets = np.load(folder / _FILES[2])
        if descriptors.shape != (len(row_ids), self.dim) or offsets[-1] > len(row_ids):
            raise DataError(f"cell_sorted index in {str(folder)!r} has inconsistent arrays; rebuild it")
        self._set_arrays(descriptors, row_ids, offsets)
