"""vprkit plugin: PlaNet (Weyand et al., 2016): a softmax classifier over adaptive S2 cells."""

from vprkit import JointClassifierSpec, SpecPlugin
from vprkit_planet.classifier_config import PlaNetClassifierConfig

plugin = SpecPlugin(
    JointClassifierSpec(
        name="planet",
        factory="vprkit_planet.classifier:PlaNetClassifier",
        config=PlaNetClassifierConfig,
        description="PlaNet: one linear softmax head over adaptive S2 cells, cross-entropy",
        partitioner="s2",
    ),
)
