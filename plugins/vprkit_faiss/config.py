"""Configs of the faiss indexes (light: pydantic only). Defaults are the D&C paper's (docs/indexes/index.md).

``FlatConfig`` is the core store's (:mod:`vprkit.index.cell_sorted`), re-exported here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vprkit import VprkitConfig
from vprkit.index.cell_sorted import FlatConfig

__all__ = ["IVFPQ_PRESETS", "FlatConfig", "IvfpqConfig"]

#: IVFPQ presets of the D&C paper (supplementary, Fig. 5): nprobe out of 1,000 lists.
IVFPQ_PRESETS: dict[str, int] = {"recall": 50, "speed": 2}


class IvfpqConfig(VprkitConfig):
    """faiss IVF + PQ, inner product. Paper: 1,000 lists, 128 sub-quantizers, nprobe 50 / 2."""

    preset: Literal["recall", "speed"] = Field("recall", description="nprobe 50 (recall) or 2 (speed)")
    nprobe: int | None = Field(None, ge=1, description="overrides the preset's nprobe")
    nlist: int = Field(1000, ge=1, description="number of IVF lists (coarse k-means centroids)")
    m: int = Field(128, ge=1, description="PQ sub-quantizers; must divide the descriptor dimension")
    nbits: int = Field(8, ge=1, le=16, description="bits per sub-quantizer code")
    min_points_per_list: int = Field(39, ge=1, description="training points needed per list (faiss warns below 39)")
    clamp_nlist: bool = Field(
        True, description="on a small database lower nlist to n // min_points_per_list instead of failing"
    )
    max_train_points: int = Field(500_000, ge=1, description="train on at most this many rows (random sample)")
    seed: int = 0
    threads: int = Field(0, ge=0, description="faiss OpenMP threads; 0 = faiss default")

    def effective_nprobe(self) -> int:
        return self.nprobe if self.nprobe is not None else IVFPQ_PRESETS[self.preset]
