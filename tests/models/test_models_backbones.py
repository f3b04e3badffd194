"""Backbones, pooling and descriptor networks: shapes, freezing policies, GeM values."""

from __future__ import annotations

import pytest
import torch

from vprkit.errors import ConfigError
from vprkit.models.backbones import create_backbone, trainable_parameter_count
from vprkit.models.descriptor import build_descriptor_net
from vprkit.models.pooling import GeM


def test_tinycnn_shapes_and_size():
    net, channels = create_backbone("tinycnn")
    assert channels == 128
    assert net.forward_features(torch.randn(2, 3, 64, 64)).shape == (2, 128, 4, 4)
    trainable, total = trainable_parameter_count(net)
    assert trainable == total and 250_000 < total < 350_000


def test_efficientnet_freezes_stem_and_first_four_stages():
    net, channels = create_backbone("efficientnet_b0", freeze="paper")
    assert channels == 1280
    assert not any(p.requires_grad for p in net.conv_stem.parameters())
    assert not any(p.requires_grad for b in list(net.blocks)[:4] for p in b.parameters())
    assert all(p.requires_grad for b in list(net.blocks)[4:] for p in b.parameters())
    assert all(p.requires_grad for p in net.conv_head.parameters())


def test_resnet_freezes_before_layer3():
    net, channels = create_backbone("resnet18", freeze="paper")
    assert channels == 512
    for name in ("conv1", "bn1", "layer1", "layer2"):
        assert not any(p.requires_grad for p in getattr(net, name).parameters()), name
    assert all(p.requires_grad for p in net.layer3.parameters())
    assert all(p.requires_grad for p in create_backbone("resnet18", freeze="none")[0].parameters())


def test_unknown_backbone_and_freeze_policy_are_config_errors():
    with pytest.raises(ConfigError, match="unknown backbone"):
        create_backbone("resnet_does_not_exist")
    with pytest.raises(ConfigError, match="freeze"):
        create_backbone("tinycnn", freeze="half")


def test_gem_matches_formula_and_p_is_learnable():
    x = torch.rand(2, 3, 4, 5) + 0.1
    gem = GeM()
    expected = x.pow(3).mean(dim=(2, 3)).pow(1 / 3)
    assert torch.allclose(gem(x), expected, atol=1e-6)
    assert gem.p.requires_grad and gem.p.shape == (1,)
    assert torch.allclose(GeM(p=1.0)(x), x.mean(dim=(2, 3)), atol=1e-6)


@pytest.mark.parametrize("aggregation,dim", [("avg_whiten", None), ("gem_fc", 32)])
def test_descriptor_net_outputs_unit_vectors(aggregation, dim):
    net = build_descriptor_net("tinycnn", aggregation, out_dim=dim)
    out = net(torch.randn(3, 3, 64, 64))
    assert out.shape == (3, dim or 128)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
