"""vprkit plugin: Adaptive S2 partitions (PlaNet/HGE/MvMF procedure): the `s2` partitioner shared by PlaNet, HGE and MvMF.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""

from vprkit import PartitionerSpec, hookimpl
from vprkit_s2.config import S2PartitionConfig


@hookimpl
def vprkit_partitioners():
    return [
        PartitionerSpec(
            name="s2",
            factory="vprkit_s2.partition:S2Partitioner",
            config=S2PartitionConfig,
            description="Adaptive S2 cells (PlaNet/MvMF): split above τmax, drop at or below τmin",
        )
    ]
