"""The faiss plugin: paper presets of ``ivfpq``, training-size rules, ``flat`` restricted search."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from index_testdata import assert_same_topk, clustered_descriptors, unit_queries

from vprkit import create_index, get_index_spec
from vprkit.errors import ConfigError, DataError


def test_ivfpq_defaults_are_the_papers():
    cfg = get_index_spec("ivfpq").config()
    assert (cfg.nlist, cfg.m, cfg.nbits) == (1000, 128, 8)
    assert cfg.effective_nprobe() == 50
    assert get_index_spec("ivfpq").config(preset="speed").effective_nprobe() == 2
    assert get_index_spec("ivfpq").config(preset="speed", nprobe=7).effective_nprobe() == 7
    with pytest.raises(ConfigError, match="preset"):
        create_index("ivfpq", preset="fast")


def test_ivfpq_small_database_clamps_nlist_or_refuses():
    x, _ = clustered_descriptors(1200, 32, 40, seed=2)
    index = create_index("ivfpq", m=8).build(x)
    assert index.nlist_effective == 1200 // 39 and index.nprobe == min(50, 1200 // 39)
    settings = index.settings()  # what bundles and run reports record
    assert settings["nlist"] == 1000 and settings["nlist_effective"] == 1200 // 39
    assert settings["nprobe_effective"] == index.nprobe and settings["m"] == 8
    with pytest.raises(DataError, match="nlist=1000 needs at least 39000"):
        create_index("ivfpq", m=8, clamp_nlist=False).build(x)
    with pytest.raises(DataError, match="must divide"):
        create_index("ivfpq", m=7).build(x)
    with pytest.raises(DataError, match="at least 256 training rows"):
        create_index("ivfpq", m=8).build(x[:100])


def test_ivfpq_speed_preset_probes_fewer_lists_than_recall():
    x, _ = clustered_descriptors(4000, 32, 80, seed=3)
    queries = unit_queries(x, 30, seed=4)
    exact = create_index("flat").build(x).search(queries, 10)[1]

    def recall(preset):
        rows = create_index("ivfpq", m=8, preset=preset).build(x).search(queries, 10)[1]
        return np.mean([len(set(rows[i]) & set(exact[i])) / 10 for i in range(len(queries))])

    assert recall("recall") > recall("speed")


def test_flat_restricted_search_equals_index_flat_ip_with_id_selector():
    x, cells = clustered_descriptors(5000, 48, 200, seed=8)
    queries = unit_queries(x, 6, seed=9)
    index = create_index("flat").build(x)
    allowed = [np.flatnonzero(np.isin(cells, np.arange(i, 200, 25))) for i in range(len(queries))]
    scores, rows = index.search_rows(queries, allowed, 10)
    reference = faiss.IndexFlatIP(48)
    reference.add(x)
    for i, rows_i in enumerate(allowed):
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows_i))
        ref_s, ref_r = reference.search(queries[i : i + 1], 10, params=params)
        assert_same_topk(scores[i : i + 1], rows[i : i + 1], ref_s, ref_r)
