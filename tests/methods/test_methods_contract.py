"""Contract of every registered classifier (built-in or third-party): trains on synthcity tiny with
``pretrained=False`` and ``tinycnn``, ranks classes of its own partition, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from classifier_testdata import trained_classifier

from vprkit.models.interfaces import ClassPrediction, TrainedClassifier
from vprkit.registry import list_classifiers
from vprkit.training.recipe import load_train_split


@pytest.mark.parametrize("name", list_classifiers())
def test_classifier_contract(name, synthcity_tiny, tmp_path_factory):
    model, model_dir = trained_classifier(name, synthcity_tiny, tmp_path_factory)
    assert isinstance(model, TrainedClassifier)
    part = model.partition
    c = part.num_classes
    assert c > 1
    # the classes the model ranks are the classes partition.assign gives points (the pipeline's contract)
    train = load_train_split(synthcity_tiny)
    labels, _ = part.assign(train.east, train.north)
    kept = part.train_labels >= 0
    assert np.array_equal(labels[kept], part.train_labels[kept])

    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    k = min(5, c)
    pred = model.classify(images, k)
    assert isinstance(pred, ClassPrediction)
    assert pred.classes.shape == (3, k) and pred.classes.dtype == np.int64
    assert pred.scores.shape == (3, k) and pred.scores.dtype == np.float32
    assert pred.coords.shape == (3, k, 2) and pred.confidence.shape == (3,)
    assert np.all((pred.classes >= 0) & (pred.classes < c))
    assert all(len(set(row)) == k for row in pred.classes.tolist())  # no class twice
    assert np.all(np.diff(pred.scores, axis=1) <= 0)
    assert np.array_equal(pred.coords, part.class_coords[pred.classes])
    assert model.classify(images, c + 10).classes.shape == (3, c)  # k is capped at the number of classes

    loaded = type(model).load(model_dir)
    assert loaded.fingerprint() == model.fingerprint()
    again = loaded.classify(images, k)
    assert np.array_equal(again.classes, pred.classes)
    np.testing.assert_allclose(again.scores, pred.scores, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(again.confidence), np.isnan(pred.confidence))


@pytest.mark.parametrize("name", list_classifiers())
def test_classifier_is_the_first_stage_of_a_pipeline(name, synthcity_tiny, tmp_path_factory, tmp_path):
    """Top cells restrict retrieval to the database rows ``partition.assign`` put in them; the bundle reloads."""
    from vprkit import create_retriever
    from vprkit.data.standard import load_split
    from vprkit.pipeline import Localizer, MapBundle, build_bundle
    from vprkit.pipeline.images import open_image

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
