"""vprkit plugin: the `hnsw` index: HNSW graph search in inner-product space (faiss by default, or hnswlib)."""

from vprkit import IndexSpec, SpecPlugin
from vprkit_hnswlib.config import HnswConfig

plugin = SpecPlugin(
    IndexSpec(
        name="hnsw",
        factory="vprkit_hnswlib.hnsw:HnswIndex",
        config=HnswConfig,
        description="HNSW graph (faiss, or hnswlib), inner product, M = 512 (paper); restricted search exact over candidates",
    ),
)
