"""vprkit plugin: Hierarchical Geolocation Estimation (Müller-Budack et al., 2018): three nested S2 partitions with hierarchical scoring.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""

from vprkit import ClassifierSpec, PartitionerSpec, hookimpl
from vprkit_hge.classifier_config import HgeClassifierConfig
from vprkit_hge.config import HgePartitionConfig


@hookimpl
def vprkit_partitioners():
    return [
        PartitionerSpec(
            name="hge",
            factory="vprkit_hge.partition:HgePartitioner",
            config=HgePartitionConfig,
            description="HGE: three nested adaptive S2 partitions (coarse/medium/fine) and their hierarchy matrix",
        )
    ]


@hookimpl
def vprkit_classifiers():
    return [
        ClassifierSpec(
            name="hge",
            factory="vprkit_hge.classifier:HgeClassifier",
            config=HgeClassifierConfig,
            description="HGE: one softmax head per nested S2 level, summed CEs, fine cells ranked by summed log-probabilities",
            partitioner="hge",
        )
    ]
