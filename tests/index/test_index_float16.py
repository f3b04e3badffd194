"""float16 storage of the ``flat`` store: a float16 first pass, a float32 re-ranking of its shortlist.

Checked against the float32 store (same rows, the exact float32 scores), for every entry point
(search, search_rows, search_cells, ragged and empty cell lists, fewer candidates than k), the
chunked float16 kernels against one chunk, and save/load: the extra payload file is in index.json
with its checksum, the float32 descriptors are always memory-mapped, and resident memory halves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from index_testdata import assert_same_topk, clustered_descriptors, unit_queries

from vprkit import create_index
from vprkit.errors import ConfigError
from vprkit.index import CellSortedDescriptors, IndexFingerprint, StaleIndexError, load_index
from vprkit.index.exact import csr_to_padded, topk_all, topk_all_float16, topk_subset, topk_subset_float16

N, DIM, N_CELLS = 5000, 48, 250


@pytest.fixture(scope="module")
def data():
    x, cells = clustered_descriptors(N, DIM, N_CELLS, seed=31, tail=150)
    return x, cells, unit_queries(x, 11, seed=32)


@pytest.fixture(scope="module")
def reference(data):
    x, cells, _ = data
    return CellSortedDescriptors(kernel="faiss").build(x, cells=cells, n_cells=N_CELLS)


def assert_float16_of(half: np.ndarray, x: np.ndarray) -> None:
    """``half`` is ``x`` rounded to float16: within one float16 step (faiss's encoder and NumPy's
    cast round a few values to neighbouring steps)."""
    assert half.dtype == np.float16 and half.shape == x.shape
    assert (np.abs(half.astype(np.float32) - x) <= np.abs(x) * 2.0**-10 + 2.0**-24).all()


def ragged_top_cells(n_queries: int) -> np.ndarray:
    """(q, 15) distinct cells per query; query 1 ragged (-1 tail), query 2 none at all."""
    top = np.stack([np.random.default_rng(i).choice(N_CELLS, 15, replace=False) for i in range(n_queries)])
    top[1, 6:] = -1
    top[2] = -1
    return top


@pytest.mark.parametrize("kernel", ["faiss", "numpy"])
def test_float16_store_returns_the_float32_rows_and_scores(data, reference, kernel):
    x, cells, queries = data
    half = CellSortedDescriptors(kernel=kernel).build(x, cells=cells, n_cells=N_CELLS)
    assert half.descriptors_f16 is None  # float32 storage: no copy
    half = create_index("flat", storage="float16", kernel=kernel).build(x, cells=cells, n_cells=N_CELLS)
    assert (half._cell_lists is not None) == (kernel == "faiss")  # faiss scans cell lists in place
    assert half.descriptors_f16 is not None
    assert_float16_of(half.descriptors_f16, half.descriptors)
    top = ragged_top_cells(len(queries))
    allowed = [np.flatnonzero(np.isin(cells, [i, i + 9, i + 40])) for i in range(len(queries))]
    for k in (1, 10, 300):  # 300: more than most queries' candidates
        for got, ref in (
            (half.search(queries, k), reference.search(queries, k)),
            (half.search_cells(queries, top, k), reference.search_cells(queries, top, k)),
            (half.search_rows(queries, allowed, k), reference.search_rows(queries, allowed, k)),
            (half.search_rows(queries, np.arange(N), k), reference.search(queries, k)),
        ):
            assert got[0].dtype == np.float32 and got[1].dtype == np.int64 and got[0].shape == (len(queries), k)
            assert_same_topk(*got, *ref, atol=1e-6)  # the re-ranked scores are the float32 ones
            assert np.array_equal(got[1] < 0, ref[1] < 0) and np.isneginf(got[0][got[1] < 0]).all()
    scores, rows = half.search_cells(queries, top, 10)
    assert (rows[2] == -1).all() and np.isneginf(scores[2]).all()  # only -1 cells: nothing


def test_float16_search_of_the_stores_own_candidates_equals_search_cells(data):
    x, cells, queries = data
    half = create_index("flat", storage="float16").build(x, cells=cells, n_cells=N_CELLS)
    top = ragged_top_cells(len(queries))
    candidates = half.cell_candidates(top)
    own = half.search_rows(queries, candidates, 7)
    lists = half.search_rows(queries, [candidates.of_query(i) for i in range(len(queries))], 7)
    np.testing.assert_array_equal(own[1], half.search_cells(queries, top, 7)[1])
    np.testing.assert_array_equal(own[1], lists[1])
    np.testing.assert_array_equal(own[0], lists[0])


@pytest.mark.parametrize("kernel", ["faiss", "numpy"])
def test_chunked_float16_kernels_equal_one_chunk(data, kernel):
    """Tiny chunks cut candidate lists inside a query and split the database in many blocks."""
    x, cells, queries = data
    half = x.astype(np.float16)
    lists = [np.flatnonzero(np.isin(cells, [i, i + 3])) for i in range(len(queries))]
    lists[4] = np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in lists])]).astype(np.int64)
    positions = np.concatenate(lists).astype(np.int64)
    whole = topk_subset_float16(queries, half, positions, offsets, 12, kernel)
    chunked = topk_subset_float16(queries, half, positions, offsets, 12, kernel, chunk_bytes=DIM * 6 * 7)
    assert_same_topk(*chunked, *whole, atol=1e-6)
    as32 = half.astype(np.float32)
    assert_same_topk(*whole, *topk_subset(queries, as32, csr_to_padded(positions, offsets), 12, kernel), atol=1e-6)
    blocks = topk_all_float16(queries, half, 12, kernel, chunk_bytes=DIM * 6 * 100)
    assert_same_topk(*blocks, *topk_all(queries, as32, 12, kernel), atol=1e-6)


def test_add_and_add_rows_keep_the_float16_copy(data, reference):
    x, cells, queries = data
    half = create_index("flat", storage="float16").build(x[:4000], cells=cells[:4000], n_cells=N_CELLS)
    half.add_rows(x[4000:4500], cells[4000:4500])
    half.add(x[4500:])  # the tail
    assert half.ntotal == N and half._cell_lists is not None and half._cell_lists.ntotal == N
    assert_float16_of(half.descriptors_f16, half.descriptors)
    assert half.search(x[4800:4801], 1)[1][0, 0] == 4800
    assert_same_topk(*half.search(queries, 5), *reference.search(queries, 5), atol=1e-6)


def test_float16_save_load_maps_the_float32_rows_and_halves_resident_memory(tmp_path, data, reference):
    x, cells, queries = data
    fp = IndexFingerprint.of("model", (f"{i}.jpg" for i in range(N)))
    half = create_index("flat", storage="float16").build(x, cells=cells, n_cells=N_CELLS, fingerprint=fp)
    folder = half.save(tmp_path / "half")
    meta = json.loads((folder / "index.json").read_text())
    assert meta["config"]["storage"] == "float16"
    assert (
        set(meta["files"])
        == set(meta["checksums"])
        == {
            "descriptors.npy",
            "row_ids.npy",
            "offsets.npy",
            "descriptors_f16.faiss",
            "row_norm_max.npy",
        }
    )
    assert np.load(folder / "descriptors.npy").dtype == np.float32  # the float32 file as before
    top = ragged_top_cells(len(queries))
    for mmap in (False, True):
        loaded = load_index(folder, fp, mmap=mmap)
        assert isinstance(loaded, CellSortedDescriptors) and loaded.config.storage == "float16"
        assert isinstance(loaded.descriptors, np.memmap)  # always mapped in float16 mode
        assert loaded._cell_lists is not None and loaded._cell_lists.ntotal == N
        for got, ref in (
            (loaded.search_cells(queries, top, 10), half.search_cells(queries, top, 10)),
            (loaded.search(queries, 10), half.search(queries, 10)),
        ):
            np.testing.assert_array_equal(got[1], ref[1])
            np.testing.assert_array_equal(got[0], ref[0])
        if not mmap:
            # resident: the float16 copy (n·d·2) and the tables, not the mapped float32 rows
            assert loaded.memory_bytes() < reference.memory_bytes() - x.nbytes // 2 + 1
            assert loaded.memory_bytes() >= x.nbytes // 2
    assert half.memory_bytes() >= x.nbytes + x.nbytes // 2  # after build both are in RAM
    f32_folder = reference.save(tmp_path / "f32")
    assert not (f32_folder / "descriptors_f16.npy").exists()
    assert not isinstance(load_index(f32_folder).descriptors, np.memmap)  # float32 mode reads as before


def test_a_changed_float16_payload_is_refused(tmp_path, data):
    x, cells, _ = data
    folder = create_index("flat", storage="float16").build(x, cells=cells, n_cells=N_CELLS).save(tmp_path / "h")
    raw = bytearray((folder / "descriptors_f16.faiss").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (folder / "descriptors_f16.faiss").write_bytes(bytes(raw))
    with pytest.raises(StaleIndexError, match="descriptors_f16.faiss.*checksum mismatch"):
        load_index(folder)


def test_a_float16_folder_with_an_array_still_loads_for_every_kernel(tmp_path, data, reference):
    """Folders saved before the cell lists (and by the NumPy or torch kernel) hold descriptors_f16.npy
    and no row_norm_max.npy: read, the bound computed from the rows, searched by any kernel."""
    x, cells, queries = data
    folder = create_index("flat", storage="float16", kernel="numpy").build(x, cells=cells, n_cells=N_CELLS)
    folder = folder.save(tmp_path / "array")
    meta = json.loads((folder / "index.json").read_text())
    assert "descriptors_f16.npy" in meta["files"] and "descriptors_f16.faiss" not in meta["files"]
    (folder / "row_norm_max.npy").unlink()
    for name in ("files", "checksums"):
        del meta[name]["row_norm_max.npy"]
    (folder / "index.json").write_text(json.dumps(meta))
    top = ragged_top_cells(len(queries))
    for mmap in (False, True):
        loaded = load_index(folder, mmap=mmap)
        assert loaded._cell_lists is None and isinstance(loaded.descriptors_f16, np.memmap) == mmap
        assert_same_topk(*loaded.search_cells(queries, top, 10), *reference.search_cells(queries, top, 10), atol=1e-6)
        assert_same_topk(*loaded.search(queries, 10), *reference.search(queries, 10), atol=1e-6)


def test_rows_tied_within_the_rounding_bound_widen_the_shortlist(data):
    """200 copies of one row (and their float16 twins) in one cell: the first pass's shortlist
    (max(4k, k + 32) rows) is all ties, so it is widened until the tie ends; the rows found are
    the float32 store's, with its scores."""
    x, cells, _ = data
    tied = np.concatenate([x, np.repeat(x[:1], 200, axis=0)])
    tied_cells = np.concatenate([cells, np.full(200, 3)])
    exact = create_index("flat").build(tied, cells=tied_cells, n_cells=N_CELLS)
    for kernel in ("faiss", "numpy"):
        half = create_index("flat", storage="float16", kernel=kernel).build(tied, cells=tied_cells, n_cells=N_CELLS)
        for k in (5, 150):
            got, ref = half.search_cells(x[:1], [[3, 7]], k), exact.search_cells(x[:1], [[3, 7]], k)
            np.testing.assert_array_equal(got[0], ref[0])
            assert set(got[1][0].tolist()) <= set(np.flatnonzero(np.isin(tied_cells, [3, 7])).tolist())


def test_unknown_storage_is_refused(data):
    with pytest.raises(ConfigError, match="storage"):
        create_index("flat", storage="bfloat16")
    x, _, _ = data
    with pytest.raises(ConfigError, match="storage"):
        CellSortedDescriptors.from_sorted(x, np.zeros(1, np.int64), storage="int8")
    wrapped = CellSortedDescriptors.from_sorted(x, np.zeros(1, np.int64), storage="float16")
    assert wrapped.descriptors is x and wrapped.descriptors_f16 is not None


def _vm_flags(path) -> list[set[str]]:
    """The VmFlags of this process's mappings of ``path`` (Linux ``/proc/self/smaps``)."""
    flags, current = [], False
    for line in Path("/proc/self/smaps").read_text(encoding="utf-8").splitlines():
        if not line[0].isupper() or ":" not in line.split()[0]:  # a mapping's header line
            current = line.rstrip().endswith(str(path))
        elif current and line.startswith("VmFlags:"):
            flags.append(set(line.split()[1:]))
    return flags


def _mapped_kb(path) -> int:
    """Resident kB of this process's mappings of ``path`` (the ``Rss:`` lines of ``/proc/self/smaps``)."""
    total, current = 0, False
    for line in Path("/proc/self/smaps").read_text(encoding="utf-8").splitlines():
        if not line[0].isupper() or ":" not in line.split()[0]:
            current = line.rstrip().endswith(str(path))
        elif current and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc")
def test_a_loaded_float16_store_reads_its_float32_rows_without_mapping_them_in(tmp_path, data, reference):
    """The re-ranking reads its float32 rows with pread: searching leaves the float32 mapping with
    no resident pages (through the mapping, page-cache folios around every row would count)."""
    x, cells, _ = data
    folder = create_index("flat", storage="float16").build(x, cells=cells, n_cells=N_CELLS).save(tmp_path / "h")
    path = (folder / "descriptors.npy").resolve()
    loaded = load_index(folder, mmap=True)
    for i in range(0, N, 500):
        got = loaded.search(x[i : i + 64] + 0.01, 10)
        assert_same_topk(*got, *reference.search(x[i : i + 64] + 0.01, 10), atol=1e-6)
    assert isinstance(loaded.descriptors, np.memmap) and _mapped_kb(path) == 0


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc")
def test_float16_store_maps_its_float32_rows_for_scattered_reads(tmp_path, data):
    # the re-ranking reads a few 4·d-byte rows per query: read-ahead would pull whole files into memory
    x, cells, queries = data
    folder = create_index("flat", storage="float16").build(x, cells=cells, n_cells=N_CELLS).save(tmp_path / "h")
    loaded = load_index(folder)
    loaded.search(queries, 5)
    flags = _vm_flags((folder / "descriptors.npy").resolve())
    assert flags and all("rr" in f for f in flags)
    f32 = create_index("flat").build(x, cells=cells, n_cells=N_CELLS).save(tmp_path / "f")
    mapped = load_index(f32, mmap=True)
    mapped.search(queries, 5)  # float32 mode scans whole cells: read-ahead stays
    assert all("rr" not in f for f in _vm_flags((f32 / "descriptors.npy").resolve()))


def test_float16_scores_stay_within_the_rounding_bound(data):
    """The bound the re-scoring relies on: faiss's float16 cell-list scores and the float32 scores
    of the same rows differ by no more than float16_score_bound (queries of several norms)."""
    from vprkit.index.float16_search import float16_score_bound, search_cell_lists

    x, cells, queries = data
    half = create_index("flat", storage="float16").build(x, cells=cells, n_cells=N_CELLS)
    q = np.concatenate([queries, 3.0 * queries[:3]])
    top = np.tile(np.arange(40), (len(q), 1))
    scores16, positions = search_cell_lists(half._cell_lists, q, top, 500)
    exact = np.einsum("qd,qkd->qk", q, half.descriptors[np.maximum(positions, 0)])
    bound = float16_score_bound(np.linalg.norm(q, axis=1), half.row_norm_max(), DIM)
    valid = positions >= 0
    assert valid.sum() > 1000
    gap = np.abs(scores16 - exact)
    assert (gap[valid] <= np.broadcast_to(bound[:, None], gap.shape)[valid]).all()
    assert gap[valid].max() > 0  # float16 rounding did change the scores: the check is not vacuous
