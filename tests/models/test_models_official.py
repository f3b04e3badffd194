"""Official-format loaders, checked on state dicts built locally with the released key layouts:
the mapped vprkit model must compute exactly what the torchvision model computes."""

from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

from vprkit.errors import DataError
from vprkit.models.descriptor import build_descriptor_net
from vprkit.models.official import dnc_to_vprkit, load_cosplace_weights, read_state_file
from vprkit.models.pooling import GeM, L2Norm


def _randomise_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)


def test_cosplace_release_layout_maps_exactly(tmp_path):
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(weights=None).eval()
    _randomise_bn(resnet)
    official = nn.Module()
    official.backbone = nn.Sequential(*list(resnet.children())[:-2])
    official.aggregation = nn.Sequential(L2Norm(), GeM(p=2.5), nn.Flatten(), nn.Linear(512, 64), L2Norm())
    save_file({k: v.contiguous() for k, v in official.state_dict().items()}, str(tmp_path / "cosplace.safetensors"))
    ours = build_descriptor_net("resnet18", "gem_fc", out_dim=64).eval()
    load_cosplace_weights(ours, tmp_path / "cosplace.safetensors")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), official.aggregation(official.backbone(x)), atol=1e-6)


def test_cosplace_loader_rejects_foreign_keys():
    with pytest.raises(DataError, match="neither backbone"):
        load_cosplace_weights(build_descriptor_net("resnet18", "gem_fc", out_dim=8), {"fc.weight": torch.zeros(1)})


def test_dnc_checkpoint_layout_maps_exactly(tmp_path):
    torch.manual_seed(0)
    effnet = torchvision.models.efficientnet_b0(weights=None).eval()
    _randomise_bn(effnet)
    whiten = nn.Linear(1280, 1280)
    model_sd = {f"module.backbone.{k}": v for k, v in effnet.features.state_dict().items()}
    model_sd.update({"module.classifier.0.weight": whiten.weight.data, "module.classifier.0.bias": whiten.bias.data})
    heads = [{"weight": torch.randn(7, 1280)}, {"weight": torch.randn(5, 1280)}]
    torch.save(
        {"model_state_dict": model_sd, "classifiers_state_dict": heads, "epoch_num": 3}, tmp_path / "best_model.pth"
    )

    net_sd, head_sds = dnc_to_vprkit(read_state_file(tmp_path / "best_model.pth"))
    ours = build_descriptor_net("efficientnet_b0", "avg_whiten").eval()
    ours.load_state_dict(net_sd, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = nn.functional.normalize(whiten(effnet.avgpool(effnet.features(x)).flatten(1)), dim=1)
        assert torch.allclose(ours(x), reference, atol=1e-6)
    assert [h["weight"].shape[0] for h in head_sds] == [7, 5]


def test_unsafe_or_foreign_files_are_refused(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_state_file(tmp_path / "missing.pth")
    torch.save({"obj": object.__new__(torch.nn.ReLU)}, tmp_path / "pickled.pth")  # an arbitrary object
    with pytest.raises(DataError, match="cannot read"):
        read_state_file(tmp_path / "pickled.pth")
    with pytest.raises(DataError, match="not a D&C checkpoint"):
        dnc_to_vprkit({"state_dict": {}})
