"""vprkit plugin: faiss indexes: `flat` (exact inner product) and `ivfpq` (the paper's presets).

`flat` is vprkit's cell-sorted store (:class:`vprkit.index.CellSortedDescriptors`): exact search
with faiss's in-place kernels (a NumPy kernel where faiss is missing, a torch kernel on the CPU or
CUDA), over all rows or over the rows of given cells; ``storage=float16`` halves its resident
memory (float32 re-ranking keeps the scores exact). `ivfpq` moves to a GPU (``to_device``) when
faiss is a GPU build.
"""

from vprkit import IndexSpec, SpecPlugin
from vprkit_faiss.config import FlatConfig, IvfpqConfig

plugin = SpecPlugin(
    IndexSpec(
        name="flat",
        factory="vprkit.index.cell_sorted:CellSortedDescriptors",
        config=FlatConfig,
        description="exact inner product over descriptors sorted by cell; restricted search scores candidate rows "
        "in place",
    ),
    IndexSpec(
        name="ivfpq",
        factory="vprkit_faiss.ivfpq:IvfpqIndex",
        config=IvfpqConfig,
        description="faiss IVF1000 + PQ128, inner product; presets recall (nprobe 50) and speed (nprobe 2)",
    ),
)
