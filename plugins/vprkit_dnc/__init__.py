"""vprkit plugin: Divide&Classify (Trivigno, Berton et al., ICCV 2023): the `dnc` partitioner (square UTM cells in N×N groups) and the `dnc` AAMC classifier.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""

from vprkit import ClassifierSpec, PartitionerSpec, hookimpl
from vprkit_dnc.classifier_config import DncClassifierConfig
from vprkit_dnc.config import DncPartitionConfig


@hookimpl
def vprkit_partitioners():
    return [
        PartitionerSpec(
            name="dnc",
            factory="vprkit_dnc.partition:DncPartitioner",
            config=DncPartitionConfig,
            description="Divide&Classify: square UTM cells of M metres in N×N groups of non-adjacent cells",
        )
    ]


@hookimpl
def vprkit_classifiers():
    return [
        ClassifierSpec(
            name="dnc",
            factory="vprkit_dnc.classifier:DncClassifier",
            config=DncClassifierConfig,
            description="Divide&Classify AAMC: one ArcFace-prototype head per group, joint top-K, expert-agreement confidence",
            partitioner="dnc",
        )
    ]
