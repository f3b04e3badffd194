"""vprkit plugin: CPlaNet (Seo et al., ECCV 2018): combinatorial partitioning of the map into several geoclass sets."""

from vprkit import JointClassifierSpec, ModelCard, PaperResult, PartitionerSpec, SpecPlugin
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
        card=ModelCard(
            paper="Seo et al., CPlaNet, ECCV 2018",
            license="MIT",
            input="vprkit default test transform (config test_transform)",
            weights="none released for cities; train with vprkit train classifier cplanet",
            results=(
                PaperResult("SF-XL test v1", "LR@1", 27.4, "re-implemented by the D&C authors (D&C paper, Table 1)"),
                PaperResult("SF-XL test v2", "LR@1", 64.1, "D&C paper, Table 1"),
            ),
        ),
    ),
)
