"""vprkit plugin: CPlaNet (Seo et al., ECCV 2018): combinatorial partitioning of the map into several geoclass sets.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""

from vprkit import ClassifierSpec, PartitionerSpec, hookimpl
from vprkit_cplanet.classifier_config import CPlaNetClassifierConfig
from vprkit_cplanet.config import CPlaNetPartitionConfig


@hookimpl
def vprkit_partitioners():
    return [
        PartitionerSpec(
            name="cplanet",
            factory="vprkit_cplanet.partition:CPlaNetPartitioner",
            config=CPlaNetPartitionConfig,
            description="CPlaNet: five geoclass sets by greedy merging of S2 atoms, combined into combinatorial regions",
        )
    ]


@hookimpl
def vprkit_classifiers():
    return [
        ClassifierSpec(
            name="cplanet",
            factory="vprkit_cplanet.classifier:CPlaNetClassifier",
            config=CPlaNetClassifierConfig,
            description="CPlaNet: one softmax head per geoclass set, NormalizedSum over combinatorial regions",
            partitioner="cplanet",
        )
    ]
