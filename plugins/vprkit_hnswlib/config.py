"""Config of the ``hnsw`` index (light: pydantic only). M = 512 is the D&C paper's setting."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vprkit import VprkitConfig


class HnswConfig(VprkitConfig):
    """HNSW graph in inner-product space.

    The paper (D&C supplementary, Fig. 5) uses HNSW with M = 512 connections per node through
    faiss and states no ef; the ef defaults are faiss's (efConstruction 40, efSearch 16).
    """

    backend: Literal["faiss", "hnswlib"] = Field(
        "faiss",
        description="the HNSW library: 'faiss' (the paper's; wheels everywhere) or 'hnswlib' (the hnswlib extra)",
    )
    M: int = Field(512, ge=2, description="graph connections per node (paper: 512)")
    ef_construction: int = Field(40, ge=1, description="candidate list size while building")
    ef_search: int = Field(16, ge=1, description="candidate list size while searching (raised to k if smaller)")
    restricted: Literal["exact", "filter"] = Field(
        "exact",
        description="search_rows: 'exact' scores the candidates' stored vectors; 'filter' walks the graph "
        "restricted to the candidates (faiss IDSelector; hnswlib per-node Python callback)",
    )
    seed: int = Field(100, description="hnswlib's level seed (faiss uses its own fixed seed)")
    threads: int = Field(0, ge=0, description="threads for build/batched search; 0 = the library's default (all cores)")
