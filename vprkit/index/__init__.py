"""Nearest-neighbour indexes over database descriptors: the common protocol, the cell-sorted
store with its candidate-restricted exact search, and the exact kernels they share.

The index *plugins* (``flat``, ``ivfpq``, ``hnsw``) live in ``plugins/vprkit_faiss`` and
``plugins/vprkit_hnswlib`` and are created with :func:`vprkit.create_index`. Importing this
package does not import faiss (the kernels import it when they run).
"""

from vprkit.index.base import (
    DescriptorIndex,
    IndexFingerprint,
    StaleIndexError,
    load_index,
    read_index_meta,
)
from vprkit.index.cell_sorted import CellSortedDescriptors

__all__ = [
    "CellSortedDescriptors",
    "DescriptorIndex",
    "IndexFingerprint",
    "StaleIndexError",
    "load_index",
    "read_index_meta",
]
