"""vprkit plugin: PlaNet (Weyand et al., 2016): a softmax classifier over adaptive S2 cells."""

from vprkit import JointClassifierSpec, ModelCard, PaperResult, SpecPlugin
from vprkit_planet.classifier_config import PlaNetClassifierConfig

plugin = SpecPlugin(
    JointClassifierSpec(
        name="planet",
        factory="vprkit_planet.classifier:PlaNetClassifier",
        config=PlaNetClassifierConfig,
        description="PlaNet: one linear softmax head over adaptive S2 cells, cross-entropy",
        partitioner="s2",
        card=ModelCard(
            paper="Weyand et al., PlaNet, ECCV 2016",
            license="MIT",
            input="vprkit default test transform (config test_transform)",
            weights="none released for cities; train with vprkit train classifier planet",
            results=(
                PaperResult("SF-XL test v1", "LR@1", 24.5, "re-implemented by the D&C authors (D&C paper, Table 1)"),
                PaperResult("SF-XL test v2", "LR@1", 53.1, "D&C paper, Table 1"),
            ),
        ),
    ),
)
