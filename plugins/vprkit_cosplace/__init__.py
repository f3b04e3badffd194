"""vprkit plugin: CosPlace (Berton et al., CVPR 2022): the `cosplace` partitioner (UTM cells × heading bins in N·N·L groups) and the `cosplace` retriever."""

from vprkit import ModelCard, PaperResult, PartitionerSpec, RetrieverSpec, SpecPlugin
from vprkit_cosplace.config import CosPlacePartitionConfig
from vprkit_cosplace.releases import RELEASES
from vprkit_cosplace.retriever_config import CosPlaceRetrieverConfig

plugin = SpecPlugin(
    PartitionerSpec(
        name="cosplace",
        factory="vprkit_cosplace.partition:CosPlacePartitioner",
        config=CosPlacePartitionConfig,
        description="CosPlace: UTM cells of M metres × heading bins of α degrees in N·N·L groups (needs headings)",
    ),
    RetrieverSpec(
        name="cosplace",
        factory="vprkit_cosplace.retriever:CosPlaceRetriever",
        trainer="vprkit_cosplace.train:train_cosplace",
        config=CosPlaceRetrieverConfig,
        description="CosPlace: GeM descriptors trained with CosFace heads over UTM×heading groups (heads discarded)",
        importer="vprkit_cosplace.release:import_cosplace",
        releases=RELEASES,
        card=ModelCard(
            paper="Berton et al., Rethinking Visual Geo-localization for Large-Scale Applications (CosPlace), CVPR 2022",
            license="MIT",
            input="no resize, ImageNet mean/std (official test transform)",
            weights="authors' torch.hub releases per backbone and dimension (vprkit models releases cosplace); shipped synthcity checkpoint",
            results=(
                PaperResult("SF-XL test v1", "LR@1", 64.7, "VGG16 512-D (D&C paper, Table 1)"),
                PaperResult("SF-XL test v2", "LR@1", 83.4, "VGG16 512-D (D&C paper, Table 1)"),
            ),
        ),
    ),
)
