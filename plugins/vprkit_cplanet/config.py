"""Config of the CPlaNet partitioner (Seo et al., ECCV 2018, Table 1; city sizes from the D&C supplementary, Table 5). Import-light."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator
from vprkit_s2.config import UTM_ZONE_HELP

from vprkit.config import VprkitConfig

#: Occupied area of SF-XL training data: ~113k D&C cells of 20 m × 20 m (Trivigno et al., ICCV 2023, §4).
SFXL_AREA_M2 = 113e3 * 400.0
#: D&C's tuned CPlaNet geoclass counts on SF-XL (000 Table 5, best LR@1 row).
SFXL_GEOCLASSES = (20000, 20000, 26000, 24000, 22000)


class CPlaNetPartitionConfig(VprkitConfig):
    """Five geoclass sets by greedy merging of S2 atoms; one list entry per set (Table 1 columns)."""

    atom_level: int = Field(
        19, ge=1, le=30, description="S2 level of the atoms (~18 m cells; the paper's 14 is for the planet)."
    )
    num_geoclasses: Optional[list[int]] = Field(
        None,
        description="Target geoclasses per set; null = occupied area ÷ geoclass_area_m2 (000: same mean geoclass size as SF-XL).",
    )
    geoclass_area_m2: list[float] = Field(
        [SFXL_AREA_M2 / g for g in SFXL_GEOCLASSES],
        description="Mean geoclass area per set in m² used when num_geoclasses is null (SF-XL: 45.2 km² ÷ 20k/20k/26k/24k/22k).",
    )
    alpha1: list[float] = Field(
        [1.0, 1.0, 0.501, 0.953, 0.713], description="Node score weight of the number of images (Table 1)."
    )
    alpha2: list[float] = Field(
        [0.0, 0.0, 0.490, 0.044, 0.287], description="Node score weight of the number of non-empty S2 cells."
    )
    alpha3: list[float] = Field(
        [0.0, 0.0, 0.009, 0.003, 0.000], description="Node score weight of the number of S2 cells."
    )
    beta1: list[float] = Field(
        [1.0, 0.0, 0.421, 0.628, 0.057], description="Edge weight of the visual distance (1 − cosine of mean features)."
    )
    beta2: list[float] = Field(
        [0.0, 1.0, 0.579, 0.372, 0.943], description="Edge weight of the geographic distance between region centres."
    )
    feature_fraction: list[float] = Field(
        [1.0, 0.0, 1187 / 2048, 1113 / 2048, 1498 / 2048],
        description="Share of feature dimensions in each set's random axis-aligned subspace (Table 1: 2048, 0, 1187, 1113, 1498 of 2048).",
    )
    empty_rings: int = Field(
        1,
        ge=0,
        description="Rings of empty atoms around the data kept as atoms, each merged into a random non-empty neighbour.",
    )
    seed: int = Field(
        0, description="Seed of the random neighbour choice for empty atoms and of the feature subspaces."
    )
    coord_mode: Literal["mean"] = Field(
        "mean", description="Class coordinate: mean UTM of the region's training images (paper eq. 4)."
    )
    utm_zone: Optional[str] = Field(None, description=UTM_ZONE_HELP)

    @property
    def num_sets(self) -> int:
        return len(self.alpha1)

    @model_validator(mode="after")
    def _same_lengths(self) -> CPlaNetPartitionConfig:
        targets = "num_geoclasses" if self.num_geoclasses is not None else "geoclass_area_m2"
        per_set = ("alpha1", "alpha2", "alpha3", "beta1", "beta2", "feature_fraction", targets)
        lengths = {name: len(getattr(self, name)) for name in per_set}
        if len(set(lengths.values())) != 1 or not self.alpha1:
            raise ValueError(f"every per-set list needs one value per geoclass set; got lengths {lengths}")
        return self
