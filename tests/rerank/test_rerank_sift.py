"""Issue 19: `sift` re-ranking on synthcity tiny re-orders a shortlist deterministically and ranks
an exact copy of the query first; the pipeline's rerank stage keeps what it promises."""

from __future__ import annotations

import numpy as np
import pytest

from vprkit import create_reranker
from vprkit.contracts import RerankCandidates
from vprkit.data.images import open_image
from vprkit.data.standard import load_split


@pytest.fixture(scope="module")
def database(synthcity_tiny):
    return load_split(synthcity_tiny, "test/database")


@pytest.fixture(scope="module")
def sift():
    return create_reranker("sift")


def _images(db, rows):
    return [open_image(db.root / db.paths[r]) for r in rows]


def test_an_exact_copy_of_the_query_is_ranked_first(database, sift):
    first = _images(database, range(60))
    counts = np.array([len(sift.extract(img)) for img in first])
    query_row = int(np.argmax(counts))  # a view with keypoints (some synthcity views are sky and wall)
    assert counts[query_row] >= 8
    others = [r for r in range(60) if r != query_row][:9]
    rows = np.array([*others[:6], query_row, *others[6:]], dtype=np.int64)  # the copy 7th by retrieval
    scores = np.linspace(0.9, 0.1, len(rows)).astype(np.float32)
    query = open_image(database.root / database.paths[query_row])
    out = sift.rerank(query, RerankCandidates(rows, scores, images=_images(database, rows)), threads=2)
    assert out.rows[0] == query_row and out.order[0] == 6
    assert out.inliers[0] > out.inliers[1]
    assert np.array_equal(out.scores, out.inliers.astype(np.float32))


def test_sift_reranking_is_deterministic(database, sift):
    rows = np.arange(10, 30, dtype=np.int64)
    scores = np.linspace(1, 0, len(rows)).astype(np.float32)
    query = open_image(database.root / database.paths[5])
    runs = [
        sift.rerank(query, RerankCandidates(rows, scores, images=_images(database, rows)), threads=t) for t in (1, 2, 2)
    ]
    for other in runs[1:]:
        assert np.array_equal(other.order, runs[0].order) and np.array_equal(other.inliers, runs[0].inliers)
    # ties keep their retrieval order (zero inliers are common on 64-pixel views)
    ties = runs[0].scores[1:] == runs[0].scores[:-1]
    assert (runs[0].order[1:][ties] > runs[0].order[:-1][ties]).all()


def test_homography_and_threshold_are_honoured(database):
    query = open_image(database.root / database.paths[3])
    fund = create_reranker("sift")
    homo = create_reranker("sift", geometry="homography", ransac_threshold=1.0)
    assert fund.fingerprint() != homo.fingerprint()
    f = fund.extract(query)
    assert fund.verify(f, f).inliers == homo.verify(f, f).inliers == len(fund.tentative_matches(f, f))


def test_the_localizer_reranks_the_head_and_cuts_to_k(build_tiny_bundle, synthcity_tiny, tmp_path, sift):
    from vprkit.pipeline.bundle import MapBundle
    from vprkit.pipeline.localizer import Localizer
    from vprkit.rerank import database_features

    build_tiny_bundle(tmp_path / "bundle", synthcity_tiny)
    bundle = MapBundle.load(tmp_path / "bundle")
    queries = load_split(synthcity_tiny, "test/queries")
    images = [open_image(queries.root / p) for p in queries.paths[:6]]
    plain = Localizer(bundle, topn=5, k=5).localize(images)
    assert plain.inliers is None
    store = database_features(sift, bundle.database, cache=tmp_path / "cache")
    reranked = Localizer(bundle, topn=5, k=5, reranker=sift, rerank_k=8, features=store).localize(images)
    from_files = Localizer(bundle, topn=5, k=5, reranker=sift, rerank_k=8).localize(images)
    assert reranked.rows.shape == (6, 5) and reranked.inliers.shape == (6, 5)
    assert np.array_equal(reranked.rows, from_files.rows)  # cached features verify as the image files do
    assert np.array_equal(reranked.inliers, from_files.inliers)
    for b, r in enumerate(reranked.reranked):
        assert r is not None and len(r.rows) == 8  # 8 verified, the best 5 kept
        assert np.array_equal(reranked.rows[b], r.rows[:5])
        assert (np.diff(reranked.inliers[b]) <= 0).all()
