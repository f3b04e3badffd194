"""vprkit plugin: MvMF: a mixture of von Mises–Fisher distributions over S2 cells, in its Gaussian city-scale limit."""

from vprkit import JointClassifierSpec, ModelCard, PaperResult, SpecPlugin
from vprkit_mvmf.classifier_config import MvMFClassifierConfig

plugin = SpecPlugin(
    JointClassifierSpec(
        name="mvmf",
        factory="vprkit_mvmf.classifier:MvMFClassifier",
        config=MvMFClassifierConfig,
        description="MvMF: mixture of vMF over S2 cells (Gaussian-in-UTM limit, float64 log-sum-exp), top components",
        partitioner="s2",
        card=ModelCard(
            paper="Izbicki et al., Exploiting the Earth's Spherical Geometry to Geolocate Images, ECML PKDD 2019",
            license="MIT",
            input="vprkit default test transform (config test_transform)",
            weights="none released for cities; train with vprkit train classifier mvmf",
            results=(
                PaperResult("SF-XL test v1", "LR@1", 22.6, "re-implemented by the D&C authors (D&C paper, Table 1)"),
                PaperResult("SF-XL test v2", "LR@1", 52.2, "D&C paper, Table 1"),
            ),
        ),
    ),
)
