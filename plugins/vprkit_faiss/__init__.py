"""vprkit plugin: faiss indexes: `flat` (exact inner product) and `ivfpq` (the paper's presets).

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""

from vprkit import IndexSpec, hookimpl
from vprkit_faiss.config import FlatConfig, IvfpqConfig


@hookimpl
def vprkit_indexes():
    return [
        IndexSpec(
            name="flat",
            factory="vprkit_faiss.flat:FlatIndex",
            config=FlatConfig,
            description="faiss IndexFlatIP: exact inner product; restricted search scores candidate rows in place",
        ),
        IndexSpec(
            name="ivfpq",
            factory="vprkit_faiss.ivfpq:IvfpqIndex",
            config=IvfpqConfig,
            description="faiss IVF1000 + PQ128, inner product; presets recall (nprobe 50) and speed (nprobe 2)",
        ),
    ]
