"""One restricted-search path for every index: CSR candidates (``CandidateRows``) give what row
lists give; the store's own cell candidates give what ``search_cells`` gives; every index refuses
unknown options alike; index folders saved under the old names and formats still load."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest
from index_testdata import clustered_descriptors, unit_queries

from vprkit import create_index, list_indexes
from vprkit.errors import ConfigError, DataError
from vprkit.fileio import file_checksum
from vprkit.index import CandidateRows, CellSortedDescriptors, IndexFingerprint, load_index

FAST_OVERRIDES = {"ivfpq": {"m": 8}, "hnsw": {"M": 16, "ef_search": 64}}
N, DIM, CELLS, K = 2000, 32, 80, 5


@pytest.fixture(scope="module")
def data():
    x, cells = clustered_descriptors(N, DIM, CELLS, seed=21)
    return x, cells, unit_queries(x, 12, seed=22)


@pytest.fixture(scope="module")
def built(data):
    x, _, _ = data
    return {name: create_index(name, **FAST_OVERRIDES.get(name, {})).build(x) for name in list_indexes()}


def test_the_flat_index_is_the_cell_sorted_store():
    assert type(create_index("flat")) is CellSortedDescriptors and CellSortedDescriptors.name == "flat"
    assert create_index("flat", kernel="numpy").kernel == "numpy"


@pytest.mark.parametrize("name", list_indexes())
def test_every_index_refuses_unknown_options_alike(name):
    with pytest.raises(ConfigError, match="no_such_option"):
        create_index(name, no_such_option=1)


@pytest.mark.parametrize("name", list_indexes())
def test_csr_candidates_give_what_row_lists_give(name, built, data):
    _, cells, queries = data
    index = built[name]
    allowed = [np.flatnonzero(np.isin(cells, [i, i + 7])) for i in range(len(queries))]
    allowed[3] = np.zeros(0, np.int64)  # a query without candidates
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in allowed])])
    csr = CandidateRows(np.concatenate(allowed), offsets)
    from_lists, from_csr = index.search_rows(queries, allowed, K), index.search_rows(queries, csr, K)
    np.testing.assert_array_equal(from_csr[1], from_lists[1])
    np.testing.assert_array_equal(from_csr[0], from_lists[0])
    assert (from_csr[1][3] == -1).all()
    with pytest.raises(DataError, match="offsets"):
        index.search_rows(queries[:3], csr, K)  # the CSR of 12 queries for 3
    with pytest.raises(DataError, match="listed twice for query 1"):
        index.search_rows(queries[:2], CandidateRows(np.array([4, 9, 9]), np.array([0, 1, 3])), K)
    with pytest.raises(DataError, match="range"):
        index.search_rows(queries[:1], CandidateRows(np.array([N]), np.array([0, 1])), K)


@pytest.mark.parametrize("name", list_indexes())
def test_cell_candidates_of_the_store_search_every_index(name, built, data):
    x, cells, queries = data
    store = CellSortedDescriptors().build(x, cells=cells, n_cells=CELLS)
    top = np.stack([np.random.default_rng(i).choice(CELLS, 6, replace=False) for i in range(len(queries))])
    candidates = store.cell_candidates(top)
    assert candidates.distinct and np.array_equal(candidates.counts, [np.isin(cells, t).sum() for t in top])
    for i in range(len(queries)):
        assert set(candidates.of_query(i).tolist()) == set(np.flatnonzero(np.isin(cells, top[i])).tolist())
    scores, rows = built[name].search_rows(queries, candidates, K)
    ref_scores, ref_rows = built[name].search_rows(queries, [candidates.of_query(i) for i in range(len(queries))], K)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(scores, ref_scores)
    if name == "flat":  # the store's own candidates are read at their positions: the same answer
        own = store.search_rows(queries, candidates, K)
        np.testing.assert_array_equal(own[1], store.search_cells(queries, top, K)[1])


def test_add_to_the_flat_store_appends_to_the_tail(data):
    x, cells, _ = data
    store = CellSortedDescriptors().build(x[:1500], cells=cells[:1500], n_cells=CELLS)
    store.add(x[1500:])
    assert store.ntotal == N and (store.cells_of_rows()[1500:] == -1).all()
    np.testing.assert_array_equal(store.cells_of_rows()[:1500], cells[:1500])
    np.testing.assert_array_equal(store.descriptors, x[store.row_ids])
    assert store.search(x[1700:1701], 1)[1][0, 0] == 1700


def _rewrite_meta(folder, **fields):
    meta = json.loads((folder / "index.json").read_text())
    meta.update(fields)
    (folder / "index.json").write_text(json.dumps(meta))


def test_a_store_saved_as_cell_sorted_still_loads(data, tmp_path):
    x, cells, queries = data
    fp = IndexFingerprint.of("m", (f"{i}.jpg" for i in range(N)))
    store = CellSortedDescriptors().build(x, cells=cells, n_cells=CELLS, fingerprint=fp)
    folder = store.save(tmp_path / "store")
    _rewrite_meta(folder, index="cell_sorted", config={})  # what vprkit wrote before the rename
    loaded = load_index(folder, fp)
    assert type(loaded) is CellSortedDescriptors and loaded.name == "flat"
    np.testing.assert_array_equal(
        loaded.search_cells(queries, [[1, 2]] * len(queries), 4)[1],
        store.search_cells(queries, [[1, 2]] * len(queries), 4)[1],
    )


def test_a_flat_folder_saved_by_the_faiss_index_still_loads(data, tmp_path):
    x, _, queries = data
    folder = tmp_path / "flat"
    folder.mkdir()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(x)
    faiss.write_index(flat, str(folder / "flat.faiss"))
    fp = IndexFingerprint.of("m", ["a.jpg"])
    meta = {
        "index": "flat",
        "config": {"threads": 0},
        "dim": DIM,
        "ntotal": N,
        "fingerprint": fp.to_dict(),
        "files": {"flat.faiss": (folder / "flat.faiss").stat().st_size},
        "checksums": {"flat.faiss": file_checksum(folder / "flat.faiss")},
        "vprkit_version": "0.1.0",
    }
    (folder / "index.json").write_text(json.dumps(meta))
    loaded = load_index(folder, fp)
    assert type(loaded) is CellSortedDescriptors and loaded.ntotal == N
    ref_scores, ref_rows = flat.search(queries, K)
    scores, rows = loaded.search(queries, K)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(scores, ref_scores)
