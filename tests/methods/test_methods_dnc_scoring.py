"""Packed D&C scoring: float32 ranks exactly like the per-group heads; pq4 within its tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from vprkit_dnc.scoring import PackedPrototypes

from vprkit.errors import ConfigError


@pytest.fixture(autouse=True)
def one_faiss_thread():
    """faiss's OpenMP pool spin-waits against torch's on the shared 2-core box: keep tests on one."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def group_weights(sizes, dim, seed=0):
    """Prototypes with a shared anisotropic structure and per-group norm levels (like trained heads)."""
    gen = torch.Generator().manual_seed(seed)
    spectrum = (1.0 + torch.arange(dim)) ** -0.5
    out = []
    for g, n in enumerate(sizes):
        w = F.normalize(torch.randn(n, dim, generator=gen) * spectrum, dim=1)
        out.append(w * (3.0 + 0.3 * g) * (1 + 0.07 * torch.randn(n, 1, generator=gen)))
    return out


def queries_near(weights, n, seed=1):
    """Unit descriptors at cosine ≈ 0.5 from random prototypes (a clear best class)."""
    gen = torch.Generator().manual_seed(seed)
    protos = F.normalize(torch.cat(weights), dim=1)
    anchor = protos[torch.randint(len(protos), (n,), generator=gen)]
    return F.normalize(
        anchor
        + 1.5 * F.normalize(torch.randn(n, protos.shape[1], generator=gen), dim=1) / np.sqrt(protos.shape[1]) * 8,
        dim=1,
    )


def reference(weights, x, k, mode, bias=None):
    """The heads' inference as docs/methods/dnc.md describes it: per-group scores, concatenated, joint top-k."""
    per_group = []
    for g, w in enumerate(weights):
        if mode == "cosine":
            per_group.append(F.linear(F.normalize(x, dim=1), F.normalize(w, dim=1)))
        else:
            per_group.append(F.linear(x, w, None if bias is None else bias[g]))
    scores = torch.cat(per_group, dim=1)
    starts = np.cumsum([0] + [w.shape[0] for w in weights])[:-1]
    best = torch.stack([s.argmax(1) + int(a) for s, a in zip(per_group, starts, strict=True)], dim=1)
    top, cols = scores.topk(k, dim=1)
    return top, cols, best


@pytest.mark.parametrize("mode", ["raw", "cosine"])
def test_float32_ranks_exactly_like_the_per_group_heads(mode):
    weights = group_weights([300, 250, 280, 170], 32)
    x = queries_near(weights, 40)
    packed = PackedPrototypes(weights, mode=mode)
    got = packed.top(x, 50)
    top, cols, best = reference(weights, x, 50, mode)
    assert torch.equal(got.columns, cols) and torch.equal(got.group_best, best)
    torch.testing.assert_close(got.scores, top, rtol=1e-6, atol=1e-6)


def test_float32_adds_the_linear_heads_bias_in_raw_mode():
    weights = group_weights([50, 60], 8)
    bias = [torch.linspace(-1, 1, 50), torch.linspace(1, -1, 60)]
    x = queries_near(weights, 10)
    got = PackedPrototypes(weights, bias=bias, mode="raw").top(x, 20)
    top, cols, best = reference(weights, x, 20, "raw", bias)
    assert torch.equal(got.columns, cols) and torch.equal(got.group_best, best)
    torch.testing.assert_close(got.scores, top, rtol=1e-6, atol=1e-6)


def test_cosine_prototypes_are_normalised_once_at_packing():
    weights = group_weights([20, 20], 8)
    packed = PackedPrototypes(weights, mode="cosine")
    assert torch.allclose(packed.weight.norm(dim=1), torch.ones(40))


def test_pq4_with_the_whole_group_shortlisted_is_exact():
    weights = group_weights([200, 180, 160, 150], 32)
    x = queries_near(weights, 30)
    exact = PackedPrototypes(weights).top(x, 40)
    got = PackedPrototypes(weights, precision="pq4", shortlist=200).top(x, 40)
    assert torch.equal(got.columns, exact.columns) and torch.equal(got.group_best, exact.group_best)
    torch.testing.assert_close(got.scores, exact.scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["raw", "cosine"])
def test_pq4_shortlist_keeps_the_ranking_within_tolerance(mode):
    # 8,000 classes of 64-D; a shortlist of 1/8 of every group (measured: recall 0.993 raw, 0.998 cosine)
    weights = group_weights([2000] * 4, 64)
    x = queries_near(weights, 100)
    exact = PackedPrototypes(weights, mode=mode).top(x, 100)
    got = PackedPrototypes(weights, mode=mode, precision="pq4", shortlist=250).top(x, 100)
    assert (got.columns[:, 0] == exact.columns[:, 0]).float().mean() >= 0.99
    assert (got.group_best == exact.group_best).float().mean() >= 0.97
    recall = np.mean(
        [len(np.intersect1d(a, b)) / 100 for a, b in zip(got.columns.numpy(), exact.columns.numpy(), strict=True)]
    )
    assert recall >= 0.98
    # the returned scores are the exact float32 scores of the returned classes, best first
    packed = PackedPrototypes(weights, mode=mode)
    xx = F.normalize(x, dim=1) if mode == "cosine" else x
    exact_of_returned = (xx @ packed.weight.T).gather(1, got.columns)
    torch.testing.assert_close(got.scores, exact_of_returned, rtol=1e-5, atol=1e-5)
    assert bool((got.scores[:, :-1] >= got.scores[:, 1:]).all())


def test_pq4_can_fill_k_from_one_group():
    # k larger than the shortlist: every group's shortlist grows to k so the joint top-k is complete
    weights = group_weights([300, 40], 16)
    got = PackedPrototypes(weights, precision="pq4", shortlist=10).top(queries_near(weights, 3), 120)
    assert got.columns.shape == (3, 120) and len(set(got.columns[0].tolist())) == 120


def test_bad_settings_are_refused():
    weights = group_weights([10], 8)
    with pytest.raises(ConfigError, match="score_precision"):
        PackedPrototypes(weights, precision="int3")
    with pytest.raises(ConfigError, match="score mode"):
        PackedPrototypes(weights, mode="angle")
    with pytest.raises(ConfigError, match="bias"):
        PackedPrototypes(weights, bias=[torch.zeros(10)], precision="pq4")
    with pytest.raises(ConfigError, match="even descriptor size"):
        PackedPrototypes(group_weights([10], 7), precision="pq4")


def small_classifier(dim=16):
    """A real dnc classifier over a 12×12-cell city (4 groups of 36 classes), prototypes set by hand."""
    from vprkit.registry import create_classifier, create_partitioner

    cells = np.stack(np.meshgrid(np.arange(12), np.arange(12)), -1).reshape(-1, 2)
    pts = np.repeat(cells * 20.0 + 10.0, 10, axis=0)
    part = create_partitioner("dnc", min_images_per_class=10).fit(pts[:, 0] + 500_000, pts[:, 1] + 4e6)
    clf = create_classifier("dnc", backbone="tinycnn", descriptor_dim=dim).build(part)
    with torch.no_grad():
        for head, w in zip(clf.heads, group_weights([len(c) for c in clf.group_classes], dim), strict=True):
            head.weight.copy_(w)
    return clf


def test_classifier_pq4_with_whole_groups_shortlisted_matches_float32():
    clf = small_classifier()
    x = queries_near([h.weight.detach() for h in clf.heads], 20)
    exact = clf.classify_descriptors(x, 30)
    clf.config.score_precision, clf.config.score_shortlist = "pq4", 36
    fast = clf.classify_descriptors(x, 30)
    assert clf.scorer.precision == "pq4"
    assert np.array_equal(fast.classes, exact.classes)
    np.testing.assert_allclose(fast.scores, exact.scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fast.confidence, exact.confidence)


def test_classifier_repacks_when_the_weights_change_and_keeps_its_fingerprint():
    clf = small_classifier()
    x = queries_near([h.weight.detach() for h in clf.heads], 5)
    before = clf.classify_descriptors(x, 5)
    with torch.no_grad():
        clf.heads[0].weight.mul_(-1.0)  # in place, as an optimizer step or load_state_dict would
    after = clf.classify_descriptors(x, 5)
    assert not np.array_equal(before.scores, after.scores)
    fingerprint = clf.fingerprint()
    clf.config.score_precision = "pq4"  # an inference setting: not part of the model's identity
    assert clf.fingerprint() == fingerprint
