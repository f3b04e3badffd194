"""The `hnsw` index: the paper's M, both restricted-search modes on both graph libraries (faiss by
default, hnswlib when its extra is installed), and an install without hnswlib (issue 18)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from index_testdata import clustered_descriptors, unit_queries

from vprkit import create_index, get_index_spec
from vprkit.index.base import StaleIndexError, load_index

HAS_HNSWLIB = importlib.util.find_spec("hnswlib") is not None
BACKENDS = [
    "faiss",
    pytest.param("hnswlib", marks=pytest.mark.skipif(not HAS_HNSWLIB, reason="hnswlib (optional extra) not installed")),
]


def test_hnsw_defaults_are_the_papers():
    cfg = get_index_spec("hnsw").config()
    assert cfg.M == 512 and cfg.restricted == "exact"
    assert (cfg.ef_construction, cfg.ef_search) == (40, 16)  # faiss's, which the paper used
    assert cfg.backend == "faiss"  # the paper's library, and a wheel on every platform


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_restricted_mode_is_exact_and_filter_mode_stays_inside_candidates(backend):
    x, cells = clustered_descriptors(3000, 32, 60, seed=11)
    queries = unit_queries(x, 10, seed=12)
    allowed = [np.flatnonzero(np.isin(cells, [i, i + 20])) for i in range(len(queries))]
    flat_s, flat_r = create_index("flat").build(x).search_rows(queries, allowed, 5)
    exact = create_index("hnsw", M=16, backend=backend).build(x)
    s, _r = exact.search_rows(queries, allowed, 5)
    np.testing.assert_allclose(s, flat_s, atol=1e-5)
    filtered = create_index("hnsw", M=16, ef_search=64, restricted="filter", backend=backend).build(x)
    _, fr = filtered.search_rows(queries, allowed, 5)
    for i in range(len(queries)):
        assert np.isin(fr[i][fr[i] >= 0], allowed[i]).all()
    assert np.mean([len(set(fr[i]) & set(flat_r[i])) / 5 for i in range(len(queries))]) >= 0.6


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_graph_finds_the_true_neighbours_and_round_trips(backend, tmp_path):
    x, _ = clustered_descriptors(2000, 32, 40, seed=3)
    queries = unit_queries(x, 20, seed=4)
    index = create_index("hnsw", M=16, ef_search=64, backend=backend).build(x)
    _, true_rows = create_index("flat").build(x).search(queries, 10)
    scores, rows = index.search(queries, 10)
    assert np.mean([len(set(rows[i]) & set(true_rows[i])) / 10 for i in range(20)]) >= 0.9
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, x[rows]), atol=1e-5)  # inner products
    index.add(x[:5])
    assert index.ntotal == 2005
    index.save(tmp_path / "graph")
    again = load_index(tmp_path / "graph", mmap=True)
    np.testing.assert_array_equal(again.search(queries, 10)[1], index.search(queries, 10)[1])
    assert again.memory_bytes() >= x.nbytes  # the vectors (in the faiss graph, or hnswlib's copy)


@pytest.mark.skipif(not HAS_HNSWLIB, reason="hnswlib (optional extra) not installed")
def test_a_graph_saved_by_one_library_is_refused_by_the_other(tmp_path):
    x, _ = clustered_descriptors(500, 16, 10, seed=1)
    create_index("hnsw", M=8, backend="hnswlib").build(x).save(tmp_path / "graph")
    meta = (tmp_path / "graph" / "index.json").read_text().replace('"hnswlib"', '"faiss"')
    (tmp_path / "graph" / "index.json").write_text(meta)
    with pytest.raises(StaleIndexError):
        load_index(tmp_path / "graph")


def test_hnsw_works_without_hnswlib_installed(tmp_path):
    """A fresh install has no hnswlib (it has no wheel): the default backend needs none, and asking
    for hnswlib says how to get it in one line."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["hnswlib"] = None  # as if not installed: importing it raises ImportError
        import numpy as np
        from vprkit import create_index
        from vprkit.errors import ConfigError
        from vprkit.index.base import load_index
        rng = np.random.default_rng(0)
        x = rng.normal(size=(300, 16)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        index = create_index("hnsw", M=8).build(x)
        index.save({str(tmp_path / "g")!r})
        print(load_index({str(tmp_path / "g")!r}).search(x[:3], 1)[1].ravel().tolist())
        try:
            create_index("hnsw", backend="hnswlib").build(x)
        except ConfigError as exc:
            print("refused:", exc)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[0, 1, 2]"
    assert lines[1].startswith("refused:") and "vprkit[hnswlib]" in lines[1] and "backend=faiss" in lines[1]
