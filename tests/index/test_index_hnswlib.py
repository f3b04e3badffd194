"""The hnswlib plugin: the paper's M, and both restricted-search modes."""

from __future__ import annotations

import numpy as np
from index_testdata import clustered_descriptors, unit_queries

from vprkit import create_index, get_index_spec


def test_hnsw_defaults_are_the_papers():
    cfg = get_index_spec("hnsw").config()
    assert cfg.M == 512 and cfg.restricted == "exact"
    assert (cfg.ef_construction, cfg.ef_search) == (40, 16)  # faiss's, which the paper used


def test_exact_restricted_mode_is_exact_and_filter_mode_stays_inside_candidates():
    x, cells = clustered_descriptors(3000, 32, 60, seed=11)
    queries = unit_queries(x, 10, seed=12)
    allowed = [np.flatnonzero(np.isin(cells, [i, i + 20])) for i in range(len(queries))]
    flat_s, flat_r = create_index("flat").build(x).search_rows(queries, allowed, 5)
    exact = create_index("hnsw", M=16).build(x)
    s, _r = exact.search_rows(queries, allowed, 5)
    np.testing.assert_allclose(s, flat_s, atol=1e-5)
    filtered = create_index("hnsw", M=16, ef_search=64, restricted="filter").build(x)
    _, fr = filtered.search_rows(queries, allowed, 5)
    for i in range(len(queries)):
        assert np.isin(fr[i][fr[i] >= 0], allowed[i]).all()
    assert np.mean([len(set(fr[i]) & set(flat_r[i])) / 5 for i in range(len(queries))]) >= 0.6
