"""Contract every registered index honours (parametrised over ``list_indexes()``), plus the core
cell-sorted store: build, search shapes, recall against exact search, restricted search returns
only allowed rows, save/load round trip, stale fingerprints refused, memory reported."""

from __future__ import annotations

import numpy as np
import pytest
from index_testdata import clustered_descriptors, unit_queries

from vprkit import create_index, list_indexes
from vprkit.errors import DataError
from vprkit.index import (
    CellSortedDescriptors,
    DescriptorIndex,
    IndexFingerprint,
    StaleIndexError,
    load_index,
)
from vprkit.index.exact import topk_all

#: Smaller-than-paper settings so the contract runs in seconds; paper defaults are tested per plugin.
FAST_OVERRIDES = {"ivfpq": {"m": 16}, "hnsw": {"M": 16, "ef_search": 64}}
#: recall@10 against exact search that an approximate index must reach on clustered data.
RECALL_BAR = {"flat": 1.0, "cell_sorted": 1.0}
DEFAULT_RECALL_BAR = 0.6
K = 10
N, DIM, CELLS = 3000, 64, 100
NAMES = [*list_indexes(), "cell_sorted"]


@pytest.fixture(scope="module")
def data():
    x, cells = clustered_descriptors(N, DIM, CELLS, seed=5)
    return x, cells, unit_queries(x, 25, seed=6)


def make(name: str) -> DescriptorIndex:
    if name == "cell_sorted":
        return CellSortedDescriptors()
    return create_index(name, **FAST_OVERRIDES.get(name, {}))


def fingerprint() -> IndexFingerprint:
    return IndexFingerprint.of("model-a", (f"db/{i:05d}.jpg" for i in range(N)))


@pytest.fixture(scope="module")
def built(data):
    x, _, _ = data
    return {name: make(name).build(x, fingerprint=fingerprint()) for name in NAMES}


def test_every_builtin_index_is_registered():
    assert {"flat", "ivfpq", "hnsw"} <= set(list_indexes())


@pytest.mark.parametrize("name", NAMES)
def test_search_shapes_and_recall(name, built, data):
    x, _, queries = data
    index = built[name]
    assert index.ntotal == N and index.dim == DIM
    scores, rows = index.search(queries, K)
    assert scores.shape == rows.shape == (len(queries), K)
    assert scores.dtype == np.float32 and rows.dtype == np.int64
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    _, exact = topk_all(queries, x, K)
    recall = np.mean([len(set(rows[i]) & set(exact[i])) / K for i in range(len(queries))])
    assert recall >= RECALL_BAR.get(name, DEFAULT_RECALL_BAR), f"{name}: recall@{K} = {recall:.2f}"
    _one_s, one_r = index.search(queries[0], K)  # a single (d,) query is a batch of 1
    assert one_r.shape == (1, K)


@pytest.mark.parametrize("name", NAMES)
def test_k_larger_than_database_is_padded(name, built, data):
    _, _, queries = data
    scores, rows = built[name].search(queries[:2], N + 5)
    assert rows.shape == (2, N + 5) and (rows[:, N:] == -1).all() and np.isneginf(scores[:, N:]).all()


@pytest.mark.parametrize("name", NAMES)
def test_restricted_search_returns_only_allowed_rows(name, built, data):
    _x, cells, queries = data
    index = built[name]
    allowed = [np.flatnonzero(np.isin(cells, [i, i + 1, i + 2])) for i in range(len(queries))]
    scores, rows = index.search_rows(queries, allowed, K)
    assert rows.shape == (len(queries), K)
    for i in range(len(queries)):
        hits = rows[i][rows[i] >= 0]
        assert np.isin(hits, allowed[i]).all() and len(set(hits)) == len(hits)
        np.testing.assert_array_equal(np.isneginf(scores[i]), rows[i] < 0)
    shared = np.arange(0, N, 7)  # one row set for every query
    _, rows = index.search_rows(queries, shared, K)
    assert np.isin(rows[rows >= 0], shared).all()
    _, rows = index.search_rows(queries[:1], np.zeros(0, np.int64), K)
    assert (rows == -1).all()
    with pytest.raises(DataError, match="range"):
        index.search_rows(queries[:1], [N], K)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_and_stale_fingerprint(name, built, data, tmp_path):
    _, _, queries = data
    index = built[name]
    folder = index.save(tmp_path / name)
    loaded = load_index(folder, fingerprint())
    assert type(loaded) is type(index) and loaded.ntotal == N and loaded.fingerprint == fingerprint()
    assert loaded.config == index.config
    np.testing.assert_array_equal(loaded.search(queries, K)[1], index.search(queries, K)[1])
    with pytest.raises(StaleIndexError, match="descriptor model"):
        load_index(folder, IndexFingerprint("model-b", fingerprint().database))
    with pytest.raises(StaleIndexError, match="database image list"):
        load_index(folder, IndexFingerprint.of("model-a", ["other.jpg"]))


@pytest.mark.parametrize("name", NAMES)
def test_a_payload_changed_in_place_is_refused(name, built, tmp_path):
    folder = built[name].save(tmp_path / name)
    payload = max((p for p in folder.iterdir() if p.name != "index.json"), key=lambda p: p.stat().st_size)
    raw = bytearray(payload.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one byte flipped, size unchanged
    payload.write_bytes(bytes(raw))
    with pytest.raises(StaleIndexError, match="content changed"):
        load_index(folder, fingerprint())


@pytest.mark.parametrize("name", NAMES)
def test_memory_reported_and_bad_input_refused(name, built, data):
    x, _, queries = data
    index = built[name]
    assert index.memory_bytes() > 0
    if name in ("flat", "cell_sorted"):
        assert index.memory_bytes() >= x.nbytes
    with pytest.raises(DataError, match="dimension"):
        index.search(queries[:, :10], K)
    with pytest.raises(DataError, match="k must be"):
        index.search(queries, 0)
    with pytest.raises(DataError, match="L2-normalised"):
        make(name).build(x * 3)
    with pytest.raises(DataError, match="empty"):
        make(name).search(queries, K)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "cell_sorted"])
def test_add_appends_rows_numbered_after_existing(name, data):
    x, _, _ = data
    index = make(name).build(x[:2000])
    index.add(x[2000:])
    assert index.ntotal == N
    _, rows = index.search(x[2500:2501], 1)
    assert rows[0, 0] == 2500
