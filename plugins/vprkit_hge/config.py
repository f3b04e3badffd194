"""Config of the HGE partitioner (defaults: the D&C supplementary, Table 4; docs/partitioners/hge.md). Import-light."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator
from vprkit_s2.config import TAU_SCALE_HELP, UTM_ZONE_HELP, TauScale

from vprkit.config import VprkitConfig


class HgePartitionConfig(VprkitConfig):
    """Three nested adaptive S2 partitions (coarse ⊇ medium ⊇ fine) sharing τmin and the levels."""

    tau_min: int = Field(
        100, ge=0, description="Cells with at most this many images are dropped, every level (000: 100)."
    )
    tau_max_coarse: int = Field(10000, ge=1, description="Split threshold of the coarse partition (000: 10000).")
    tau_max_medium: int = Field(5000, ge=1, description="Split threshold of the medium partition (000: 5000).")
    tau_max_fine: int = Field(2500, ge=1, description="Split threshold of the fine partition (000: 2500).")
    lvl_min: int = Field(2, ge=0, le=30, description="Starting S2 level.")
    lvl_max: int = Field(30, ge=0, le=30, description="Deepest S2 level a cell may be split to.")
    tau_scale: TauScale = Field(1.0, description=TAU_SCALE_HELP)
    coord_mode: Literal["mean", "center", "medoid"] = Field(
        "mean", description="Class coordinate of every level (METHODS: mean UTM of the cell's images)."
    )
    utm_zone: Optional[str] = Field(None, description=UTM_ZONE_HELP)

    @model_validator(mode="after")
    def _nested(self) -> HgePartitionConfig:
        if not self.tau_max_coarse >= self.tau_max_medium >= self.tau_max_fine:
            raise ValueError("HGE needs tau_max_coarse >= tau_max_medium >= tau_max_fine (nested partitions)")
        return self
