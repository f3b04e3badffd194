"""Config of the D&C partitioner (defaults: Trivigno et al., ICCV 2023; docs/partitioners/dnc.md). Import-light."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vprkit.config import VprkitConfig


class DncPartitionConfig(VprkitConfig):
    """Square UTM cells of side M grouped by ``(cell_e mod N, cell_n mod N)``."""

    M: float = Field(20.0, gt=0, description="Cell side in metres (paper: 20).")
    N: int = Field(2, ge=1, description="Groups per axis; N² groups, no two cells of a group adjacent (paper: 2).")
    min_images_per_class: int = Field(10, ge=1, description="Cells with fewer training images are dropped (paper: 10).")
    coord_mode: Literal["center", "mean"] = Field(
        "center", description="Class coordinate: geometric cell centre (paper) or mean UTM of the cell's images."
    )
