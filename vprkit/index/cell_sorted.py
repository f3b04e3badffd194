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

**float16 storage** (``storage="float16"``, for SF-XL-size databases): the store also keeps the
sorted rows in float16 and scores candidates with them, then re-scores the rows that can still be
in the top-k against the float32 descriptors (:mod:`vprkit.index.float16_search`: a rounding
bound decides which, so the results are exactly those of float32 storage). With the faiss kernel
the float16 rows are faiss cell lists (``IndexIVFScalarQuantizer``, one list per cell) that a
restricted search scans in place; the torch and NumPy kernels use a contiguous float16 array
(:attr:`CellSortedDescriptors.descriptors_f16`, made on first use). A saved float16 store holds
``descriptors.npy`` (float32), ``descriptors_f16.faiss`` (the cell lists; folders saved before
hold ``descriptors_f16.npy``, still read) and ``row_norm_max.npy``; a load always memory-maps the
float32 array and reads the shortlist rows from it with ``pread``, so only the float16 rows stay
resident.

**torch / GPU** (``kernel="torch"``, :meth:`CellSortedDescriptors.to_device`): the scoring array
(contiguous float16 rows or float32 descriptors) becomes a torch tensor on the device (a zero-copy view on
the CPU) and search runs there: gather by padded candidate positions, batched matrix product,
``topk`` (:mod:`vprkit.index.torch_kernel`); float16 results are re-scored in float32 on the
host.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import Field

from vprkit.config import VprkitConfig
from vprkit.errors import ConfigError, DataError
from vprkit.fileio import atomic_path
from vprkit.index.base import (
    CandidateRows,
    DescriptorIndex,
    IndexFingerprint,
    StaleIndexError,
    as_descriptors,
    check_k,
    parse_device,
)
from vprkit.index.exact import (
    csr_to_padded,
    faiss_threads,
    pad_topk,
    resolve_kernel,
    topk_all,
    topk_all_float16,
    topk_subset,
    topk_subset_float16,
)
from vprkit.index.float16_search import (
    FirstPass,
    build_cell_lists,
    cell_list_codes,
    exact_topk,
    max_row_norm,
    read_cell_lists,
    read_rows,
    search_all_lists,
    search_cell_lists,
    write_cell_lists,
)

__all__ = ["CellCandidates", "CellSortedDescriptors", "FlatConfig"]

_FILES = ("descriptors.npy", "row_ids.npy", "offsets.npy")
#: the float16 rows a ``storage="float16"`` store saves beside the float32 descriptors: faiss cell
#: lists (the faiss kernel's layout), or an array (the torch and NumPy kernels', and older folders')
_FLOAT16_LISTS_FILE = "descriptors_f16.faiss"
_FLOAT16_FILE = "descriptors_f16.npy"
#: the largest row norm, which the float16 rounding bound needs (one float64)
_NORM_FILE = "row_norm_max.npy"
#: the payload of ``flat`` index folders saved when ``flat`` was a faiss ``IndexFlatIP``
_LEGACY_FAISS_FILE = "flat.faiss"


class FlatConfig(VprkitConfig):
    """Exact inner-product search over the cell-sorted store; nothing changes the results."""

    kernel: Literal["auto", "faiss", "numpy", "torch"] = Field(
        "auto",
        description="exact kernel: faiss (in-place, SIMD), numpy (gather + product), torch (gather + batched "
        "product + topk, on the device given to to_device; CPU by default), auto = faiss if installed (torch on "
        "CUDA)",
    )
    storage: Literal["float32", "float16"] = Field(
        "float32",
        description="float16: score candidates in float16, re-score in float32 the rows a rounding bound keeps "
        "(float32's results); a loaded float16 store keeps only the float16 rows resident (about half the RAM)",
    )
    threads: int = Field(0, ge=0, description="faiss OpenMP threads for search; 0 = faiss default")


@dataclass(frozen=True, eq=False)
class CellCandidates(CandidateRows):
    """Candidates of given cells, made by a store: also their sorted ``positions`` in that
    ``store``, so searching them there needs no row → position lookup."""

    positions: np.ndarray | None = None
    store: CellSortedDescriptors | None = None
    #: (q, N) int64 cell ids the candidates came from (-1 = none): the float16 cell lists to scan
    cells: np.ndarray | None = None


class CellSortedDescriptors(DescriptorIndex):
    """The ``flat`` index: exact, over cell-sorted descriptors; a search among cells costs
    O(candidates).

    Attributes (after :meth:`build`):

    - ``descriptors`` (n, d) float32: database descriptors sorted by cell, tail (cell -1) last
      (memory-mapped after a load with ``storage="float16"``);
    - ``descriptors_f16`` (n, d) float16, the same rows (``storage="float16"`` only, else ``None``;
      made on first use when the store holds faiss cell lists);
    - ``row_ids`` (n,) int64: database row number of each sorted position;
    - ``offsets`` (n_cells + 1,) int64: cell ``c`` occupies positions ``offsets[c]:offsets[c+1]``.

    ``kernel`` (config, or the keyword, which overrides it): ``"faiss"`` (default when available:
    scores candidate rows in place), ``"numpy"`` (gather + one matrix product), ``"torch"``
    (gather + batched product + ``topk`` on :attr:`device`), or ``"auto"``.
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
        #: where the torch kernel runs ("cpu" or "cuda:i"); set by :meth:`to_device`
        self.device = "cpu"
        self._device_data: Any = None  # torch tensor of the scoring array on self.device, built on first use
        self._half_rows: np.ndarray | None = None  # contiguous float16 rows (descriptors_f16)
        self._cell_lists: Any = None  # faiss float16 cell lists (storage float16, faiss kernel)
        self._row_norm_max: float | None = None
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
        storage: Literal["float32", "float16"] = "float32",
    ) -> CellSortedDescriptors:
        """Wrap descriptors that are *already* sorted by cell, without copying them.

        descriptors (n, d) float32 C-contiguous (may be a memmap); offsets (n_cells + 1,) int64,
        non-decreasing from 0 to at most n; row_ids (n,) int64 database row of each position
        (default: identity, i.e. database order is cell order). Norms are not re-checked.
        ``storage="float16"`` makes the float16 rows (n·d·2 bytes; the float32 array is still
        wrapped, not copied).
        """
        if storage not in ("float32", "float16"):
            raise ConfigError(f"storage must be 'float32' or 'float16', got {storage!r}")
        store = cls(FlatConfig(storage=storage), kernel=kernel)
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

    def _set_arrays(
        self,
        descriptors: np.ndarray,
        row_ids: np.ndarray,
        offsets: np.ndarray,
        descriptors_f16: np.ndarray | None = None,
        *,
        cell_lists: Any = None,
        row_norm_max: float | None = None,
    ) -> None:
        """Install the arrays and the lookup tables the hot path uses.

        Index -1 must mean "nothing" without a branch: ``_row_ids_ext`` ends with -1 (so position
        -1 → row -1) and ``_cell_starts``/``_cell_ends`` end with an empty range (cell -1 → 0 rows).
        With ``storage="float16"`` the float16 rows are ``cell_lists`` or ``descriptors_f16``
        (n, d) float16 when given (e.g. read from a folder), else made from ``descriptors``: faiss
        cell lists for the faiss kernel, an array for the others. A device tensor of the old
        arrays is dropped (rebuilt on the next torch search).
        """
        self.descriptors = descriptors
        self._half_rows, self._cell_lists, self._row_norm_max = None, None, None
        if self.config.storage == "float16":
            self._row_norm_max = row_norm_max
            if cell_lists is not None or descriptors_f16 is not None:
                self._cell_lists, self._half_rows = cell_lists, descriptors_f16
            elif self.kernel == "faiss" and descriptors.size:
                self._cell_lists = build_cell_lists(descriptors, offsets)
            else:
                self._half_rows = descriptors.astype(np.float16)
        self._device_data = None
        self.offsets = offsets
        self._row_ids_ext = np.append(np.asarray(row_ids, dtype=np.int64), np.int64(-1))
        self._cell_starts = np.append(offsets[:-1], np.int64(0))
        self._cell_ends = np.append(offsets[1:], np.int64(0))
        self._positions = None

    @property
    def descriptors_f16(self) -> np.ndarray | None:
        """(n, d) float16 sorted rows (``storage="float16"``), else ``None``; a store holding faiss
        cell lists makes this array on first use (a copy, for the torch and NumPy kernels)."""
        if self.config.storage != "float16":
            return None
        if self._half_rows is None:
            if self._cell_lists is not None:
                self._half_rows = cell_list_codes(self._cell_lists)
            else:
                self._half_rows = self.descriptors.astype(np.float16)
        return self._half_rows

    def row_norm_max(self) -> float:
        """Largest L2 norm of a stored row (float16 storage's rounding bound), computed once."""
        if self._row_norm_max is None:
            half = self._half_rows
            self._row_norm_max = max_row_norm(self.descriptors if half is None else half) * (1 + 2.0**-10)
        return self._row_norm_max

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
        self._set_arrays(np.concatenate([self.descriptors, x]), rows, self.offsets)  # float16 rows remade

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
        return CellCandidates(
            self.row_ids[positions], offsets, distinct=True, positions=positions, store=self, cells=cells2d
        )

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
        first_pass = self._cell_lists_first_pass(q, cells2d)
        if first_pass is not None:  # float16 cell lists: faiss scans the cells, no candidate positions needed
            with faiss_threads(self.config.threads):
                scores, found = self._exact_from_float16(q, first_pass, check_k(k))
            return scores, self._to_rows(found)
        return self.search_rows(q, self._cell_candidates(cells2d), k)

    def _cell_lists_first_pass(self, q: np.ndarray, cells2d: np.ndarray | None) -> FirstPass | None:
        """The float16 first pass that scans the faiss cell lists of ``cells2d`` (q, N), or ``None``
        when the store has no cell lists, the kernel is not faiss, or there are no cells."""
        lists = self._cell_lists if self.kernel == "faiss" else None
        if lists is None or cells2d is None:
            return None

        def first_pass(ids: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
            return search_cell_lists(lists, q[ids], cells2d[ids], width)

        return first_pass

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
            if self.config.storage == "float16":
                lists = self._cell_lists if self.kernel == "faiss" else None
                first_pass: FirstPass
                if lists is not None:

                    def first_pass(ids: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
                        return search_all_lists(lists, q[ids], min(width, self.ntotal))

                else:
                    first_pass = self._gathered_first_pass(q, None)
                scores, found = self._exact_from_float16(q, first_pass, k)
            elif self.kernel == "torch":
                from vprkit.index.torch_kernel import torch_topk_all

                scores, found = torch_topk_all(q, self._torch_data(), k)
            else:
                scores, found = topk_all(q, self.descriptors, k, self.kernel)
        return scores, self._to_rows(found)

    def _search_rows(self, q: np.ndarray, candidates: CandidateRows, k: int) -> tuple[np.ndarray, np.ndarray]:
        own = candidates if isinstance(candidates, CellCandidates) and candidates.store is self else None
        if own is not None and own.positions is not None:
            positions = own.positions
        else:
            if self._positions is None:  # inverse of row_ids, built on first use
                self._positions = np.empty_like(self.row_ids)
                self._positions[self.row_ids] = np.arange(self.ntotal, dtype=np.int64)
            positions = self._positions[candidates.rows]
        with faiss_threads(self.config.threads):
            if self.config.storage == "float16":
                first_pass = self._cell_lists_first_pass(q, own.cells if own is not None else None)
                if first_pass is None:
                    first_pass = self._gathered_first_pass(q, (positions, candidates.offsets))
                scores, found = self._exact_from_float16(q, first_pass, k)
            elif self.kernel == "torch":
                from vprkit.index.torch_kernel import torch_topk_subset

                subset = csr_to_padded(positions, candidates.offsets)
                scores, found = torch_topk_subset(q, self._torch_data(), subset, k)
            else:
                subset = csr_to_padded(positions, candidates.offsets)
                scores, found = topk_subset(q, self.descriptors, subset, k, self.kernel)
        return scores, self._to_rows(found)

    def _gathered_first_pass(self, q: np.ndarray, csr: tuple[np.ndarray, np.ndarray] | None) -> FirstPass:
        """The float16 first pass over the contiguous float16 rows (torch and NumPy kernels, a
        faiss store without cell lists, or candidates that are not cells of this store): every
        row with ``csr`` None, else the CSR (positions, offsets) candidates. It scores all the
        queries and returns those asked for (the wider passes it is asked again for are rare)."""

        def first_pass(ids: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
            if self.kernel == "torch":
                from vprkit.index.torch_kernel import torch_topk_all, torch_topk_subset

                if csr is None:
                    scores, found = torch_topk_all(q, self._torch_data(), min(width, self.ntotal))
                else:
                    subset = csr_to_padded(*csr)
                    scores, found = torch_topk_subset(q, self._torch_data(), subset, width)
            else:
                half = self.descriptors_f16
                assert half is not None  # float16 storage
                if csr is None:
                    scores, found = topk_all_float16(q, half, min(width, self.ntotal), self.kernel)
                else:
                    scores, found = topk_subset_float16(q, half, csr[0], csr[1], width, self.kernel)
            return scores[ids], found[ids]

        return first_pass

    def _exact_from_float16(self, q: np.ndarray, first_pass: FirstPass, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact float32 top-``k`` (q, k) positions from a float16 first pass: the rows within the
        rounding bound of the k-th are re-scored in float32 on the host (from a memory map they are
        read with ``pread``, so the float32 file does not become resident)."""
        kernel = resolve_kernel("auto")  # a CPU kernel: the float32 rows stay on the host
        scores, found = exact_topk(
            q, first_pass, lambda rows: read_rows(self.descriptors, rows), k, self.row_norm_max(), kernel=kernel
        )
        if found.shape[1] < k:
            scores, found = pad_topk(scores, found, k)
        return scores, found

    # -- devices ------------------------------------------------------------------------------

    def to_device(self, device: Any) -> CellSortedDescriptors:
        """Search on ``device`` (a ``torch.device`` or ``"cpu"``, ``"cuda"``, ``"cuda:i"``); returns self.

        ``"cpu"``: the configured kernel runs on the host (a ``torch`` kernel on a zero-copy CPU
        tensor of the array); a CUDA tensor held from before is released. ``"cuda[:i]"``: the
        scoring array (the contiguous float16 rows with ``storage="float16"``, else the float32 descriptors)
        is copied to the device now, in its dtype, and ``search`` / ``search_rows`` /
        ``search_cells`` run there with the torch kernel (float32 products of the converted rows;
        float16 results are re-scored in float32 on the host). Kernel ``auto`` becomes ``torch`` there;
        ``faiss`` and ``numpy`` are CPU kernels and are refused (:class:`~vprkit.errors.ConfigError`),
        as is a CUDA device torch cannot see. Results are NumPy arrays as on the CPU.
        """
        kind, ordinal = parse_device(device)
        if kind == "cpu":
            self.device, self._device_data = "cpu", None
            self.kernel = resolve_kernel(self.config.kernel)
            return self
        if kind != "cuda":
            raise ConfigError(f"index 'flat': device {str(device)!r} is not supported; use cpu or cuda[:i]")
        if self.config.kernel in ("faiss", "numpy"):
            raise ConfigError(
                f"index 'flat': kernel {self.config.kernel!r} runs on the CPU; set kernel=torch (or auto) "
                f"to search on {device}"
            )
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = ordinal or 0
        if index >= count:
            raise ConfigError(
                f"index 'flat': {device} is not available to torch here ({count} CUDA device(s)); use device cpu"
            )
        self.device, self.kernel, self._device_data = f"cuda:{index}", "torch", None
        if self.dim is not None:
            self._torch_data()  # copy now, so the first query does not pay for the transfer
        return self

    def _torch_data(self) -> Any:
        """The scoring array as a torch tensor (n, d) on :attr:`device`, made on first use: the
        contiguous float16 rows with ``storage="float16"``, else the float32 descriptors."""
        if self._device_data is None:
            from vprkit.index.torch_kernel import as_tensor

            array = self.descriptors if self.descriptors_f16 is None else self.descriptors_f16
            self._device_data = as_tensor(array, self.device)
        return self._device_data

    def memory_bytes(self) -> int:
        """Bytes resident in host RAM: the scoring arrays, row ids, offsets and lookup tables.

        ``storage="float32"``: the float32 descriptors, read or memory-mapped alike (search reads
        them all). ``storage="float16"``: the float16 rows (cell lists: codes and ids; and the
        contiguous array if one was made), plus the float32 descriptors only when they are in RAM
        (after ``build``); memory-mapped ones (after a load) count 0, since the few shortlist rows
        are read from the file with ``pread``. A CUDA copy made by :meth:`to_device` is device memory
        and is not counted.
        """
        extra = self._positions.nbytes if self._positions is not None else 0
        tables = self._row_ids_ext.nbytes + self._cell_starts.nbytes + self._cell_ends.nbytes
        vectors = self.descriptors.nbytes
        if self.config.storage == "float16":
            half = 0 if self._half_rows is None else self._half_rows.nbytes
            if self._cell_lists is not None:  # float16 codes + int64 ids
                half += self.ntotal * (2 * int(self.dim or 0) + 8)
            vectors = half + (0 if _is_mapped(self.descriptors) else self.descriptors.nbytes)
        return int(vectors + self.offsets.nbytes + tables + extra)

    # -- persistence --------------------------------------------------------------------------

    def _save_payload(self, folder: Path) -> list[str]:
        """``descriptors.npy`` (float32), ``row_ids.npy``, ``offsets.npy`` and, with float16
        storage, ``row_norm_max.npy`` and the float16 rows: ``descriptors_f16.faiss`` (cell lists)
        or ``descriptors_f16.npy`` (an array, when the store has no cell lists); every one is listed
        (sizes, checksums) in index.json."""
        payload: dict[str, np.ndarray] = dict(zip(_FILES, (self.descriptors, self.row_ids, self.offsets), strict=True))
        names = list(payload)
        if self.config.storage == "float16":
            payload[_NORM_FILE] = np.array([self.row_norm_max()], dtype=np.float64)
            if self._cell_lists is None:
                payload[_FLOAT16_FILE] = self.descriptors_f16  # type: ignore[assignment]
            else:
                with atomic_path(folder / _FLOAT16_LISTS_FILE, suffix=".faiss") as tmp:
                    write_cell_lists(self._cell_lists, tmp)
                names.append(_FLOAT16_LISTS_FILE)
        for name, arr in payload.items():
            with atomic_path(folder / name, suffix=".npy") as tmp:
                np.save(tmp, arr)
        return names + [name for name in payload if name not in names]

    def _load_payload(self, folder: Path, meta: dict[str, Any], *, mmap: bool) -> None:
        if _LEGACY_FAISS_FILE in meta["files"]:
            self._load_legacy_faiss(folder / _LEGACY_FAISS_FILE)
            return
        half_storage = self.config.storage == "float16"
        # float16 storage reads the float32 rows only to re-rank shortlists: always map them
        descriptors = np.load(folder / _FILES[0], mmap_mode="r" if mmap or half_storage else None)
        if half_storage:
            _advise_scattered_reads(descriptors)
        row_ids = np.load(folder / _FILES[1])
        offsets = np.load(folder / _FILES[2])
        if descriptors.shape != (len(row_ids), self.dim) or offsets[-1] > len(row_ids):
            raise DataError(f"flat index in {str(folder)!r} has inconsistent arrays; rebuild it")
        half, lists, norm = None, None, None
        if half_storage and _FLOAT16_LISTS_FILE in meta["files"]:
            try:
                lists = read_cell_lists(folder / _FLOAT16_LISTS_FILE, mmap=mmap)
            except RuntimeError as exc:  # faiss reports an unreadable file as RuntimeError
                raise StaleIndexError(f"cannot read {str(folder / _FLOAT16_LISTS_FILE)!r} ({exc}); rebuild it") from exc
            if lists.ntotal != len(row_ids) or lists.d != self.dim or lists.nlist != len(offsets):
                raise StaleIndexError(
                    f"flat index in {str(folder)!r}: {_FLOAT16_LISTS_FILE} holds {lists.ntotal} rows of dimension "
                    f"{lists.d} in {lists.nlist} lists, expected {len(row_ids)} × {self.dim} in {len(offsets)}; "
                    "rebuild it"
                )
        elif half_storage and _FLOAT16_FILE in meta["files"]:  # else made from the float32 rows
            half = np.load(folder / _FLOAT16_FILE, mmap_mode="r" if mmap else None)
            if half.shape != descriptors.shape or half.dtype != np.float16:
                raise StaleIndexError(
                    f"flat index in {str(folder)!r}: {_FLOAT16_FILE} is {half.dtype} {half.shape}, expected "
                    f"float16 {descriptors.shape}; rebuild it"
                )
        if half_storage and _NORM_FILE in meta["files"]:
            norm = float(np.load(folder / _NORM_FILE)[0])
        self._set_arrays(descriptors, row_ids, offsets, half, cell_lists=lists, row_norm_max=norm)

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


def _advise_scattered_reads(array: np.ndarray) -> None:
    """Tell the kernel that a memory-mapped ``array`` is read a few scattered rows at a time: no
    read-ahead. A float16 store's re-scoring reads its float32 rows with ``pread`` (not through this
    map); the advice is for code that still indexes the map, e.g. ``search_rows`` callers' own reads."""
    raw = getattr(array, "_mmap", None)
    advice = getattr(mmap, "MADV_RANDOM", None)  # absent on Windows
    if isinstance(raw, mmap.mmap) and advice is not None:
        raw.madvise(advice)


def _is_mapped(array: np.ndarray) -> bool:
    """Whether ``array`` (or the array it views) is a memory-mapped file."""
    node: Any = array
    while isinstance(node, np.ndarray):
        if isinstance(node, np.memmap):
            return True
        node = node.base
    return isinstance(node, mmap.mmap)
