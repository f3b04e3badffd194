"""The ``flat`` index: exact search over database descriptors sorted by cell with CSR offsets.

docs/indexes/restricted-search.md (classify → retrieve): the database is stored **sorted by cell**, so cell ``c``
is the contiguous row range ``offsets[c]:offsets[c+1]`` of :attr:`descriptors`. Rows that fall in
no cell (cell ``-1``: e.g. a database image in a cell the partition dropped) are kept in a tail
segment ``offsets[-1]:n``: a plain :meth:`search` still sees them, a cell-restricted search never
does. Top-N cells per query become N contiguous slices; their row positions are built with one
vectorised ``repeat``/``cumsum`` (no Python loop over candidates) and scored by one exact kernel
(:mod:`vprkit.index.exact`).

The store is the registered ``flat`` index (``create_index("flat")``; the spec is declared by the
``vprkit_faiss`` plugin, whose kernels it runs by default): without cells every row is in the tail
and it is a plain exact index. Its candidates of given cells (:meth:`CellSortedDescriptors.cell_candidates`)
are :class:`~vprkit.index.base.CandidateRows` that any index's ``search_rows`` takes; searched by
the store itself they are read at their sorted positions directly.

Results are always *database row numbers* (the order descriptors were given to :meth:`build`),
so a caller maps them to image names and coordinates without knowing about the sorting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import Field

from vprkit.config import VprkitConfig
from vprkit.errors import DataError
from vprkit.fileio import atomic_path
from vprkit.index.base import (
    CandidateRows,
    DescriptorIndex,
    IndexFingerprint,
    StaleIndexError,
    as_descriptors,
)
from vprkit.index.exact import csr_to_padded, faiss_threads, resolve_kernel, topk_all, topk_subset

__all__ = ["CellCandidates", "CellSortedDescriptors", "FlatConfig"]

_FILES = ("descriptors.npy", "row_ids.npy", "offsets.npy")
#: the payload of ``flat`` index folders saved when ``flat`` was a faiss ``IndexFlatIP``
_LEGACY_FAISS_FILE = "flat.faiss"


class FlatConfig(VprkitConfig):
    """Exact inner-product search over the cell-sorted store; nothing changes the results."""

    kernel: Literal["auto", "faiss", "numpy"] = Field(
        "auto", description="exact kernel: faiss (in-place, SIMD), numpy (gather + product), auto = faiss if installed"
    )
    threads: int = Field(0, ge=0, description="faiss OpenMP threads for search; 0 = faiss default")


@dataclass(frozen=True, eq=False)
class CellCandidates(CandidateRows):
    """Candidates of given cells, made by a store: also their sorted ``positions`` in that
    ``store``, so searching them there needs no row → position lookup."""

    positions: np.ndarray | None = None
    store: CellSortedDescriptors | None = None


class CellSortedDescriptors(DescriptorIndex):
    """The ``flat`` index: exact, over cell-sorted descriptors; a search among cells costs
    O(candidates).

    Attributes (after :meth:`build`):

    - ``descriptors`` (n, d) float32: database descriptors sorted by cell, tail (cell -1) last;
    - ``row_ids`` (n,) int64: database row number of each sorted position;
    - ``offsets`` (n_cells + 1,) int64: cell ``c`` occupies positions ``offsets[c]:offsets[c+1]``.

    ``kernel`` (config, or the keyword, which overrides it): ``"faiss"`` (default when available:
    scores candidate rows in place), ``"numpy"`` (gather + one matrix product), or ``"auto"``.
    """

    name = "flat"
    config: FlatConfig

    def __init__(self, config: FlatConfig | None = None, *, kernel: str | None = None) -> None:
        config = config or FlatConfig()
        if kernel is not None:
            resolve_kernel(kernel)  # a ConfigError naming the choices
            config = config.model_copy(update={"kernel": kernel})
        super().__init__(config)
        self.kernel = resolve_kernel(config.kernel)
        self._set_arrays(np.zeros((0, 0), dtype=np.float32), np.zeros(0, np.int64), np.zeros(1, np.int64))
        self._positions: np.ndarray | None = None  # inverse of row_ids, built on first use
        self._pending_cells: np.ndarray | None = None
        self._pending_n_cells: int | None = None

    # -- building -----------------------------------------------------------------------------

    def build(
        self,
        descriptors: ArrayLike,
        *,
        cells: ArrayLike | None = None,
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
        """``add``: the rows are in no cell (the tail), appended without a re-sort."""
        n = self.ntotal
        rows = np.concatenate([self.row_ids, np.arange(n, n + len(x), dtype=np.int64)])
        self._set_arrays(np.concatenate([self.descriptors, x]), rows, self.offsets)

    def add_rows(self, descriptors: ArrayLike, cells: ArrayLike) -> None:
        """Append rows with their cells; re-sorts the store (an O(n·d) copy: build once if you can)."""
        self._require_built()
        x = as_descriptors(descriptors, dim=self.dim, what="added descriptors", check_norm=True)
        new_cells = self._validated_cells(np.asarray(cells), len(x), None)
        if not len(x):
            return
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

    def cell_rows(self, cells: ArrayLike) -> np.ndarray:
        """Database rows (int64, database numbering) of the given cells, cell by cell."""
        cells2d = self._validated_query_cells(np.atleast_1d(np.asarray(cells))[None, :], 1)
        positions, _ = self.candidate_positions(cells2d)
        return self.row_ids[positions]

    def cell_candidates(self, cells: ArrayLike) -> CellCandidates:
        """The rows of each query's cells as CSR candidates for any index's ``search_rows``.

        cells (q, N) int cell ids, distinct per query, -1 entries ignored (ragged top-N); checked
        here (one sort of the (q, N) ids), so the candidates are distinct by construction.
        """
        self._require_built()
        arr = np.asarray(cells)
        return self._cell_candidates(self._validated_query_cells(arr, 1 if arr.ndim == 1 else len(arr)))

    def _cell_candidates(self, cells2d: np.ndarray) -> CellCandidates:
        positions, offsets = self.candidate_positions(cells2d)
        return CellCandidates(self.row_ids[positions], offsets, distinct=True, positions=positions, store=self)

    def search_cells(self, queries: ArrayLike, cells: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` among the rows of each query's cells: ``search_rows`` of
        :meth:`cell_candidates`.

        queries (q, d) float32 (or (d,) for one query); cells (q, N) int cell ids, distinct per
        query, -1 entries ignored (ragged top-N). Returns (scores (q, k) float32, rows (q, k)
        int64 database row numbers), padded -inf / -1 when the cells hold fewer than k rows.
        """
        self._require_built()
        q = as_descriptors(queries, dim=self.dim, what="queries", check_norm=False)
        cells2d = self._validated_query_cells(np.asarray(cells), len(q))
        return self.search_rows(q, self._cell_candidates(cells2d), k)

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
        with faiss_threads(self.config.threads):
            scores, found = topk_all(q, self.descriptors, k, self.kernel)
        return scores, self._to_rows(found)

    def _search_rows(self, q: np.ndarray, candidates: CandidateRows, k: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(candidates, CellCandidates) and candidates.store is self and candidates.positions is not None:
            positions = candidates.positions
        else:
            if self._positions is None:  # inverse of row_ids, built on first use
                self._positions = np.empty_like(self.row_ids)
                self._positions[self.row_ids] = np.arange(self.ntotal, dtype=np.int64)
            positions = self._positions[candidates.rows]
        with faiss_threads(self.config.threads):
            subset = csr_to_padded(positions, candidates.offsets)
            scores, found = topk_subset(q, self.descriptors, subset, k, self.kernel)
        return scores, self._to_rows(found)

    def memory_bytes(self) -> int:
        extra = self._positions.nbytes if self._positions is not None else 0
        tables = self._row_ids_ext.nbytes + self._cell_starts.nbytes + self._cell_ends.nbytes
        return int(self.descriptors.nbytes + self.offsets.nbytes + tables + extra)

    # -- persistence --------------------------------------------------------------------------

    def _save_payload(self, folder: Path) -> list[str]:
        for name, arr in zip(_FILES, (self.descriptors, self.row_ids, self.offsets), strict=True):
            with atomic_path(folder / name, suffix=".npy") as tmp:
                np.save(tmp, arr)
        return list(_FILES)

    def _load_payload(self, folder: Path, meta: dict[str, Any], *, mmap: bool) -> None:
        if _LEGACY_FAISS_FILE in meta["files"]:
            self._load_legacy_faiss(folder / _LEGACY_FAISS_FILE)
            return
        descriptors = np.load(folder / _FILES[0], mmap_mode="r" if mmap else None)
        row_ids = np.load(folder / _FILES[1])
        offsets = np.load(folder / _FILES[2])
        if descriptors.shape != (len(row_ids), self.dim) or offsets[-1] > len(row_ids):
            raise DataError(f"flat index in {str(folder)!r} has inconsistent arrays; rebuild it")
        self._set_arrays(descriptors, row_ids, offsets)

    def _load_legacy_faiss(self, path: Path) -> None:
        """A ``flat`` folder saved by the faiss ``IndexFlatIP`` of vprkit 0.1.0: its vectors, in
        database order, all in the tail (it had no cells)."""
        import faiss

        try:
            flat = faiss.read_index(str(path))
        except RuntimeError as exc:  # faiss reports a truncated/corrupt file as RuntimeError
            raise StaleIndexError(f"cannot read faiss index {str(path)!r} ({exc}); rebuild it") from exc
        if flat.d != self.dim:
            raise StaleIndexError(f"{str(path)!r}: faiss index has dimension {flat.d}, meta says {self.dim}")
        n = int(flat.ntotal)
        descriptors = np.ascontiguousarray(flat.reconstruct_n(0, n), dtype=np.float32)
        self._set_arrays(descriptors, np.arange(n, dtype=np.int64), np.zeros(1, dtype=np.int64))
