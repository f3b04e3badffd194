"""Margin heads: logits checked against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vprkit.models.heads import ArcFaceHead, CosFaceHead, LinearHead, create_head


def _head_with_prototypes(cls, **kw):
    head = cls(2, 3, **kw)
    with torch.no_grad():  # prototypes at 0°, 90°, 180°, deliberately not unit length
        head.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]]))
    return head


def test_arcface_logits_by_hand():
    head = _head_with_prototypes(ArcFaceHead, s=100.0, m=0.2, easy_margin=True)
    theta = 0.3
    x = torch.tensor([[math.cos(theta), math.sin(theta)]]) * 5.0  # length does not matter
    logits = head(x, torch.tensor([0]))
    expected = 100.0 * torch.tensor([math.cos(theta + 0.2), math.cos(math.pi / 2 - theta), -math.cos(theta)])
    assert torch.allclose(logits[0], expected, atol=1e-4)
    assert torch.allclose(
        head(x)[0], 100.0 * torch.tensor([math.cos(theta), math.sin(theta), -math.cos(theta)]), atol=1e-4
    )


def test_easy_margin_switch():
    x = torch.tensor([[-1.0, 0.2]])  # cos θ_0 < 0
    cos0 = float(F.normalize(x, dim=1)[0, 0])
    easy = _head_with_prototypes(ArcFaceHead, s=10.0, m=0.5, easy_margin=True)(x, torch.tensor([0]))
    assert easy[0, 0].item() == pytest.approx(10 * cos0, abs=1e-5)  # no margin where cos ≤ 0
    hard = _head_with_prototypes(ArcFaceHead, s=10.0, m=0.5, easy_margin=False)(x, torch.tensor([0]))
    theta = math.acos(cos0)
    expected = math.cos(theta + 0.5) if theta + 0.5 < math.pi else cos0 - math.sin(math.pi - 0.5) * 0.5
    assert hard[0, 0].item() == pytest.approx(10 * expected, abs=1e-4)


def test_cosface_logits_by_hand():
    head = _head_with_prototypes(CosFaceHead, s=30.0, m=0.4)
    x = torch.tensor([[1.0, 1.0]])
    c = math.sqrt(0.5)
    logits = head(x, torch.tensor([1]))
    assert torch.allclose(logits[0], torch.tensor([30 * c, 30 * (c - 0.4), -30 * c]), atol=1e-4)


def test_scores_raw_uses_unnormalised_prototypes():
    head = _head_with_prototypes(ArcFaceHead)
    x = torch.tensor([[0.6, 0.8]])
    assert torch.allclose(head.scores(x, "raw"), torch.tensor([[1.2, 2.4, -0.6]]))
    assert torch.allclose(head.scores(x, "cosine"), torch.tensor([[0.6, 0.8, -0.6]]))
    with pytest.raises(ValueError):
        head.scores(x, "softmax")


def test_linear_head_and_factory_shapes():
    head = create_head("linear", 8, 5, s=1, m=0)
    assert isinstance(head, LinearHead) and head(torch.randn(4, 8), torch.zeros(4, dtype=torch.long)).shape == (4, 5)
    assert isinstance(create_head("cosface", 8, 5, s=30, m=0.4), CosFaceHead)
    with pytest.raises(ValueError):
        create_head("softmax", 8, 5, s=1, m=0)


def test_margin_makes_the_loss_larger():
    torch.manual_seed(0)
    x, y = torch.randn(16, 8), torch.randint(0, 5, (16,))
    head = ArcFaceHead(8, 5, s=30, m=0.2)
    assert F.cross_entropy(head(x, y), y) > F.cross_entropy(head(x), y)
