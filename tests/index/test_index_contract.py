"""Contract every registered index honours (parametrised over ``list_indexes()``; ``flat`` is the
core cell-sorted store), checked by :mod:`vprkit.testing` one part at a time (``INDEX_CHECKS``): build,
search shapes, recall against exact search, padding, restricted search returns only allowed rows,
save/load round trip, stale fingerprints and changed payloads refused, bad input refused, ``add``."""

from __future__ import annotations

import pytest

from vprkit import create_index, list_indexes, testing
from vprkit.index import DescriptorIndex

#: Smaller-than-paper settings so the contract runs in seconds; paper defaults are tested per plugin.
FAST_OVERRIDES = {"ivfpq": {"m": 16}, "hnsw": {"M": 16, "ef_search": 64}}
#: indexes that must find the exact top-k (recall 1, ``search_rows`` over all rows = ``search``)
EXACT = {"flat"}
N, DIM, CELLS = 3000, 64, 100
NAMES = list_indexes()


@pytest.fixture(scope="module")
def data():
    return testing.index_data(N, DIM, CELLS, seed=5)


def make(name: str) -> DescriptorIndex:
    return create_index(name, **FAST_OVERRIDES.get(name, {}))


@pytest.fixture(scope="module")
def built(data):
    return {name: make(name).build(data.x, fingerprint=data.fingerprint) for name in NAMES}


def test_every_builtin_index_is_registered():
    assert {"flat", "ivfpq", "hnsw"} <= set(list_indexes())


@pytest.mark.parametrize("check", testing.INDEX_CHECKS)
@pytest.mark.parametrize("name", NAMES)
def test_index_contract(name, check, built, data, tmp_path):
    testing.check_index(
        name, tmp_path, make=lambda: make(name), exact=name in EXACT, data=data, built=built[name], only=(check,)
    )


#: other configurations of ``flat`` that must honour the same contract, exactly
FLAT_VARIANTS = {
    "float16": {"storage": "float16"},
    "torch": {"kernel": "torch"},
    "torch-float16": {"kernel": "torch", "storage": "float16"},
}


@pytest.mark.parametrize("variant", sorted(FLAT_VARIANTS))
def test_flat_variants_honour_the_contract(variant, data, tmp_path):
    settings = FLAT_VARIANTS[variant]
    testing.check_index("flat", tmp_path, make=lambda: create_index("flat", **settings), exact=True, data=data)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_indexes_hold_the_vectors(name, built, data):
    assert built[name].memory_bytes() >= data.x.nbytes
