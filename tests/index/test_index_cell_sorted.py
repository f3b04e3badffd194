"""The cell-sorted store and its candidate-restricted exact search, checked against faiss."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from index_testdata import assert_same_topk, clustered_descriptors, unit_queries

from vprkit.errors import DataError
from vprkit.index import CellSortedDescriptors, IndexFingerprint, StaleIndexError, load_index

N_CELLS = 300


@pytest.fixture(scope="module")
def data():
    x, cells = clustered_descriptors(6000, 32, N_CELLS, tail=200)
    return x, cells, unit_queries(x, 7)


def faiss_restricted(x, query, allowed, k):
    """faiss IndexFlatIP searched with an ID selector: the reference for a restricted search."""
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    selector = faiss.IDSelectorBatch(allowed.astype(np.int64))
    return flat.search(query[None], k, params=faiss.SearchParameters(sel=selector))


def test_store_is_sorted_by_cell_with_csr_offsets(data):
    x, cells, _ = data
    store = CellSortedDescriptors().build(x, cells=cells, n_cells=N_CELLS)
    assert store.offsets.shape == (N_CELLS + 1,) and store.offsets[0] == 0
    assert store.offsets[-1] == (cells >= 0).sum()  # the tail holds the 200 rows of cell -1
    for c in (0, 17, N_CELLS - 1):
        rows = store.row_ids[store.offsets[c] : store.offsets[c + 1]]
        assert (cells[rows] == c).all() and len(rows) == (cells == c).sum()
        assert (np.diff(rows) > 0).all()  # database order kept inside a cell
    np.testing.assert_array_equal(store.descriptors, x[store.row_ids])
    np.testing.assert_array_equal(store.cells_of_rows(), cells)
    np.testing.assert_array_equal(np.sort(store.cell_rows([5, 9])), np.flatnonzero(np.isin(cells, [5, 9])))


@pytest.mark.parametrize("kernel", ["faiss", "numpy"])
def test_search_cells_equals_faiss_flat_restricted_to_the_same_rows(data, kernel):
    x, cells, queries = data
    store = CellSortedDescriptors(kernel=kernel).build(x, cells=cells, n_cells=N_CELLS)
    rng = np.random.default_rng(3)
    top_cells = np.stack([rng.choice(N_CELLS, 20, replace=False) for _ in queries])
    scores, rows = store.search_cells(queries, top_cells, 10)
    assert scores.shape == rows.shape == (len(queries), 10) and rows.dtype == np.int64
    for i, query in enumerate(queries):
        allowed = np.flatnonzero(np.isin(cells, top_cells[i]))
        ref_s, ref_r = faiss_restricted(x, query, allowed, 10)
        assert_same_topk(scores[i : i + 1], rows[i : i + 1], ref_s, ref_r)
        one_s, one_r = store.search_cells(query, top_cells[i], 10)  # batch 1 path
        assert_same_topk(one_s, one_r, ref_s, ref_r)


def test_plain_search_sees_tail_rows_and_search_rows_matches(data):
    x, cells, queries = data
    store = CellSortedDescriptors().build(x, cells=cells, n_cells=N_CELLS)
    tail_query = x[-1:]  # a row in the tail (cell -1) is its own nearest neighbour
    assert store.search(tail_query, 1)[1][0, 0] == len(x) - 1
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    assert_same_topk(*store.search(queries, 5), *flat.search(queries, 5))
    allowed = [np.flatnonzero(cells == c) for c in range(len(queries))]
    s, r = store.search_rows(queries, allowed, 5)
    for i in range(len(queries)):
        assert_same_topk(s[i : i + 1], r[i : i + 1], *faiss_restricted(x, queries[i], allowed[i], 5))


def test_fewer_candidates_than_k_are_padded_and_minus_one_cells_skipped(data):
    x, cells, queries = data
    store = CellSortedDescriptors().build(x, cells=cells, n_cells=N_CELLS)
    size = int((cells == 4).sum())
    scores, rows = store.search_cells(queries[:2], [[4, -1], [-1, -1]], size + 3)
    assert (rows[0, :size] >= 0).all() and (rows[0, size:] == -1).all()
    assert np.isneginf(scores[0, size:]).all() and (rows[1] == -1).all()
    assert set(rows[0, :size]) == set(np.flatnonzero(cells == 4))


def test_bad_cells_are_refused(data):
    x, cells, queries = data
    store = CellSortedDescriptors().build(x, cells=cells, n_cells=N_CELLS)
    with pytest.raises(DataError, match=r"out of range|lie in"):
        store.search_cells(queries[:1], [[N_CELLS]], 3)
    with pytest.raises(DataError, match="listed twice"):
        store.search_cells(queries[:1], [[3, 3]], 3)
    with pytest.raises(DataError, match="shape"):
        CellSortedDescriptors().build(x, cells=cells[:-1])
    with pytest.raises(DataError, match="L2-normalised"):
        CellSortedDescriptors().build(x * 2, cells=cells)


def test_add_rows_keeps_cells_contiguous(data):
    x, cells, _ = data
    store = CellSortedDescriptors().build(x[:5000], cells=cells[:5000], n_cells=N_CELLS)
    store.add_rows(x[5000:], cells[5000:])
    np.testing.assert_array_equal(store.cells_of_rows(), cells)
    np.testing.assert_array_equal(store.descriptors, x[store.row_ids])


def test_save_load_round_trip_mmap_and_stale_fingerprint(tmp_path, data):
    x, cells, queries = data
    fp = IndexFingerprint.of("retriever-weights-sha", (f"db/{i}.jpg" for i in range(len(x))))
    store = CellSortedDescriptors().build(x, cells=cells, n_cells=N_CELLS, fingerprint=fp)
    store.save(tmp_path / "idx")
    for mmap in (False, True):
        loaded = load_index(tmp_path / "idx", fp, mmap=mmap)
        assert isinstance(loaded, CellSortedDescriptors) and loaded.fingerprint == fp
        np.testing.assert_array_equal(
            loaded.search_cells(queries, [[1, 2]] * len(queries), 4)[1],
            store.search_cells(queries, [[1, 2]] * len(queries), 4)[1],
        )
    assert store.memory_bytes() >= x.nbytes + 8 * len(x)
    with pytest.raises(StaleIndexError, match="descriptor model"):
        load_index(tmp_path / "idx", IndexFingerprint("other-model", fp.database))
    with pytest.raises(StaleIndexError, match="database image list"):
        load_index(tmp_path / "idx", IndexFingerprint.of(fp.model, ["a.jpg"]))
    with open(tmp_path / "idx" / "offsets.npy", "ab") as f:
        f.write(b"junk")
    with pytest.raises(StaleIndexError, match="damaged"):
        load_index(tmp_path / "idx", fp)
