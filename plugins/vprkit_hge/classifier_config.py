"""Config of the HGE classifier (docs/methods/hge.md; partitions: the D&C supplementary, Table 4). Import-light."""

from __future__ import annotations

from pydantic import Field

from vprkit.models.network_config import ClassifierNetworkConfig
from vprkit.training.joint_config import JointTrainingConfig
from vprkit_hge.config import HgePartitionConfig

__all__ = ["HgeClassifierConfig"]


class HgeClassifierConfig(ClassifierNetworkConfig):
    """D&C's descriptor network → one linear softmax head per level (coarse, medium, fine) of the
    nested S2 partitions (τmin 100; τmax 10000 / 5000 / 2500); loss = sum of the three CEs."""

    partition: HgePartitionConfig = Field(
        default_factory=HgePartitionConfig, description="The three nested S2 partitions."
    )
    training: JointTrainingConfig = Field(
        default_factory=JointTrainingConfig, description="The training schedule (D&C's loop)."
    )
