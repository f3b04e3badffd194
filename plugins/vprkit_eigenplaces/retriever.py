"""The EigenPlaces retriever (Berton et al., ICCV 2023; docs/methods/eigenplaces.md).

The network is CosPlace's (backbone → L2 → GeM → linear → L2, ``DescriptorNet`` with the
``gem_fc`` aggregation), and so is the key layout of the released state dicts: the loaders of
:mod:`vprkit.models.official` read both. What EigenPlaces changes is the training (lateral and
frontal classes around each cell's focal points, :mod:`vprkit_eigenplaces.partition`); the heads
exist only then, the saved retriever is the descriptor network alone.
"""

from __future__ import annotations

from pathlib import Path

from vprkit.models.descriptor import DescriptorNet, build_descriptor_net
from vprkit.models.interfaces import TrainedRetriever
from vprkit.models.official import cosplace_architecture, load_cosplace_weights, read_state_file
from vprkit_eigenplaces.config import EigenPlacesRetrieverConfig

__all__ = ["EigenPlacesRetriever"]


class EigenPlacesRetriever(TrainedRetriever):
    """EigenPlaces retriever. ``EigenPlacesRetriever(config)`` has fresh weights (seeded by
    ``training.seed``); :meth:`load` reads a saved one, :meth:`load_official` maps the authors'
    released weights onto it (training: :func:`vprkit_eigenplaces.train.train_eigenplaces`)."""

    name = "eigenplaces"
    config_cls = EigenPlacesRetrieverConfig
    config: EigenPlacesRetrieverConfig

    def build_net(self) -> DescriptorNet:
        """Backbone → L2 → GeM → linear to ``fc_output_dim`` → L2: ``(B, 3, H, W) -> (B, D)``."""
        cfg = self.config
        return build_descriptor_net(
            cfg.backbone, "gem_fc", out_dim=cfg.fc_output_dim, pretrained=cfg.pretrained, freeze=cfg.freeze
        )

    @classmethod
    def load_official(
        cls, weights: str | Path, config: EigenPlacesRetrieverConfig | None = None
    ) -> EigenPlacesRetriever:
        """A retriever with the authors' released weights (a ``torch.hub`` file such as
        ``ResNet50_2048_eigenplaces.pth``); without ``config`` the backbone and dimension are read
        off the keys. ``vprkit models import eigenplaces`` does this and writes a model folder."""
        state = read_state_file(weights)
        if config is None:
            backbone, dim = cosplace_architecture(state)
            config = EigenPlacesRetrieverConfig(backbone=backbone, fc_output_dim=dim)
        model = cls(config.model_copy(update={"pretrained": False}))
        load_cosplace_weights(model.net, state)
        return model
