"""Config of the MvMF classifier (Izbicki et al. 2019; docs/methods/mvmf.md). Import-light."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from vprkit_s2.config import S2PartitionConfig

from vprkit.models.network_config import ClassifierNetworkConfig
from vprkit.training.joint_config import JointTrainingConfig

__all__ = ["MvMFClassifierConfig"]


class MvMFClassifierConfig(ClassifierNetworkConfig):
    """D&C's descriptor network → mixture weights π = softmax(W f + b) over the S2 cells, each cell a
    fixed component (μ = mean UTM of its images, κ from its size); loss = −log Σ π_i vMF(y; μ_i, κ_i)
    in its κ → ∞ limit (isotropic Gaussians in UTM metres, σ_i = R_earth / √κ_i)."""

    mass_within_edge: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="κ_i is set so that this share of component i's mass lies within one cell edge length of μ_i (MvMF: 0.5).",
    )
    prediction: Literal["weight", "density"] = Field(
        "weight", description="Rank components by mixture weight π_i (MvMF) or by the mixture density at μ_i."
    )
    density_cutoff_sigmas: float = Field(
        5.0,
        gt=0,
        description="'density' ranking: a component contributes to the density at μ_j only within this many σ_i.",
    )
    init_from: str | None = Field(
        None,
        description="A trained 'planet' model folder to start from (D&C supplementary: MvMF starts from PlaNet); "
        "the network always, the head too when both partitions have the same cells.",
    )
    partition: S2PartitionConfig = Field(
        default_factory=S2PartitionConfig, description="The adaptive S2 partition (τmin, τmax...)."
    )
    training: JointTrainingConfig = Field(
        default_factory=JointTrainingConfig, description="The training schedule (D&C's loop)."
    )

    @model_validator(mode="after")
    def _mean_components(self) -> MvMFClassifierConfig:
        if self.partition.coord_mode != "mean":
            raise ValueError(
                "mvmf: component means μ_i are the mean UTM of the cells' images; "
                f"partition.coord_mode must be 'mean', got {self.partition.coord_mode!r}"
            )
        return self
