"""The common protocol of every nearest-neighbour index over database descriptors.

All indexes rank by **inner product** on L2-normalised float32 descriptors (= cosine similarity)
and answer two questions:

- ``search(queries, k)``: top-k over all rows;
- ``search_rows(queries, rows, k)``: top-k among given database rows only (the pipeline's second
  stage: rows of the top-N predicted cells). The rows arrive as :class:`CandidateRows` (CSR:
  ``rows``, ``offsets``), as one row array shared by every query, or as one array per query; the
  base class validates them once into CSR and hands that to the index's ``_search_rows``.

Both return ``(scores, rows)``: ``scores`` (q, k) float32, best first; ``rows`` (q, k) int64
database row numbers (the order the descriptors were added in). When fewer than k rows are
searchable the tail is padded with score ``-inf`` and row ``-1``.

``to_device(device)`` moves an index's search to ``"cpu"`` or ``"cuda[:i]"``: the base class
answers ``cpu`` with the index itself and refuses CUDA with a :class:`~vprkit.errors.ConfigError`
naming the index; ``flat`` (torch) and ``ivfpq`` (faiss GPU) override it.

An index is saved to a folder with ``index.json`` (name, config, dimension, row count, the
:class:`IndexFingerprint` and the payload files with their sizes and checksums) beside the payload files.
:func:`load_index` refuses a folder whose fingerprint does not match the descriptor model and
database list it is used with (:class:`StaleIndexError`), and a payload whose size or content
(checksum) changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel

from vprkit.errors import ConfigError, DataError
from vprkit.fileio import atomic_write_json, file_checksum, fingerprint_strings, read_json_object
from vprkit.index.exact import csr_to_padded

__all__ = [
    "INDEX_META_FILE",
    "CandidateRows",
    "DescriptorIndex",
    "IndexFingerprint",
    "StaleIndexError",
    "as_candidate_rows",
    "as_descriptors",
    "check_k",
    "load_index",
    "parse_device",
    "read_index_meta",
]

INDEX_META_FILE = "index.json"
#: how far a database descriptor's L2 norm may be from 1 before it is refused.
NORM_TOLERANCE = 1e-3
#: names saved index folders used before they were renamed → the registered name that reads them
#: (the cell-sorted store was ``cell_sorted`` until it became the ``flat`` index)
LEGACY_NAMES = {"cell_sorted": "flat"}


class StaleIndexError(DataError):
    """A saved index was built for another descriptor model or database list, or is damaged."""


@dataclass(frozen=True)
class IndexFingerprint:
    """What an index was built from: the descriptor model and the database image list.

    ``model``: a content fingerprint of the retriever (weights + config), as its owner computes it;
    ``database``: a fingerprint of the database image list, in row order (see :meth:`of`).
    """

    model: str
    database: str

    @classmethod
    def of(cls, model: str, database_names: Iterable[str]) -> IndexFingerprint:
        """Fingerprint from a model fingerprint and the database file names in row order."""
        return cls(model=str(model), database=fingerprint_strings(database_names))

    def to_dict(self) -> dict[str, str]:
        return {"model": self.model, "database": self.database}

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "") -> IndexFingerprint:
        if not isinstance(data, dict) or not {"model", "database"} <= set(data):
            raise StaleIndexError(f"{source}: fingerprint must have 'model' and 'database', got {data!r}")
        return cls(model=str(data["model"]), database=str(data["database"]))


def as_descriptors(x: ArrayLike, *, dim: int | None, what: str, check_norm: bool) -> np.ndarray:
    """Validate descriptors into a C-contiguous float32 (n, dim) array.

    ``check_norm`` refuses rows whose L2 norm is not 1 (± ``NORM_TOLERANCE``) or that are not
    finite: inner product ranks by cosine only on unit vectors.
    """
    arr = np.asarray(x)
    if arr.ndim == 1 and what == "queries":
        arr = arr[None, :]
    if arr.ndim != 2:
        raise DataError(f"{what}: expected a 2-D (n, dim) array, got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"{what}: dimension {arr.shape[1]} does not match the index dimension {dim}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"{what}: expected floating-point descriptors, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not check_norm and arr.size and not np.isfinite(arr).all():
        # an approximate index would answer a NaN query with real rows
        first = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise DataError(f"{what}: row {first} is not finite (NaN or inf); its image cannot be localised")
    if check_norm and arr.size:
        norms = np.sqrt(np.einsum("ij,ij->i", arr, arr))
        bad = np.flatnonzero(~(np.abs(norms - 1.0) <= NORM_TOLERANCE))
        if bad.size:
            raise DataError(
                f"{what}: {bad.size} of {len(arr)} rows are not L2-normalised or not finite "
                f"(first: row {bad[0]}, norm {norms[bad[0]]:.4g}); normalise descriptors before indexing"
            )
    return arr


def parse_device(device: Any) -> tuple[str, int | None]:
    """``"cpu"``, ``"cuda"``, ``"cuda:i"`` or a ``torch.device`` → (type, index or ``None``).

    Strings are parsed without importing torch; another string is a :class:`ConfigError`. A
    ``torch.device`` of another type (``mps``, ...) is returned as it is, for the index to refuse.
    """
    kind = getattr(device, "type", None)
    if isinstance(kind, str):  # a torch.device
        index = getattr(device, "index", None)
        return kind, int(index) if index is not None else None
    text = str(device).strip().lower()
    kind, _, number = text.partition(":")
    if kind not in ("cpu", "cuda") or (number and not number.isdigit()) or (kind == "cpu" and number):
        raise ConfigError(f"device {device!r}: expected cpu, cuda or cuda:N")
    return kind, int(number) if number else None


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"k must be a positive integer, got {k!r}")
    return int(k)


@dataclass(frozen=True, eq=False)
class CandidateRows:
    """The database rows each query may return, in CSR form: query ``i`` searches
    ``rows[offsets[i]:offsets[i+1]]``.

    ``rows`` (nnz,) int64 database row numbers; ``offsets`` (q+1,) int64, non-decreasing from 0 to
    nnz. ``distinct=True`` is the producer's promise that no row repeats within a query (the
    cell-sorted store's candidates of distinct cells are disjoint by construction), so
    :func:`as_candidate_rows` skips that check; range and shape are always checked.
    """

    rows: np.ndarray
    offsets: np.ndarray
    distinct: bool = False

    @property
    def n_queries(self) -> int:
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        """(q,) int64 rows per query."""
        return np.diff(self.offsets)

    def of_query(self, i: int | np.integer) -> np.ndarray:
        return self.rows[self.offsets[i] : self.offsets[i + 1]]

    def padded(self) -> np.ndarray:
        """(q, max count) int64, each query's rows padded with -1 (what the exact kernel reads)."""
        return csr_to_padded(self.rows, self.offsets)

    @classmethod
    def from_lists(cls, lists: Sequence[ArrayLike]) -> CandidateRows:
        """One 1-D integer array per query (any lengths, possibly empty) → CSR (not yet checked)."""
        arrays = [_as_row_array(r, f"rows[{i}]") for i, r in enumerate(lists)]
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays)), out=offsets[1:])
        rows = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
        return cls(rows.astype(np.int64, copy=False), offsets)


def as_candidate_rows(
    rows: CandidateRows | ArrayLike | Sequence[ArrayLike], n_queries: int, ntotal: int
) -> CandidateRows:
    """Validate "rows to search" once into :class:`CandidateRows` (CSR) for ``n_queries`` queries.

    ``rows`` is a :class:`CandidateRows`, one 1-D integer array shared by every query, or a
    sequence of ``n_queries`` 1-D arrays (one per query, any lengths, possibly empty). Rows out of
    ``[0, ntotal)`` or repeated within one query are refused (a repeat would return the same row
    twice). A valid :class:`CandidateRows` is returned as it is (no copy).
    """
    if isinstance(rows, CandidateRows):
        cand = _checked_csr(rows, n_queries)
    elif _is_shared(rows):
        shared = _as_row_array(cast("ArrayLike", rows), "rows")
        _check_range(shared, ntotal)
        _check_distinct(shared, np.zeros(len(shared), dtype=np.int64), ntotal)
        offsets = np.arange(n_queries + 1, dtype=np.int64) * len(shared)
        return CandidateRows(np.tile(shared, n_queries), offsets, distinct=True)
    else:
        lists = cast("Sequence[ArrayLike]", rows)
        if len(lists) != n_queries:
            raise DataError(f"rows: got {len(lists)} row lists for {n_queries} queries")
        cand = CandidateRows.from_lists(lists)
    _check_range(cand.rows, ntotal)
    if not cand.distinct:
        _check_distinct(cand.rows, np.repeat(np.arange(n_queries, dtype=np.int64), cand.counts), ntotal)
    return cand


def _checked_csr(cand: CandidateRows, n_queries: int) -> CandidateRows:
    rows, offsets = cand.rows, cand.offsets
    if (
        isinstance(rows, np.ndarray)
        and rows.dtype == np.int64
        and rows.ndim == 1
        and isinstance(offsets, np.ndarray)
        and offsets.dtype == np.int64
        and offsets.shape == (n_queries + 1,)
    ):  # the usual case: few checks
        if offsets[0] != 0 or offsets[-1] != len(rows) or (offsets[1:] < offsets[:-1]).any():
            raise DataError(f"rows: offsets must rise from 0 to the {len(rows)} rows, got {offsets[0]} … {offsets[-1]}")
        return cand
    rows, offsets = np.asarray(rows), np.asarray(offsets)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise DataError(f"rows: expected a 1-D integer array of row numbers, got {rows.dtype} of shape {rows.shape}")
    if offsets.shape != (n_queries + 1,) or not np.issubdtype(offsets.dtype, np.integer):
        raise DataError(
            f"rows: offsets must be ({n_queries + 1},) integers for {n_queries} queries, "
            f"got {offsets.dtype} of shape {offsets.shape}"
        )
    if offsets[0] != 0 or offsets[-1] != len(rows) or (np.diff(offsets) < 0).any():
        raise DataError(f"rows: offsets must rise from 0 to the {len(rows)} rows, got {offsets[0]} … {offsets[-1]}")
    return CandidateRows(rows.astype(np.int64), offsets.astype(np.int64), distinct=cand.distinct)


def _check_range(rows: np.ndarray, ntotal: int) -> None:
    if rows.size:
        lo, hi = rows.min(), rows.max()
        if lo < 0 or hi >= ntotal:
            raise DataError(f"rows: values must lie in [0, {ntotal}), got range [{lo}, {hi}]")


def _check_distinct(rows: np.ndarray, owner: np.ndarray, ntotal: int) -> None:
    """Refuse a row listed twice for one query: one sort of the key ``owner · ntotal + row``."""
    if rows.size < 2:
        return
    key = np.sort(owner * np.int64(ntotal) + rows)
    same = np.flatnonzero(key[1:] == key[:-1])
    if same.size:
        query, row = divmod(int(key[same[0]]), ntotal)
        raise DataError(f"rows: row {row} is listed twice for query {query}")


def _is_shared(rows: Any) -> bool:
    """A 1-D array or a flat list of integers is one row set shared by every query."""
    if isinstance(rows, np.ndarray):
        return rows.ndim == 1
    return not (isinstance(rows, Sequence) and len(rows) > 0 and all(np.ndim(r) == 1 for r in rows))


def _as_row_array(r: ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(r)
    if arr.ndim != 1:
        raise DataError(f"{what}: expected a 1-D array of row numbers, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{what}: expected integer row numbers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


class DescriptorIndex(ABC):
    """Base class of every index. Subclasses implement the ``_``-prefixed hooks.

    Lifecycle: ``index = create_index(name, **config)`` → ``index.build(descriptors,
    fingerprint=...)`` → ``index.add(more)`` → ``search`` / ``search_rows`` → ``save(folder)``;
    later ``load_index(folder, expected_fingerprint)``.
    """

    #: registry name written into ``index.json`` (``"flat"``, ``"ivfpq"``, ...).
    name: ClassVar[str] = ""

    def __init__(self, config: BaseModel | None = None) -> None:
        self.config = config
        self.dim: int | None = None
        self.fingerprint: IndexFingerprint | None = None

    # -- the public protocol ------------------------------------------------------------------

    @property
    @abstractmethod
    def ntotal(self) -> int:
        """Number of database rows stored."""

    def build(self, descriptors: ArrayLike, *, fingerprint: IndexFingerprint | None = None) -> DescriptorIndex:
        """Replace the content with ``descriptors`` (n, dim) float32, L2-normalised; train if needed."""
        x = as_descriptors(descriptors, dim=None, what="database descriptors", check_norm=True)
        if len(x) == 0:
            raise DataError("database descriptors: cannot build an index over 0 rows")
        self.dim = int(x.shape[1])
        self._build(x)
        self.fingerprint = fingerprint
        return self

    def add(self, descriptors: ArrayLike) -> None:
        """Append rows (numbered after the existing ones); the index must be built first."""
        self._require_built()
        x = as_descriptors(descriptors, dim=self.dim, what="added descriptors", check_norm=True)
        if len(x):
            self._add(x)

    def search(self, queries: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by inner product for each query (q, dim) → (scores, rows), each (q, k)."""
        self._require_built()
        q = as_descriptors(queries, dim=self.dim, what="queries", check_norm=False)
        return self._search(q, check_k(k))

    def search_rows(
        self, queries: ArrayLike, rows: CandidateRows | ArrayLike | Sequence[ArrayLike], k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` among ``rows`` only: :class:`CandidateRows` (CSR), one shared 1-D row array,
        or one array per query (see :func:`as_candidate_rows`)."""
        self._require_built()
        q = as_descriptors(queries, dim=self.dim, what="queries", check_norm=False)
        candidates = as_candidate_rows(rows, len(q), self.ntotal)
        return self._search_rows(q, candidates, check_k(k))

    @abstractmethod
    def memory_bytes(self) -> int:
        """Bytes the index holds in memory (vectors, codes, graph, ids)."""

    def settings(self) -> dict[str, Any]:
        """What the index runs with: every config value (defaults included), plus what it derived
        from the data when it was built (e.g. ``ivfpq``'s ``nlist_effective``); the bundle's
        manifest and every run report record it."""
        return self.config.model_dump(mode="json") if self.config is not None else {}

    def to_device(self, device: Any) -> DescriptorIndex:
        """Search on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:i"`` or a ``torch.device``).

        This default has only the CPU path: ``cpu`` returns the index itself, anything else is a
        :class:`~vprkit.errors.ConfigError`. Indexes with a GPU path override it (``flat``: torch;
        ``ivfpq``: faiss GPU) and return the index, moved.
        """
        kind, _ = parse_device(device)
        if kind == "cpu":
            return self
        raise ConfigError(
            f"index {self.name!r} has no GPU path; search it on the CPU (device cpu), or use the 'flat' index "
            f"(kernel torch) or 'ivfpq' (with faiss-gpu) on {device}"
        )

    def save(self, folder: str | Path) -> Path:
        """Write the payload files, then ``index.json`` last (so a half-written save has no meta)."""
        from vprkit import __version__  # at call time: the package may still be initialising at import

        self._require_built()
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        files = self._save_payload(out)
        meta = {
            "index": self.name,
            "config": self.config.model_dump(mode="json") if self.config is not None else {},
            "dim": self.dim,
            "ntotal": self.ntotal,
            "fingerprint": self.fingerprint.to_dict() if self.fingerprint else None,
            "files": {name: (out / name).stat().st_size for name in files},
            "checksums": {name: file_checksum(out / name) for name in files},
            "vprkit_version": __version__,
        }
        atomic_write_json(out / INDEX_META_FILE, meta)
        return out

    # -- hooks for subclasses -----------------------------------------------------------------

    @abstractmethod
    def _build(self, x: np.ndarray) -> None: ...

    @abstractmethod
    def _add(self, x: np.ndarray) -> None: ...

    @abstractmethod
    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def _search_rows(self, q: np.ndarray, candidates: CandidateRows, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Query i searches ``candidates.rows[offsets[i]:offsets[i+1]]`` (validated CSR, int64)."""

    @abstractmethod
    def _save_payload(self, folder: Path) -> list[str]:
        """Write payload files (atomically) into ``folder``; return their names."""

    @abstractmethod
    def _load_payload(self, folder: Path, meta: dict[str, Any], *, mmap: bool) -> None: ...

    def _require_built(self) -> None:
        if self.dim is None:
            raise DataError(f"index {self.name!r} is empty: call build(descriptors) first")


def read_index_meta(folder: str | Path, *, verify_content: bool = True) -> dict[str, Any]:
    """Read and sanity-check ``index.json`` of a saved index folder: every payload file must have
    its saved size and, with ``verify_content``, its saved checksum (a changed value is refused even
    when the size is unchanged). Indexes saved before checksums existed get the size check only."""
    path = Path(folder) / INDEX_META_FILE
    meta = read_json_object(
        path, StaleIndexError, f"{str(folder)!r} is not a saved index: {INDEX_META_FILE} is missing"
    )
    missing = {"index", "config", "dim", "ntotal", "fingerprint", "files"} - set(meta)
    if missing:
        raise StaleIndexError(f"{str(path)!r} lacks {sorted(missing)}; rebuild the index")
    for name, size in meta["files"].items():
        f = Path(folder) / name
        if not f.is_file() or f.stat().st_size != size:
            have = f.stat().st_size if f.is_file() else "missing"
            raise StaleIndexError(
                f"index payload {str(f)!r} is damaged (expected {size} bytes, found {have}); rebuild the index"
            )
    checksums = meta.get("checksums") or {} if verify_content else {}
    for name, saved in checksums.items():
        if file_checksum(Path(folder) / name) != saved:
            raise StaleIndexError(
                f"index payload {str(Path(folder) / name)!r} is damaged (its content changed since it was "
                "saved: checksum mismatch); rebuild the index"
            )
    return meta


def load_index(folder: str | Path, expected: IndexFingerprint | None = None, *, mmap: bool = False) -> DescriptorIndex:
    """Load a saved index; refuse it if ``expected`` differs from the fingerprint it was built with.

    ``mmap=True`` maps large arrays read-only instead of reading them (where the index supports it);
    then only the payload sizes are checked, not their checksums (which would read every byte).
    """
    from vprkit.config import build_config
    from vprkit.registry import get_spec

    meta = read_index_meta(folder, verify_content=not mmap)
    saved = IndexFingerprint.from_dict(meta["fingerprint"], source=str(folder)) if meta["fingerprint"] else None
    if expected is not None:
        if saved is None:
            raise StaleIndexError(f"index {str(folder)!r} carries no fingerprint; rebuild it with one")
        for part in ("model", "database"):
            if getattr(saved, part) != getattr(expected, part):
                what = "descriptor model" if part == "model" else "database image list"
                raise StaleIndexError(
                    f"index {str(folder)!r} was built for another {what} "
                    f"(saved {getattr(saved, part)[:12]}…, expected {getattr(expected, part)[:12]}…); "
                    "rebuild it with `vprkit index build`"
                )
    name = LEGACY_NAMES.get(meta["index"], meta["index"])
    spec = get_spec("index", name)
    cfg = build_config(spec.config, meta["config"], owner=f"index {name!r} in {str(folder)!r}")
    index: DescriptorIndex = spec.load_factory()(cfg)
    index.dim = int(meta["dim"])
    index._load_payload(Path(folder), meta, mmap=mmap)
    if index.ntotal != int(meta["ntotal"]):
        raise StaleIndexError(
            f"index {str(folder)!r} holds {index.ntotal} rows but its {INDEX_META_FILE} says {meta['ntotal']}"
        )
    index.fingerprint = saved
    return index
