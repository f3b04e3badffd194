"""``vprkit.testing`` catches what it promises to catch: a broken method fails with a message
naming the method and the broken promise (the built-ins passing is tested by the contract tests)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vprkit import create_index, create_retriever, testing


def test_parametrize_registered_lists_the_installed_methods():
    mark = testing.parametrize_registered("index")
    assert mark.args == ("name", testing.registered("index")) and "flat" in mark.args[1]


def test_small_config_applies_only_the_fields_a_config_has():
    config = testing.small_config("retriever", "gem", {"fc_output_dim": 16})
    assert config.backbone == "tinycnn" and config.pretrained is False and config.fc_output_dim == 16
    assert testing.has_field(type(config), "training.device") and not testing.has_field(type(config), "partition.M")


def test_unnormalised_descriptors_are_caught(tmp_path):
    torch.manual_seed(0)
    model = create_retriever("gem", testing.small_config("retriever", "gem"))
    encode = model.encode
    model.encode = lambda images: 2 * encode(images)
    with pytest.raises(AssertionError, match=r"retriever .gem..*L2-normalised"):
        testing.check_retriever("gem", tmp_path, model=model)


def test_a_restricted_search_that_ignores_its_rows_is_caught(tmp_path):
    def make():
        index = create_index("flat")
        index.search_rows = lambda queries, rows, k: index.search(queries, k)
        return index

    with pytest.raises(AssertionError, match=r"index .flat..*outside the allowed"):
        testing.check_index("flat", tmp_path, make=make, data=testing.index_data(500, 16, 10), only=("search_rows",))


def test_a_wrong_recall_bar_is_caught(tmp_path):
    data = testing.index_data(500, 16, 10)
    shuffled = dataclasses.replace(data, x=np.ascontiguousarray(data.x[::-1]))  # built on other rows
    index = create_index("flat").build(shuffled.x, fingerprint=data.fingerprint)
    with pytest.raises(AssertionError, match="recall@10"):
        testing.check_index("flat", tmp_path, data=data, built=index, exact=True, only=("search",))


def test_unknown_index_checks_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown index checks"):
        testing.check_index("flat", tmp_path, only=("speed",))
