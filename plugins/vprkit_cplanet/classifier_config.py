"""Config of the CPlaNet classifier (Seo et al., ECCV 2018; docs/methods/cplanet.md). Import-light."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vprkit.models.network_config import ClassifierNetworkConfig
from vprkit.training.joint_config import JointTrainingConfig
from vprkit_cplanet.config import CPlaNetPartitionConfig

__all__ = ["CPlaNetClassifierConfig"]


class CPlaNetClassifierConfig(ClassifierNetworkConfig):
    """D&C's descriptor network → one linear softmax head per geoclass set (shared network);
    loss = sum of the sets' CEs; inference = NormalizedSum (Seo et al., ECCV 2018, eq. 3) over the regions."""

    visual_features: Literal["backbone", "none"] = Field(
        "backbone",
        description="Features for the partition's visual edge term: 'backbone' = descriptors of the training "
        "images by the freshly built network before training (paper: a pretrained CNN, so set pretrained: true "
        "for the paper's setting), 'none' = geographic distances only.",
    )
    partition: CPlaNetPartitionConfig = Field(default_factory=CPlaNetPartitionConfig, description="The geoclass sets.")
    training: JointTrainingConfig = Field(
        default_factory=JointTrainingConfig, description="The training schedule (D&C's loop)."
    )
