"""The timm-style registry: list with wildcards, create with overrides, helpful unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest

from vprkit import ConfigError, UnknownNameError, create_partitioner, list_partitioners
from vprkit.registry import KINDS, get_spec, list_methods

FAKE = Path(__file__).parent / "fake_dists"


@pytest.fixture
def foo_installed(monkeypatch, fresh_plugins):
    monkeypatch.syspath_prepend(str(FAKE / "good"))
    from vprkit.plugins import reset_plugins

    reset_plugins()


def test_kinds_are_the_six_of_the_design():
    assert KINDS == ("partitioner", "classifier", "retriever", "index", "reranker", "dataset")


def test_wildcards_filter_names(foo_installed):
    assert "foo" in list_partitioners("*")
    assert list_partitioners("fo?") == ["foo"]
    assert list_partitioners(["nothing*", "*oo"]) == ["foo"]
    assert list_partitioners("zzz*") == []


def test_listing_is_sorted_for_every_kind():
    for kind in KINDS:
        names = list_methods(kind)
        assert names == sorted(names)


def test_unknown_name_suggests_the_closest(foo_installed):
    with pytest.raises(UnknownNameError) as info:
        create_partitioner("fooo")
    assert "Did you mean 'foo'" in str(info.value)
    with pytest.raises(UnknownNameError):
        get_spec("partitioner", "definitely-not-registered")


def test_unknown_config_option_lists_valid_ones(foo_installed):
    with pytest.raises(ConfigError) as info:
        create_partitioner("foo", cell_sise=3)
    assert "cell_sise" in str(info.value) and "cell_size" in str(info.value)


def test_bad_config_value_is_a_config_error(foo_installed):
    with pytest.raises(ConfigError, match="cell_size"):
        create_partitioner("foo", cell_size="wide")


def test_config_dict_and_overrides_merge(foo_installed):
    part = create_partitioner("foo", {"cell_size": 10.0}, cell_size=5.0)
    assert part.config.cell_size == 5.0
