"""vprkit plugin: Hierarchical Geolocation Estimation (Müller-Budack et al., 2018): three nested S2 partitions with hierarchical scoring."""

from vprkit import JointClassifierSpec, ModelCard, PaperResult, PartitionerSpec, SpecPlugin
from vprkit_hge.classifier_config import HgeClassifierConfig
from vprkit_hge.config import HgePartitionConfig

plugin = SpecPlugin(
    PartitionerSpec(
        name="hge",
        factory="vprkit_hge.partition:HgePartitioner",
        config=HgePartitionConfig,
        description="HGE: three nested adaptive S2 partitions (coarse/medium/fine) and their hierarchy matrix",
    ),
    JointClassifierSpec(
        name="hge",
        factory="vprkit_hge.classifier:HgeClassifier",
        config=HgeClassifierConfig,
        description="HGE: one softmax head per nested S2 level, summed CEs, fine cells ranked by summed log-probabilities",
        partitioner="hge",
        card=ModelCard(
            paper="Müller-Budack et al., Geolocation Estimation of Photos, ECCV 2018",
            license="MIT",
            input="vprkit default test transform (config test_transform)",
            weights="none released for cities; train with vprkit train classifier hge",
            results=(
                PaperResult("SF-XL test v1", "LR@1", 27.0, "re-implemented by the D&C authors (D&C paper, Table 1)"),
                PaperResult("SF-XL test v2", "LR@1", 56.4, "D&C paper, Table 1"),
            ),
        ),
    ),
)
