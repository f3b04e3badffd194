"""A classifier's spec names its partitioner (``ClassifierSpec.partitioner``): the trainers fit
that one, and creating a classifier whose partitioner is not installed fails at once, naming it."""

from __future__ import annotations

import pytest

from vprkit import PluginError, create_classifier, list_classifiers
from vprkit.registry import get_classifier_spec, missing_partitioner


@pytest.fixture
def without_s2(monkeypatch, fresh_plugins):
    monkeypatch.setenv("VPRKIT_DISABLE_PLUGINS", "s2")
    from vprkit.plugins import reset_plugins

    reset_plugins()


def test_every_builtin_classifier_names_an_installed_partitioner():
    for name in list_classifiers():
        spec = get_classifier_spec(name)
        assert spec.partitioner and missing_partitioner(spec) is None, name


@pytest.mark.parametrize("name", ["planet", "mvmf"])
def test_a_classifier_without_its_partitioner_fails_at_create_time(without_s2, name):
    assert name in list_classifiers()  # still listed (and its saved models still load)
    assert missing_partitioner(get_classifier_spec(name)) == "s2"
    with pytest.raises(PluginError) as info:
        create_classifier(name, backbone="tinycnn")
    message = str(info.value)
    assert f"classifier {name!r} needs partitioner 's2', which is not installed" in message
    assert "VPRKIT_DISABLE_PLUGINS" in message and "\n" not in message
    assert type(create_classifier("dnc", backbone="tinycnn")).__name__ == "DncClassifier"  # others unaffected


def test_plugins_list_marks_a_classifier_without_its_partitioner(without_s2):
    from vprkit.cli.plugins_cmd import plugins_table

    rows = {r["name"]: r for r in plugins_table()["classifier"]}
    assert rows["planet"]["missing_partitioner"] == "s2" and "missing_partitioner" not in rows["dnc"]
