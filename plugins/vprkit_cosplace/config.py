"""Config of the CosPlace partitioner (defaults: Berton et al., CVPR 2022 / official code; docs/partitioners/cosplace.md). Import-light."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from vprkit.config import VprkitConfig


class CosPlacePartitionConfig(VprkitConfig):
    """UTM cells of M metres × heading bins of α degrees, in N·N·L groups of which ``groups_num`` are kept."""

    M: float = Field(10.0, gt=0, description="Cell side in metres (paper: 10).")
    alpha: float = Field(30.0, gt=0, le=360, description="Heading bin width in degrees (paper: 30).")
    N: int = Field(5, ge=1, description="Spatial groups per axis (paper: 5).")
    L: int = Field(2, ge=1, description="Heading groups (paper: 2); N·N·L groups in all.")
    groups_num: Optional[int] = Field(
        8,
        ge=1,
        description="Groups kept for training, the first in (e mod N, n mod N, h mod L) order (paper: 8); "
        "null keeps all N·N·L.",
    )
    min_images_per_class: int = Field(
        10, ge=1, description="Classes with fewer training images are dropped (paper: 10)."
    )
    coord_mode: Literal["center", "mean"] = Field(
        "center", description="Class coordinate: cell centre, or mean UTM of the class's images."
    )
