"""Config of the PlaNet classifier (docs/methods/planet.md; partition: the D&C supplementary, Table 4). Import-light."""

from __future__ import annotations

from pydantic import Field
from vprkit_s2.config import S2PartitionConfig

from vprkit.models.network_config import ClassifierNetworkConfig
from vprkit.training.joint_config import JointTrainingConfig

__all__ = ["PlaNetClassifierConfig"]


class PlaNetClassifierConfig(ClassifierNetworkConfig):
    """D&C's descriptor network → one linear softmax head over the S2 cells (τmin 100, τmax 2500)."""

    partition: S2PartitionConfig = Field(
        default_factory=S2PartitionConfig, description="The adaptive S2 partition (τmin, τmax...)."
    )
    training: JointTrainingConfig = Field(
        default_factory=JointTrainingConfig, description="The training schedule (D&C's loop)."
    )
