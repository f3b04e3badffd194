"""vprkit plugin: CPlaNet (Seo et al., ECCV 2018): combinatorial partitioning of the map into several geoclass sets."""

from vprkit import JointClassifierSpec, PartitionerSpec, SpecPlugin
from vprkit_cplanet.classifier_config import CPlaNetClassifierConfig
from vprkit_cplanet.config import CPlaNetPartitionConfig

plugin = SpecPlugin(
    PartitionerSpec(
        name="cplanet",
        factory="vprkit_cplanet.partition:CPlaNetPartitioner",
        config=CPlaNetPartitionConfig,
        description="CPlaNet: five geoclass sets by greedy merging of S2 atoms, combined into combinatorial regions",
    ),
    JointClassifierSpec(
        name="cplanet",
        factory="vprkit_cplanet.classifier:CPlaNetClassifier",
        config=CPlaNetClassifierConfig,
        description="CPlaNet: one softmax head per geoclass set, NormalizedSum over combinatorial regions",
        partitioner="cplanet",
    ),
)
