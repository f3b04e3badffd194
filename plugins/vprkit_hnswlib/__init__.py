"""vprkit plugin: hnswlib index: `hnsw` graph search in inner-product space.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""

from vprkit import IndexSpec, hookimpl
from vprkit_hnswlib.config import HnswConfig


@hookimpl
def vprkit_indexes():
    return [
        IndexSpec(
            name="hnsw",
            factory="vprkit_hnswlib.hnsw:HnswIndex",
            config=HnswConfig,
            description="hnswlib HNSW graph, inner product, M = 512 (paper); restricted search exact over candidates",
        )
    ]
