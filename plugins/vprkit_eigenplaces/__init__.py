"""vprkit plugin: EigenPlaces (Berton et al., ICCV 2023): the `eigenplaces` retriever, CosPlace's
network trained on lateral and frontal views of each cell's focal points."""

from vprkit import ModelCard, PaperResult, RetrieverSpec, SpecPlugin
from vprkit_eigenplaces.config import EigenPlacesRetrieverConfig
from vprkit_eigenplaces.releases import RELEASES

_R50 = "ResNet-50 2048-D (paper)"

plugin = SpecPlugin(
    RetrieverSpec(
        name="eigenplaces",
        factory="vprkit_eigenplaces.retriever:EigenPlacesRetriever",
        trainer="vprkit_eigenplaces.train:train_eigenplaces",
        config=EigenPlacesRetrieverConfig,
        description="EigenPlaces: GeM descriptors trained with lateral + frontal CosFace heads on views of "
        "each cell's focal points (heads discarded)",
        importer="vprkit_eigenplaces.release:import_eigenplaces",
        releases=RELEASES,
        card=ModelCard(
            paper="Berton, Trivigno, Caputo, Masone, EigenPlaces: Training Viewpoint Robust Models for Visual "
            "Place Recognition, ICCV 2023",
            license="MIT",
            input="no resize, ImageNet mean/std (official test transform)",
            weights="authors' torch.hub releases per backbone and dimension, trained on SF-XL "
            "(vprkit models releases eigenplaces)",
            results=(PaperResult("SF-XL test v1", "R@1", 84.1, _R50),),
        ),
    ),
)
