"""Issue 19: every registered re-ranker passes the contract checks (offline, random weights for
the learned one), and the registry wires the sixth kind like the others."""

from __future__ import annotations

import pytest

from vprkit import RerankerSpec, create_reranker, get_reranker_spec, list_rerankers, testing
from vprkit.errors import ConfigError, UnknownNameError


def test_the_built_in_rerankers_are_registered():
    assert {"sift", "lightglue"} <= set(list_rerankers())
    assert list_rerankers("s*") == ["sift"]
    assert isinstance(get_reranker_spec("sift"), RerankerSpec)


@testing.parametrize_registered("reranker")
def test_reranker_contract(name, tmp_path, one_torch_thread):
    testing.check_reranker(name, tmp_path, overrides={"max_keypoints": 256} if name == "lightglue" else None)


def test_unknown_reranker_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'sift'"):
        create_reranker("sfit")


def test_reranker_config_is_typed():
    with pytest.raises(ConfigError, match="ratio"):
        create_reranker("sift", ratio=2.0)
    with pytest.raises(ConfigError, match="geometry"):
        create_reranker("sift", geometry="affine")
    with pytest.raises(ConfigError, match="ratoi"):
        create_reranker("sift", ratoi=0.7)
