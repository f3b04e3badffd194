"""NetVLAD layer maths by hand, its k-means/alpha init, PCA-whitening, partial mining, cropped
backbones, and a NetVLAD run resumed exactly after an interruption."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from quick_training import TRIPLET_TRAINING
from vprkit_netvlad.backbone import create_cropped_backbone
from vprkit_netvlad.mining import PartialMiner, training_positives, triplet_loss
from vprkit_netvlad.netvlad import NetVLAD, PCAWhitening, fit_pca_whitening, kmeans_centroids, netvlad_alpha

from vprkit.errors import ConfigError, DataError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _layer(c=3, k=4, seed=0):
    torch.manual_seed(seed)
    layer = NetVLAD(c, k)
    with torch.no_grad():
        layer.assign.weight.normal_()
        layer.assign.bias.normal_()
        layer.centroids.normal_()
    return layer


def test_soft_assignment_sums_to_one_per_location():
    layer = _layer()
    a = layer.soft_assignment(torch.randn(2, 3, 4, 5))
    assert a.shape == (2, 4, 20)
    assert torch.allclose(a.sum(dim=1), torch.ones(2, 20), atol=1e-6)
    assert (a > 0).all()


def test_residuals_match_the_direct_formula():
    layer = _layer()
    x = torch.randn(1, 3, 2, 2, dtype=torch.float64)
    layer = layer.double()
    local = x[0].reshape(3, 4).T  # (N, C)
    local = local / local.norm(dim=1, keepdim=True)
    w, b, c = layer.assign.weight[:, :, 0, 0], layer.assign.bias, layer.centroids
    expected = torch.zeros(4, 3, dtype=torch.float64)
    for k in range(4):  # literal Σ_i a_k(x_i)(x_i − c_k), written as slowly as possible on purpose
        for i in range(4):
            logits = w @ local[i] + b
            a_ki = torch.exp(logits[k]) / torch.exp(logits).sum()
            expected[k] += a_ki * (local[i] - c[k])
    got = layer.residuals(x)[0]
    assert torch.allclose(got, expected, atol=1e-12)
    # forward = intra-normalisation of every V_k, then one global L2 norm
    intra = expected / expected.norm(dim=1, keepdim=True)
    assert torch.allclose(layer(x)[0], intra.flatten() / intra.flatten().norm(), atol=1e-12)
    assert math.isclose(float(layer(x)[0].detach().norm()), 1.0, rel_tol=1e-12)
    assert torch.allclose(layer(x)[0].reshape(4, 3).norm(dim=1), torch.full((4,), 0.5, dtype=torch.float64))


def test_kmeans_init_sets_alpha_scaled_weights():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 16))
    feats = centres[rng.integers(0, 8, 800)] + 0.05 * rng.normal(size=(800, 16))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    cents = kmeans_centroids(feats, 8, iterations=20, seed=0)
    assert cents.shape == (8, 16) and cents.dtype == np.float32
    layer = NetVLAD(16, 8)
    alpha = layer.init_from_kmeans(cents, feats)
    dots = np.sort(feats @ cents.T, axis=1)
    assert alpha == pytest.approx(-math.log(0.01) / np.mean(dots[:, -1] - dots[:, -2]), rel=1e-9)
    assert alpha == pytest.approx(netvlad_alpha(cents, feats))
    c = torch.from_numpy(cents)
    assert torch.allclose(layer.assign.weight[:, :, 0, 0], 2 * alpha * c)
    assert torch.allclose(layer.assign.bias, -alpha * (c**2).sum(1))
    assert torch.equal(layer.centroids.data, c)
    # the init makes the assignment a softmax of −α‖x − c_k‖²: the nearest centroid wins
    x = torch.from_numpy(feats[:50].astype(np.float32)).T.reshape(1, 16, 50, 1)
    a = layer.soft_assignment(x)[0]
    nearest = ((torch.from_numpy(feats[:50, None, :]).float() - c[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(a.argmax(0), nearest)
    with pytest.raises(DataError, match="clusters"):
        kmeans_centroids(feats[:5], 8)


def test_pca_whitening_matches_faiss_and_whitens():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12))).astype(np.float32)
    mean, proj = fit_pca_whitening(x, 4)
    y = (x - mean) @ proj.T
    cov = np.cov(y.T)
    assert np.allclose(cov / cov[0, 0], np.eye(4), atol=1e-3)  # equal variances, uncorrelated
    layer = PCAWhitening(12, 4)
    layer.mean.copy_(torch.from_numpy(mean))
    layer.projection.copy_(torch.from_numpy(proj))
    out = layer(torch.from_numpy(x))
    assert torch.allclose(out, torch.nn.functional.normalize(torch.from_numpy(y), dim=1), atol=1e-5)
    with pytest.raises(DataError, match="PCA"):
        fit_pca_whitening(x[:4], 4)


def test_triplet_loss_is_the_margin_formula():
    q = torch.nn.functional.normalize(torch.randn(3, 5), dim=1)
    p = torch.nn.functional.normalize(torch.randn(3, 5), dim=1)
    n = torch.nn.functional.normalize(torch.randn(3, 2, 5), dim=2)
    expected = torch.clamp((q - p).norm(dim=1)[:, None] - (q[:, None] - n).norm(dim=2) + 0.1, min=0).mean()
    assert torch.allclose(triplet_loss(q, p, n, 0.1), expected, atol=1e-5)


def _line(n=60, step=5.0):
    """Images every ``step`` metres along a street; descriptors = a smooth code of the position."""
    utm = np.stack([np.arange(n) * step, np.zeros(n)], 1) + np.array([549000.0, 4178000.0])
    t = np.arange(n) / n * 2 * np.pi
    desc = np.stack([np.cos(t), np.sin(t), np.cos(3 * t), np.sin(3 * t)], 1).astype(np.float32) / math.sqrt(2)
    return utm, desc


def test_partial_mining_picks_best_positive_and_hardest_far_negatives():
    utm, desc = _line()
    pos = training_positives(utm, 10.0)
    assert pos.counts[0] == 2 and pos.counts[5] == 4  # neighbours at 5 and 10 m; never itself
    assert not np.any(pos.indices == pos.query_ids())
    miner = PartialMiner(utm, pos, negative_radius_m=25.0, neg_samples_num=60, negs_num_per_query=3)
    described = []

    def describe(rows):
        described.append(rows)
        return desc[rows]

    queries = np.array([10, 30, 31])
    t = miner.mine(queries, describe, np.random.default_rng(0))
    assert np.array_equal(t.queries, queries) and t.negatives.shape == (3, 3)
    # brute force over the whole pool (= the database here)
    for qi, q in enumerate(queries):
        cands = pos[q]
        assert t.positives[qi] == cands[np.argmin(((desc[cands] - desc[q]) ** 2).sum(1))]
        far = np.flatnonzero(np.abs(utm[:, 0] - utm[q, 0]) > 25.0)
        hardest = far[np.argsort(((desc[far] - desc[q]) ** 2).sum(1), kind="stable")[:3]]
        assert set(t.negatives[qi]) == set(hardest)
    assert np.array_equal(np.sort(described[0]), np.unique(described[0]))  # each image described once


def test_heading_filter_and_pool_limits():
    utm = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [100.0, 0.0]])
    heading = np.array([0.0, 180.0, 350.0, np.nan])
    pos = training_positives(utm, 10.0, heading, max_heading_diff_deg=45.0)
    assert pos[0].tolist() == [2] and pos[1].tolist() == [] and pos[3].tolist() == []
    with pytest.raises(DataError, match="negatives"):
        PartialMiner(utm, pos, neg_samples_num=2, negs_num_per_query=3)
    miner = PartialMiner(utm, pos, neg_samples_num=4, negs_num_per_query=1)
    with pytest.raises(DataError, match="no positive"):
        miner.mine(np.array([1]), lambda r: np.zeros((len(r), 2), np.float32), np.random.default_rng(0))


@pytest.mark.parametrize("crop, channels, stride", [("conv5", 128, 16), ("conv4", 64, 8)])
def test_tinycnn_crops(crop, channels, stride):
    body, c = create_cropped_backbone("tinycnn", crop)
    assert c == channels and body.forward_features(torch.zeros(1, 3, 32, 32)).shape == (
        1,
        c,
        32 // stride,
        32 // stride,
    )


def test_timm_crop_and_freeze():
    body, c = create_cropped_backbone("resnet18", "conv4")
    assert c == 256 and body.forward_features(torch.zeros(1, 3, 64, 64)).shape == (1, 256, 4, 4)
    frozen = {n.split(".")[1] for n, p in body.named_parameters() if not p.requires_grad}
    assert frozen == {"conv1", "bn1", "layer1", "layer2"}
    with pytest.raises(ConfigError, match="crop"):
        create_cropped_backbone("tinycnn", "conv3")


FAST = [
    *TRIPLET_TRAINING,
    "training.queries_per_epoch=6",
    "training.cache_refresh_rate=3",
    "training.neg_samples_num=24",
]


def test_interrupted_run_resumes_exactly(synthcity_tiny, tmp_path):
    from vprkit.training.api import train_model

    full = train_model(
        "retriever", "netvlad", synthcity_tiny, tmp_path / "full", overrides=[*FAST, "training.epochs=2"]
    )

    import vprkit_netvlad.trainer as trainer_mod

    class Crash(RuntimeError):
        pass

    def crash(epoch, chunk):
        if (epoch, chunk) == (1, 0):
            raise Crash

    original = trainer_mod.TripletTrainer.__init__

    def patched(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.on_chunk = crash

    trainer_mod.TripletTrainer.__init__ = patched
    try:
        with pytest.raises(Crash):
            train_model(
                "retriever", "netvlad", synthcity_tiny, tmp_path / "cut", overrides=[*FAST, "training.epochs=2"]
            )
    finally:
        trainer_mod.TripletTrainer.__init__ = original
    resumed = train_model(
        "retriever", "netvlad", synthcity_tiny, tmp_path / "cut", overrides=[*FAST, "training.epochs=2"], resume=True
    )
    assert resumed.fingerprint() == full.fingerprint()
    assert [h["loss"] for h in resumed.training_summary["history"]] == [
        h["loss"] for h in full.training_summary["history"]
    ]
    with pytest.raises(ConfigError, match="negs_num_per_query"):
        train_model(
            "retriever",
            "netvlad",
            synthcity_tiny,
            tmp_path / "cut",
            resume=True,
            overrides=[*FAST, "training.epochs=3", "training.negs_num_per_query=3"],
        )
