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


def test_lightglue_without_kornia_names_the_extra(monkeypatch):
    import sys

    for mod in [m for m in sys.modules if m == "kornia" or m.startswith("kornia.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "kornia", None)  # as if not installed: importing it fails
    with pytest.raises(ConfigError, match=r"needs kornia: pip install 'vprkit\[rerank\]'") as info:
        create_reranker("lightglue")
    assert "\n" not in str(info.value)


def test_lightglue_downloads_nothing_unless_asked(monkeypatch):
    import torch.hub

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    reranker = create_reranker("lightglue")
    assert reranker.config.pretrained is False
    spec = get_reranker_spec("lightglue")
    assert {r.name for r in spec.releases} == {"disk-depth", "lightglue-disk"} and spec.card.license
