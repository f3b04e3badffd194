"""The bf16 scan: the same output as float32, proven per query; its rounding assumptions hold here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_methods_dnc_scoring import group_weights, queries_near, small_classifier
from vprkit_dnc import scoring
from vprkit_dnc.scoring import AUTO_BF16_BATCH, PackedPrototypes, fast_bf16, rescore_gathered
from vprkit_dnc.scoring_bf16 import _U_OUT, Bf16Prototypes

from vprkit.errors import ConfigError


def assert_same_as_float32(got, exact):
    """Same classes per row (order may differ only between scores equal to float32 rounding)."""
    assert torch.equal(got.group_best, exact.group_best)
    torch.testing.assert_close(got.scores, exact.scores, rtol=1e-5, atol=1e-5)
    differs = got.columns != exact.columns
    assert bool((got.scores - exact.scores).abs()[differs].le(1e-5).all())
    for a, b in zip(got.columns.tolist(), exact.columns.tolist(), strict=True):
        assert set(a) == set(b)


@pytest.mark.parametrize("mode", ["raw", "cosine"])
def test_bf16_returns_the_float32_result(mode):
    # unequal groups, none a multiple of the 64-class block: the padding must never win
    weights = group_weights([1500, 1430, 1611, 1377], 64)
    x = queries_near(weights, 200)
    exact = PackedPrototypes(weights, mode=mode).top(x, 120)
    got = PackedPrototypes(weights, mode=mode, precision="bf16").top(x, 120)
    assert got.scan == "bf16" and got.rescored <= len(x) // 10  # most proven by the bf16 shortlist
    assert_same_as_float32(got, exact)


def test_bf16_rescores_in_float32_what_it_cannot_prove():
    weights = group_weights([700, 650, 720], 48)
    x = queries_near(weights, 64)
    packed = PackedPrototypes(weights, precision="bf16")
    packed.bf16_extra = 0  # shortlist of exactly k: the rounding slack leaves most queries unproven
    got = packed.top(x, 100)
    assert got.rescored > 0
    assert_same_as_float32(got, PackedPrototypes(weights).top(x, 100))


def test_bf16_handles_tiny_groups_and_k_beyond_a_group():
    weights = group_weights([5, 300, 130], 16)  # a group smaller than its shortlist, one block each
    x = queries_near(weights, 20)
    packed = PackedPrototypes(weights, precision="bf16")
    for k in (1, 200, 435):
        assert_same_as_float32(packed.top(x, k), PackedPrototypes(weights).top(x, k))


def test_bf16_sends_all_negative_rows_to_float32():
    # every prototype leans along +e1 and the queries along -e1: no block has a maximum >= 0, so the
    # int16 block maxima cannot rank the blocks and the queries must be scored in float32
    gen = torch.Generator().manual_seed(4)
    weights = [
        3 * F.one_hot(torch.zeros(n, dtype=torch.long), 16).float() + 0.3 * torch.randn(n, 16, generator=gen)
        for n in (5000, 4000)
    ]
    x = F.normalize(
        -F.one_hot(torch.zeros(6, dtype=torch.long), 16).float() + 0.1 * torch.randn(6, 16, generator=gen), dim=1
    )
    exact = PackedPrototypes(weights).top(x, 10)
    assert bool((exact.scores < 0).all())
    got = PackedPrototypes(weights, precision="bf16").top(x, 10)
    assert got.rescored == len(x)
    assert_same_as_float32(got, exact)


def test_the_bf16_product_rounds_to_nearest_here():
    # the certificate assumes float32 accumulation and round-to-nearest bf16 output (relative error
    # <= 2^-8); check it on this machine's backend (oneDNN pre-packed weights where available)
    gen = torch.Generator().manual_seed(3)
    weight = torch.randn(3000, 96, generator=gen)
    bf16 = Bf16Prototypes(weight, np.array([0, 1000, 3000]))
    x = torch.randn(40, 96, generator=gen).bfloat16()
    got = bf16._product(x).float()  # (40, G·width), group-padded columns
    cols = bf16.packed_of >= 0
    exact = x.double() @ weight.bfloat16().double().T  # products of bf16 values are exact in float64
    got = got[:, cols]
    tolerance = _U_OUT * exact.abs() + bf16.gamma * (x.double().abs() @ weight.bfloat16().double().abs().T)
    assert bool(((got.double() - exact).abs() <= tolerance * (1 + 1e-6)).all())


def test_the_certificate_bound_covers_every_class():
    # for every class: true score <= upper bound of its bf16 score + slack, i.e. the bound is sound
    weights = group_weights([400, 400], 32)
    x = queries_near(weights, 30)
    packed = PackedPrototypes(weights, precision="bf16")
    bf16 = packed._bf16
    scores = bf16._product(x.bfloat16()).float()[:, bf16.packed_of >= 0]  # (B, C) in packed order
    true = x.double() @ packed.weight.double().T
    slack = bf16.slack(x)[:, -1:]  # over all classes
    upper = bf16.upper(scores) + slack
    assert bool((true <= upper.double()).all())
    lower = torch.where(scores >= 0, scores / (1 + _U_OUT), scores / (1 - _U_OUT)) - slack
    assert bool((true >= lower.double()).all())
    assert float(slack.max()) < 0.02 * float(true.abs().max())  # and tight enough to prove anything


def test_auto_takes_pq4_for_small_batches_and_bf16_for_large_ones():
    weights = group_weights([800, 800], 32)
    packed = PackedPrototypes(weights, precision="auto")
    small = packed.top(queries_near(weights, AUTO_BF16_BATCH - 1), 10)
    large = packed.top(queries_near(weights, AUTO_BF16_BATCH), 10)
    assert small.scan == "pq4"
    assert large.scan == ("bf16" if fast_bf16() else "pq4")
    # a linear head's bias rules both out: auto falls back to the exact scan
    biased = PackedPrototypes(weights, bias=[torch.zeros(800)] * 2, precision="auto")
    assert biased.top(queries_near(weights, 40), 10).scan == "float32"


def test_bf16_refuses_a_bias():
    with pytest.raises(ConfigError, match="bias"):
        PackedPrototypes(group_weights([10], 8), bias=[torch.zeros(10)], precision="bf16")


def test_gathered_rescoring_matches_the_in_place_one():
    # the GPU path (gathered rows) against faiss's in-place one, both on CPU here
    weights = group_weights([300, 200], 24)
    packed = PackedPrototypes(weights)
    x = queries_near(weights, 9)
    columns = torch.randint(0, 500, (9, 37), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(rescore_gathered(x, packed.weight, columns), packed._rescore(x, columns))


def test_bf16_falls_back_to_plain_matmul_without_onednn():
    weights = group_weights([500, 400], 32)
    x = queries_near(weights, 40)
    packed = PackedPrototypes(weights, precision="bf16")
    packed._bf16._onednn = None
    assert_same_as_float32(packed.top(x, 30), PackedPrototypes(weights).top(x, 30))


def test_classifier_bf16_matches_float32_and_keeps_its_fingerprint():
    clf = small_classifier()
    x = queries_near([h.weight.detach() for h in clf.heads], 40)
    exact = clf.classify_descriptors(x, 30)
    fingerprint = clf.fingerprint()
    for precision in ("bf16", "auto"):
        clf.config.score_precision = precision
        fast = clf.classify_descriptors(x, 30)
        assert clf.scorer.precision == precision and clf.fingerprint() == fingerprint
        assert np.array_equal(np.sort(fast.classes, 1), np.sort(exact.classes, 1))
        np.testing.assert_allclose(fast.scores, exact.scores, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fast.confidence, exact.confidence)


def test_precisions_are_listed():
    assert scoring.SCORE_PRECISIONS == ("float32", "pq4", "bf16", "auto")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["bf16", "auto"])
def test_bf16_on_cuda_returns_the_float32_result(precision):
    weights = [w.cuda() for w in group_weights([1500, 1430, 1611], 64)]
    x = queries_near([w.cpu() for w in weights], 10).cuda()  # below AUTO_BF16_BATCH: auto is bf16 on GPUs too
    exact = PackedPrototypes(weights).top(x, 50)
    got = PackedPrototypes(weights, precision=precision).top(x, 50)
    assert got.scan == "bf16" and got.columns.device.type == "cuda"
    assert torch.equal(got.group_best, exact.group_best)
    assert all(set(a) == set(b) for a, b in zip(got.columns.tolist(), exact.columns.tolist(), strict=True))
