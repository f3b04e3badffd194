"""Contract of every registered classifier (built-in or third-party), checked by
:func:`vprkit.testing.check_classifier`: trained on synthcity tiny with ``pretrained=False`` and
``tinycnn``, it ranks classes of its own partition, saves and loads; an untrained one built on a
partition of a synthetic city passes the same checks. It is also the first stage of a pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from classifier_testdata import trained_classifier

from vprkit import testing
from vprkit.registry import list_classifiers

#: partitions of the synthetic 400 m test city (3,000 points) for the untrained check
SMALL_CITY = {
    "dnc": {"partition.min_images_per_class": 2},
    "planet": {"partition.tau_min": 5, "partition.tau_max": 100},
    "mvmf": {"partition.tau_min": 5, "partition.tau_max": 100},
    "hge": {
        "partition.tau_min": 5,
        "partition.tau_max_fine": 100,
        "partition.tau_max_medium": 300,
        "partition.tau_max_coarse": 800,
    },
    "cplanet": {"partition.num_geoclasses": [6, 6, 8, 7, 7]},
}


@pytest.mark.parametrize("name", list_classifiers())
def test_classifier_contract(name, synthcity_tiny, tmp_path_factory, tmp_path):
    model, model_dir = trained_classifier(name, synthcity_tiny, tmp_path_factory)
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    testing.check_classifier(name, tmp_path, model=model, model_dir=model_dir, dataset=synthcity_tiny, images=images)


@pytest.mark.parametrize("name", list_classifiers())
def test_untrained_classifier_contract(name, tmp_path, one_torch_thread):
    torch.manual_seed(0)
    model = testing.check_classifier(name, tmp_path, overrides=SMALL_CITY.get(name))
    assert model.training_summary == {}


@pytest.mark.parametrize("name", list_classifiers())
def test_classifier_is_the_first_stage_of_a_pipeline(name, synthcity_tiny, tmp_path_factory, tmp_path):
    """Top cells restrict retrieval to the database rows ``partition.assign`` put in them; the bundle reloads."""
    from vprkit import create_retriever
    from vprkit.data.images import open_image
    from vprkit.data.standard import load_split
    from vprkit.pipeline import Localizer, MapBundle, build_bundle

    model, _ = trained_classifier(name, synthcity_tiny, tmp_path_factory)
    database = load_split(synthcity_tiny, "test/database")
    queries = load_split(synthcity_tiny, "test/queries")
    torch.manual_seed(0)
    retriever = create_retriever("cosplace", backbone="tinycnn", fc_output_dim=16)
    build_bundle(tmp_path / "bundle", database, classifier=model, retriever=retriever)
    bundle = MapBundle.load(tmp_path / "bundle")
    assert type(bundle.classifier) is type(model) and bundle.classifier.fingerprint() == model.fingerprint()
    images = [open_image(queries.root / p) for p in queries.paths.tolist()[:3]]
    topn = min(2, model.partition.num_classes)
    result = Localizer(bundle, topn=topn, k=3).localize(images)
    pred = bundle.classifier.classify(torch.stack([bundle.classifier.transform(i) for i in images]), topn)
    cells, _ = model.partition.assign(database.east, database.north)
    for i in range(len(images)):
        assert result.candidates[i] == int(np.isin(cells, pred.classes[i]).sum())
