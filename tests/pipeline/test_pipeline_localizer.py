"""The classify → retrieve pipeline on a real (tiny) synthcity with real (untrained) models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vprkit import create_classifier, create_partitioner, create_retriever
from vprkit.data.images import open_image
from vprkit.data.standard import load_split
from vprkit.errors import DataError
from vprkit.pipeline import BundleError, Localizer, MapBundle, build_bundle, evaluate


@pytest.fixture(scope="module")
def tiny_bundle(synthcity_tiny, tmp_path_factory):
    train = load_split(synthcity_tiny, "train")
    database = load_split(synthcity_tiny, "test/database")
    partition = create_partitioner("dnc", min_images_per_class=1).fit(train.east, train.north)
    torch.manual_seed(0)
    classifier = create_classifier("dnc", backbone="tinycnn").build(partition)
    retriever = create_retriever("cosplace", backbone="tinycnn")
    out = tmp_path_factory.mktemp("bundle")
    return build_bundle(out, database, classifier=classifier, retriever=retriever)


@pytest.fixture(scope="module")
def queries(synthcity_tiny):
    q = load_split(synthcity_tiny, "test/queries")
    return q, [open_image(q.root / p) for p in q.paths.tolist()[:8]]


def _query_inputs(bundle, images, want):
    with torch.inference_mode():
        desc = bundle.retriever.encode(torch.stack([bundle.retriever.transform(i) for i in images])).numpy()
        pred = bundle.classifier.classify(torch.stack([bundle.classifier.transform(i) for i in images]), want)
    return desc, pred


def _database_descriptors(bundle):
    store = bundle.store
    desc = np.empty_like(store.descriptors)
    desc[store.row_ids] = store.descriptors
    return desc


def test_mixed_pipeline_equals_brute_force_restricted_to_the_top_cells(tiny_bundle, queries):
    _, images = queries
    topn, k = 5, 4
    loc = Localizer(tiny_bundle, topn=topn, k=k).localize(images)
    desc, pred = _query_inputs(tiny_bundle, images, topn + k)
    db = _database_descriptors(tiny_bundle)
    cells, _ = tiny_bundle.classifier.partition.assign(tiny_bundle.database.east, tiny_bundle.database.north)
    for i in range(len(images)):  # the reference: a plain scan over the allowed rows
        allowed = np.flatnonzero(np.isin(cells, pred.classes[i, :topn]))
        assert loc.candidates[i] == len(allowed)
        order = allowed[np.argsort(-(db[allowed] @ desc[i]), kind="stable")][:k]
        assert loc.rows[i, : len(order)].tolist() == order.tolist()
        db_xy = np.stack([tiny_bundle.database.east[order], tiny_bundle.database.north[order]], 1)
        np.testing.assert_allclose(loc.coords[i, : len(order)], db_xy)
    assert np.array_equal(loc.cells, pred.classes[:, :topn])


def test_retrieval_only_searches_every_row(tiny_bundle, queries):
    _, images = queries
    loc = Localizer(tiny_bundle, use_classifier=False, k=3).localize(images)
    desc, _ = _query_inputs(tiny_bundle, images, 1)
    expected = np.argsort(-(desc @ _database_descriptors(tiny_bundle).T), axis=1, kind="stable")[:, :3]
    assert np.array_equal(loc.rows, expected)
    assert (loc.candidates == len(tiny_bundle.database)).all() and loc.cells is None


def test_classification_only_returns_class_coordinates(tiny_bundle, queries):
    _, images = queries
    loc = Localizer(tiny_bundle, use_retriever=False, k=5).localize(images)
    _, pred = _query_inputs(tiny_bundle, images, 5)
    np.testing.assert_allclose(loc.coords, pred.coords)
    assert (loc.rows == -1).all() and np.isfinite(loc.confidence).all()


def test_fill_up_rule_uses_the_next_classes(tiny_bundle, queries):
    _, images = queries
    k = 20
    loc = Localizer(tiny_bundle, topn=1, k=k).localize(images)
    _, pred = _query_inputs(tiny_bundle, images, 1 + k)
    for i in range(len(images)):
        n_rows = int((loc.rows[i] >= 0).sum())
        assert n_rows == min(loc.candidates[i], k)
        filled = loc.coords[i, n_rows:]
        np.testing.assert_allclose(filled, pred.coords[i, 1 : 1 + k - n_rows])


def test_evaluate_report_has_every_field(tiny_bundle, queries):
    q, _ = queries
    report = evaluate(Localizer(tiny_bundle, topn=3), q, batch_size=16).report
    assert set(report["lr"]) == {"1", "5", "10", "20"}
    assert all(0.0 <= v <= 100.0 for v in report["lr"].values())
    assert report["lr"]["1"] <= report["lr"]["5"] <= report["lr"]["10"] <= report["lr"]["20"]
    assert set(report["latency_ms"]) == {"extract", "classify", "gather", "knn", "total"}
    assert report["latency_ms"]["total"] == pytest.approx(
        sum(v for s, v in report["latency_ms"].items() if s != "total"), rel=1e-3
    )
    assert report["queries"] == len(q) and report["database_size"] == len(
        load_split(q.root.parent.parent.parent, "test/database")
    )
    assert 0 < report["candidates"] <= report["database_size"]
    assert report["memory_bytes"]["store"] > 0 and report["throughput_qps"] > 0


@pytest.mark.parametrize("topn", [1, 3])
def test_positives_in_candidates_matches_a_plain_scan(tiny_bundle, queries, topn):
    from vprkit.data.positives import positives_within

    q, _ = queries
    evaluation = evaluate(Localizer(tiny_bundle, topn=topn), q, batch_size=16)
    report, loc = evaluation.report, evaluation.localization
    db = tiny_bundle.database
    cells, _ = tiny_bundle.classifier.partition.assign(db.east, db.north)
    truth = np.stack([q.east, q.north], axis=1)
    pos = positives_within(truth, np.stack([db.east, db.north], axis=1), 25.0)
    kept = [bool(np.isin(cells[pos[i]], loc.cells[i]).any()) for i in range(len(q))]  # the reference
    assert report["positives"]["positives_in_candidates_pct"] == pytest.approx(100.0 * np.mean(kept), abs=0.01)
    assert report["positives"]["queries_with_positives_pct"] == pytest.approx(100.0 * np.mean(pos.counts > 0), abs=0.01)
    assert 0 < np.mean(kept) < 1  # the tiny city and untrained classifier leave both kinds of query


def test_bundle_refuses_a_tampered_or_damaged_manifest(tiny_bundle, tmp_path):
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle.root, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["retriever"]["fingerprint"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="retriever does not match"):
        MapBundle.load(copy)
    (copy / "manifest.json").write_text("{ not json")
    with pytest.raises(BundleError, match="corrupted"):
        MapBundle.load(copy)
    with pytest.raises(BundleError, match="not a map bundle"):
        MapBundle.load(tmp_path / "nowhere")


def test_unreadable_query_image_is_named(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.jpg"):
        open_image(bad)
