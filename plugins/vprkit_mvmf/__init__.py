"""vprkit plugin: MvMF: a mixture of von Mises–Fisher distributions over S2 cells, in its Gaussian city-scale limit.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""

from vprkit import ClassifierSpec, hookimpl
from vprkit_mvmf.classifier_config import MvMFClassifierConfig


@hookimpl
def vprkit_classifiers():
    return [
        ClassifierSpec(
            name="mvmf",
            factory="vprkit_mvmf.classifier:MvMFClassifier",
            config=MvMFClassifierConfig,
            description="MvMF: mixture of vMF over S2 cells (Gaussian-in-UTM limit, float64 log-sum-exp), top components",
            partitioner="s2",
        )
    ]
