"""vprkit plugin: PlaNet (Weyand et al., 2016): a softmax classifier over adaptive S2 cells.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""

from vprkit import ClassifierSpec, hookimpl
from vprkit_planet.classifier_config import PlaNetClassifierConfig


@hookimpl
def vprkit_classifiers():
    return [
        ClassifierSpec(
            name="planet",
            factory="vprkit_planet.classifier:PlaNetClassifier",
            config=PlaNetClassifierConfig,
            description="PlaNet: one linear softmax head over adaptive S2 cells, cross-entropy",
            partitioner="s2",
        )
    ]
