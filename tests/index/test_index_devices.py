"""Searching on a device: the torch kernel of ``flat`` (checked on the CPU against the faiss and
NumPy kernels; on CUDA where a GPU is present), ``to_device`` of every index, and faiss GPU
``ivfpq`` (skipped without a faiss GPU build). Tests that need a GPU skip cleanly without one."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch
from index_testdata import assert_same_topk, clustered_descriptors, unit_queries
from vprkit_faiss.ivfpq import faiss_gpu_count

from vprkit import create_index, list_indexes
from vprkit.errors import ConfigError
from vprkit.index import CandidateRows, CellSortedDescriptors
from vprkit.index.base import parse_device
from vprkit.index.exact import csr_to_padded, resolve_kernel, topk_all, topk_subset
from vprkit.index.torch_kernel import as_tensor, torch_topk_all, torch_topk_subset

N, DIM, N_CELLS = 4000, 32, 200
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device for torch")
FAISS_GPU = pytest.mark.skipif(faiss_gpu_count() == 0, reason="faiss is the CPU build or sees no GPU")
FAST_OVERRIDES = {"ivfpq": {"m": 8}, "hnsw": {"M": 16, "ef_search": 64}}


@pytest.fixture(scope="module")
def data():
    x, cells = clustered_descriptors(N, DIM, N_CELLS, seed=41, tail=120)
    return x, cells, unit_queries(x, 13, seed=42)


@pytest.fixture(scope="module")
def references(data):
    x, cells, _ = data
    return {
        kern: CellSortedDescriptors(kernel=kern).build(x, cells=cells, n_cells=N_CELLS) for kern in ("faiss", "numpy")
    }


def ragged_top_cells(n_queries: int) -> np.ndarray:
    """(q, 12) distinct cells per query; query 1 ragged (-1 tail), query 2 only -1."""
    top = np.stack([np.random.default_rng(100 + i).choice(N_CELLS, 12, replace=False) for i in range(n_queries)])
    top[1, 4:] = -1
    top[2] = -1
    return top


def compare_every_entry_point(store, references, data, *, atol):
    """search, search_rows (lists, CSR with an empty query, every row), search_cells (ragged,
    only -1) for k = 1, 10 and more than the candidates: the same rows as every reference kernel."""
    _, cells, queries = data
    top = ragged_top_cells(len(queries))
    allowed = [np.flatnonzero(np.isin(cells, [i, i + 50])) for i in range(len(queries))]
    allowed[5] = np.zeros(0, np.int64)
    csr = CandidateRows(np.concatenate(allowed), np.concatenate([[0], np.cumsum([len(a) for a in allowed])]))
    for ref in references.values():
        for k in (1, 10, 250):
            for got, want in (
                (store.search(queries, k), ref.search(queries, k)),
                (store.search_rows(queries, allowed, k), ref.search_rows(queries, allowed, k)),
                (store.search_rows(queries, csr, k), ref.search_rows(queries, allowed, k)),
                (store.search_rows(queries, np.arange(N), k), ref.search(queries, k)),
                (store.search_cells(queries, top, k), ref.search_cells(queries, top, k)),
            ):
                assert got[0].dtype == np.float32 and got[1].dtype == np.int64
                assert got[0].shape == got[1].shape == (len(queries), k)
                assert_same_topk(*got, *want, atol=atol)
                assert np.array_equal(got[1] < 0, want[1] < 0) and np.isneginf(got[0][got[1] < 0]).all()
    scores, rows = store.search_cells(queries, top, 5)
    assert (rows[2] == -1).all() and np.isneginf(scores[2]).all()


@pytest.mark.parametrize("storage", ["float32", "float16"])
def test_torch_kernel_on_cpu_gives_what_faiss_and_numpy_give(data, references, storage):
    x, cells, _ = data
    store = create_index("flat", kernel="torch", storage=storage).build(x, cells=cells, n_cells=N_CELLS)
    assert store.kernel == "torch" and store.device == "cpu"
    compare_every_entry_point(store, references, data, atol=1e-5)
    tensor = store._torch_data()
    assert tensor.device.type == "cpu" and tensor.dtype == (torch.float32 if storage == "float32" else torch.float16)
    scoring = store.descriptors if storage == "float32" else store.descriptors_f16
    assert tensor.data_ptr() == scoring.ctypes.data  # a zero-copy view on the CPU


def test_to_device_cpu_keeps_the_configured_kernel_and_a_torch_store_runs_there(data, references):
    x, cells, _ = data
    auto = CellSortedDescriptors().build(x, cells=cells, n_cells=N_CELLS)
    assert auto.to_device("cpu") is auto and auto.kernel == resolve_kernel("auto")
    torch_store = CellSortedDescriptors(kernel="torch").to_device(torch.device("cpu"))  # before build: fine
    torch_store.build(x, cells=cells, n_cells=N_CELLS)
    assert torch_store.kernel == "torch"
    compare_every_entry_point(torch_store, {"faiss": references["faiss"]}, data, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_torch_kernels_in_small_chunks_equal_one_chunk(data, dtype):
    """Tiny chunk budgets split queries, candidate lists and database blocks."""
    x, cells, queries = data
    database = as_tensor(x).to(dtype)
    lists = [np.flatnonzero(np.isin(cells, [i, i + 3, i + 77])) for i in range(len(queries))]
    lists[0] = np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in lists])])
    subset = csr_to_padded(np.concatenate(lists), offsets)
    for k in (3, 60):
        whole = torch_topk_subset(queries, database, subset, k)
        assert_same_topk(*torch_topk_subset(queries, database, subset, k, chunk_bytes=4096), *whole, atol=1e-6)
        every = torch_topk_all(queries, database, k)
        assert_same_topk(*torch_topk_all(queries, database, k, chunk_bytes=4096), *every, atol=1e-6)
        if dtype == torch.float32:
            assert_same_topk(*whole, *topk_subset(queries, x, subset, k, "faiss"), atol=1e-5)
            assert_same_topk(*every, *topk_all(queries, x, k, "faiss"), atol=1e-5)


def test_the_exact_kernels_take_torch(data):
    x, cells, queries = data
    subset = csr_to_padded(*_csr([np.flatnonzero(cells == i) for i in range(len(queries))]))
    assert resolve_kernel("torch") == "torch"
    assert_same_topk(*topk_subset(queries, x, subset, 8, "torch"), *topk_subset(queries, x, subset, 8, "faiss"))
    assert_same_topk(*topk_all(queries, x, 8, "torch"), *topk_all(queries, x, 8, "faiss"))
    with pytest.raises(ConfigError, match="'torch'"):
        resolve_kernel("cuda")


def _csr(lists):
    return np.concatenate(lists), np.concatenate([[0], np.cumsum([len(r) for r in lists])])


def test_parse_device():
    assert parse_device("cpu") == ("cpu", None) and parse_device(" CUDA ") == ("cuda", None)
    assert parse_device("cuda:1") == ("cuda", 1) and parse_device(torch.device("cuda", 2)) == ("cuda", 2)
    assert parse_device(torch.device("cpu")) == ("cpu", None)
    for bad in ("gpu", "cuda:x", "cpu:1", ""):
        with pytest.raises(ConfigError, match="expected cpu, cuda or cuda:N"):
            parse_device(bad)


@pytest.mark.parametrize("name", list_indexes())
def test_every_index_answers_to_device(name, data):
    x, _, queries = data
    index = create_index(name, **FAST_OVERRIDES.get(name, {})).build(x)
    assert index.to_device("cpu") is index
    before = index.search(queries, 5)
    try:
        moved = index.to_device("cuda:0")
    except ConfigError as exc:  # no GPU path, or none here: one line naming the index
        assert name in str(exc) and "\n" not in str(exc)
    else:
        assert moved is index
        assert moved.search(queries, 5)[0].shape == (len(queries), 5)
        assert index.to_device("cpu") is index
    np.testing.assert_array_equal(index.search(queries, 5)[1], before[1])


def test_indexes_without_a_gpu_path_say_so(data):
    x, _, _ = data
    hnsw = create_index("hnsw", M=16).build(x)
    with pytest.raises(ConfigError, match="index 'hnsw' has no GPU path"):
        hnsw.to_device("cuda")
    with pytest.raises(ConfigError, match="expected cpu, cuda"):
        hnsw.to_device("tpu")


def test_flat_refuses_a_device_it_cannot_use(data):
    x, _, _ = data
    with pytest.raises(ConfigError, match="kernel 'faiss' runs on the CPU; set kernel=torch"):
        CellSortedDescriptors(kernel="faiss").build(x).to_device("cuda")
    with pytest.raises(ConfigError, match="is not supported"):
        CellSortedDescriptors().build(x).to_device(torch.device("meta"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_flat_without_cuda_refuses_it(data):
    x, _, _ = data
    store = CellSortedDescriptors().build(x)
    with pytest.raises(ConfigError, match="not available to torch here"):
        store.to_device("cuda:0")
    assert store.device == "cpu" and store.kernel == resolve_kernel("auto")


@pytest.mark.skipif(hasattr(faiss, "StandardGpuResources"), reason="faiss here is a GPU build")
def test_ivfpq_on_a_cpu_build_of_faiss_refuses_cuda(data):
    x, _, queries = data
    index = create_index("ivfpq", m=8).build(x)
    with pytest.raises(ConfigError, match="faiss here is the CPU build; install faiss-gpu"):
        index.to_device("cuda")
    assert index.device == "cpu" and index.search(queries, 3)[1].shape == (len(queries), 3)


@CUDA
@pytest.mark.parametrize("storage", ["float32", "float16"])
def test_flat_on_cuda_gives_what_the_cpu_kernels_give(data, references, storage):
    x, cells, _ = data
    store = create_index("flat", storage=storage).build(x, cells=cells, n_cells=N_CELLS)
    assert store.to_device("cuda") is store and store.device == "cuda:0" and store.kernel == "torch"
    tensor = store._device_data
    assert tensor is not None and tensor.is_cuda  # copied at to_device, in the storage dtype
    assert tensor.dtype == (torch.float32 if storage == "float32" else torch.float16)
    # float16 products on the GPU pick the shortlist; its float32 re-ranking on the host is exact
    compare_every_entry_point(store, references, data, atol=1e-5)
    store.to_device("cpu")
    assert store._device_data is None and store.kernel == resolve_kernel("auto")


@FAISS_GPU
def test_ivfpq_on_a_faiss_gpu(tmp_path, data):
    x, cells, queries = data
    index = create_index("ivfpq", m=8).build(x)
    _, cpu_rows = index.search(queries, 10)
    allowed = [np.flatnonzero(np.isin(cells, [i, i + 1])) for i in range(len(queries))]
    cpu_restricted = index.search_rows(queries, allowed, 10)
    assert index.to_device("cuda:0") is index and index.device == "cuda:0"
    scores, rows = index.search(queries, 10)
    assert scores.dtype == np.float32 and rows.dtype == np.int64 and rows.shape == (len(queries), 10)
    overlap = np.mean([len(set(rows[i]) & set(cpu_rows[i])) / 10 for i in range(len(queries))])
    assert overlap >= 0.8  # float16 lookup tables on the GPU: nearly the CPU's answer
    restricted = index.search_rows(queries, allowed, 10)  # runs on the CPU index: the same answer
    np.testing.assert_array_equal(restricted[1], cpu_restricted[1])
    index.add(x[:10])  # re-cloned
    assert index.ntotal == N + 10 and index.search(x[:1], 1)[0].shape == (1, 1)
    loaded_folder = index.save(tmp_path / "ivfpq")
    assert loaded_folder.is_dir()
    assert index.to_device("cpu").device == "cpu"
