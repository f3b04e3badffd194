"""vprkit plugin: Adaptive S2 partitions (PlaNet/HGE/MvMF procedure): the `s2` partitioner shared by PlaNet, HGE and MvMF."""

from vprkit import PartitionerSpec, SpecPlugin
from vprkit_s2.config import S2PartitionConfig

plugin = SpecPlugin(
    PartitionerSpec(
        name="s2",
        factory="vprkit_s2.partition:S2Partitioner",
        config=S2PartitionConfig,
        description="Adaptive S2 cells (PlaNet/MvMF): split above τmax, drop at or below τmin",
    ),
)
