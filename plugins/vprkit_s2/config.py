"""Config of the adaptive S2 partitioner (defaults: the D&C supplementary, Table 4; docs/partitioners/s2.md). Import-light."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from vprkit.config import VprkitConfig

TauScale = float | Literal["auto"]

TAU_SCALE_HELP = (
    "Multiply τmin and τmax by this factor; 'auto' = the dataset's density relative to SF-XL "
    "(mean images per occupied 20 m square ÷ 49.6), as the D&C supplementary (§2) does for small datasets."
)
UTM_ZONE_HELP = "UTM zone of the points, e.g. '10S' (needed to compute S2 cells; fit(utm_zone=...) overrides)."


class S2PartitionConfig(VprkitConfig):
    """Adaptive S2 cells: split cells above τmax, drop cells at or below τmin."""

    tau_min: int = Field(100, ge=0, description="Cells with at most this many images are dropped (000: 100).")
    tau_max: int = Field(2500, ge=1, description="Cells with more images are split into their children (000: 2500).")
    lvl_min: int = Field(2, ge=0, le=30, description="Starting S2 level (PlaNet: 2).")
    lvl_max: int = Field(30, ge=0, le=30, description="Deepest S2 level a cell may be split to.")
    tau_scale: TauScale = Field(1.0, description=TAU_SCALE_HELP)
    coord_mode: Literal["mean", "center", "medoid"] = Field(
        "mean",
        description="Class coordinate: mean UTM of the cell's images, S2 cell centre, or the image nearest the mean.",
    )
    utm_zone: Optional[str] = Field(None, description=UTM_ZONE_HELP)
