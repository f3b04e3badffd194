"""vprkit plugin: hnswlib index: `hnsw` graph search in inner-product space."""

from vprkit import IndexSpec, SpecPlugin
from vprkit_hnswlib.config import HnswConfig

plugin = SpecPlugin(
    IndexSpec(
        name="hnsw",
        factory="vprkit_hnswlib.hnsw:HnswIndex",
        config=HnswConfig,
        description="hnswlib HNSW graph, inner product, M = 512 (paper); restricted search exact over candidates",
    ),
)
