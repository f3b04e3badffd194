"""The CosPlace retriever (Berton et al., CVPR 2022; docs/methods/cosplace.md): GeM descriptors trained with CosFace heads.

The heads only exist during training (one per trained group); the saved retriever is the
descriptor network alone.
"""

from __future__ import annotations

from pathlib import Path

from vprkit.models.descriptor import DescriptorNet, build_descriptor_net
from vprkit.models.interfaces import TrainedRetriever
from vprkit.models.official import cosplace_architecture, load_cosplace_weights, read_state_file
from vprkit_cosplace.retriever_config import CosPlaceRetrieverConfig

__all__ = ["CosPlaceRetriever"]


class CosPlaceRetriever(TrainedRetriever):
    """CosPlace retriever. ``CosPlaceRetriever(config)`` has fresh weights (seeded by
    ``training.seed``); :meth:`load` reads a saved one, :meth:`load_official` maps the authors'
    released weights onto it (training: :func:`vprkit_cosplace.train.train_cosplace`)."""

    name = "cosplace"
    config_cls = CosPlaceRetrieverConfig
    config: CosPlaceRetrieverConfig

    def build_net(self) -> DescriptorNet:
        """Backbone → L2 → GeM → linear to ``fc_output_dim`` → L2."""
        cfg = self.config
        return build_descriptor_net(
            cfg.backbone, "gem_fc", out_dim=cfg.fc_output_dim, pretrained=cfg.pretrained, freeze=cfg.freeze
        )

    @classmethod
    def load_official(cls, weights: str | Path, config: CosPlaceRetrieverConfig | None = None) -> CosPlaceRetriever:
        """A retriever with the authors' released weights (a ``torch.hub`` file such as
        ``ResNet50_2048_cosplace.pth``); without ``config`` the backbone and dimension are read off
        the keys. ``vprkit models import cosplace`` does this and writes a model folder."""
        state = read_state_file(weights)
        if config is None:
            backbone, dim = cosplace_architecture(state)
            config = CosPlaceRetrieverConfig(backbone=backbone, fc_output_dim=dim, test_transform={"resize": "none"})
        model = cls(config.model_copy(update={"pretrained": False}))
        load_cosplace_weights(model.net, state)
        return model
