"""vprkit plugin: MvMF: a mixture of von Mises–Fisher distributions over S2 cells, in its Gaussian city-scale limit."""

from vprkit import JointClassifierSpec, SpecPlugin
from vprkit_mvmf.classifier_config import MvMFClassifierConfig

plugin = SpecPlugin(
    JointClassifierSpec(
        name="mvmf",
        factory="vprkit_mvmf.classifier:MvMFClassifier",
        config=MvMFClassifierConfig,
        description="MvMF: mixture of vMF over S2 cells (Gaussian-in-UTM limit, float64 log-sum-exp), top components",
        partitioner="s2",
    ),
)
