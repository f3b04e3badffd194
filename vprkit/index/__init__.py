"""Nearest-neighbour indexes over database descriptors: the common protocol, the cell-sorted
store (the ``flat`` index: exact, with its candidate-restricted search), and the exact kernels
every index shares.

Every index is created with :func:`vprkit.create_index`: ``flat`` (this package's
:class:`CellSortedDescriptors`, declared by the ``vprkit_faiss`` plugin), ``ivfpq``
(``plugins/vprkit_faiss``) and ``hnsw`` (``plugins/vprkit_hnswlib``). Importing this package does
not import faiss (the kernels import it when they run).
"""

from vprkit.index.base import (
    CandidateRows,
    DescriptorIndex,
    IndexFingerprint,
    StaleIndexError,
    load_index,
    read_index_meta,
)
from vprkit.index.cell_sorted import CellCandidates, CellSortedDescriptors, FlatConfig

__all__ = [
    "CandidateRows",
    "CellCandidates",
    "CellSortedDescriptors",
    "DescriptorIndex",
    "FlatConfig",
    "IndexFingerprint",
    "StaleIndexError",
    "load_index",
    "read_index_meta",
]
