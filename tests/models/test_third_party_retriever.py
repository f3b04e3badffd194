"""A third-party retriever in the fewest lines (docs/plugins.md, "A retriever"): a timm backbone
+ GeM that states only its config and its network, registered through a spec, then created,
saved, loaded (through the pipeline's loader), fingerprinted and used to encode."""

from __future__ import annotations

import pytest
import torch
from pydantic import Field
from torch import nn

from vprkit import ConfigError, RetrieverSpec, SpecPlugin, VprkitConfig, create_retriever
from vprkit.models.backbones import create_backbone
from vprkit.models.descriptor import DescriptorNet
from vprkit.models.interfaces import TrainedRetriever
from vprkit.models.pooling import GeM, L2Norm
from vprkit.models.transform_config import TestTransform


class TinyGeMConfig(VprkitConfig):
    backbone: str = Field("resnet10t", description="timm backbone (random weights unless pretrained).")
    pretrained: bool = Field(False, description="ImageNet weights from timm (a download).")
    dim: int = Field(64, ge=1, description="Descriptor dimension.")
    test_transform: TestTransform = Field(default_factory=TestTransform, description="Test preprocessing.")


class TinyGeMRetriever(TrainedRetriever):
    """timm backbone → GeM → linear → L2; config, device, save, load and fingerprint come from the base."""

    name = "tinygem"
    config_cls = TinyGeMConfig

    def build_net(self) -> DescriptorNet:
        body, channels = create_backbone(self.config.backbone, pretrained=self.config.pretrained, freeze="none")
        return DescriptorNet(
            body, nn.Sequential(GeM(), nn.Linear(channels, self.config.dim), L2Norm()), self.config.dim
        )


PLUGIN = SpecPlugin(
    RetrieverSpec(
        name="tinygem",
        factory=f"{__name__}:TinyGeMRetriever",
        config=TinyGeMConfig,
        description="A timm backbone + GeM (the documentation's third-party retriever)",
    )
)


@pytest.fixture
def tinygem(install_plugin):
    install_plugin(PLUGIN, "tinygem_plugin")


def test_a_third_party_retriever_needs_only_what_differs(tinygem, tmp_path):
    from vprkit.contracts import Retriever
    from vprkit.pipeline.models import load_model

    model = create_retriever("tinygem", dim=32)
    assert isinstance(model, Retriever) and model.descriptor_dim == 32
    images = torch.rand(2, 3, 64, 64)
    desc = model.encode(images)
    assert desc.shape == (2, 32) and desc.dtype == torch.float32
    assert torch.allclose(desc.norm(dim=1), torch.ones(2), atol=1e-5)

    loaded = load_model(model.save(tmp_path / "tinygem"), "retriever")
    assert type(loaded) is TinyGeMRetriever and loaded.config == model.config
    assert loaded.fingerprint() == model.fingerprint()
    assert torch.allclose(loaded.encode(images), desc, atol=1e-6)
    with torch.no_grad():  # the fingerprint follows the weights
        loaded.net.aggregation[1].bias.add_(1.0)
    assert loaded.fingerprint() != model.fingerprint()


def test_a_retriever_without_a_trainer_is_refused_by_train(tinygem, tmp_path):
    from vprkit.training.api import fit

    with pytest.raises(ConfigError, match="retriever 'tinygem' cannot be trained by vprkit: its spec names no trainer"):
        fit(create_retriever("tinygem"), tmp_path, tmp_path / "out")
