"""vprkit plugin: NetVLAD (Arandjelović et al., 2016) and GeM retrievers trained with triplet loss and partial mining."""

from vprkit import ModelCard, PaperResult, Release, RetrieverSpec, SpecPlugin
from vprkit_netvlad.config import GeMRetrieverConfig, NetVLADRetrieverConfig

plugin = SpecPlugin(
    RetrieverSpec(
        name="netvlad",
        factory="vprkit_netvlad.retriever:NetVLADRetriever",
        trainer="vprkit_netvlad.train:train_netvlad",
        config=NetVLADRetrieverConfig,
        description="NetVLAD: cropped backbone → NetVLAD (K=64, k-means init) → PCA-whitening; triplets, partial mining",
        importer="vprkit_netvlad.release:import_netvlad",
        releases=(
            Release(
                name="vgg16_netvlad",
                url="https://github.com/michaelschleiss/pytorch-NetVlad/releases/download/v1.0/vgg16_netvlad.pth.tar",
                description="VGG16 + NetVLAD (K = 64, 32768-D, no PCA) in Nanne/pytorch-NetVlad's checkpoint layout, "
                "as the torch.hub entry of michaelschleiss/pytorch-NetVlad loads it",
                license="no licence file in either repository",
                source="github.com/michaelschleiss/pytorch-NetVlad (hubconf.py); layout of Nanne/pytorch-NetVlad @ def998e",
            ),
        ),
        card=ModelCard(
            paper="Arandjelović et al., NetVLAD, CVPR 2016",
            license="",
            input="vprkit default test transform (config test_transform)",
            weights="VGG16 Pitts30k release of Nanne/pytorch-NetVlad (no licence file); train with vprkit train retriever netvlad",
            results=(
                PaperResult("SF-XL test v1", "LR@1", 40.0, "VGG16, 4096-D PCA (D&C paper, Table 1)"),
                PaperResult("SF-XL test v2", "LR@1", 71.1, "D&C paper, Table 1"),
            ),
        ),
    ),
    RetrieverSpec(
        name="gem",
        factory="vprkit_netvlad.retriever:GeMRetriever",
        trainer="vprkit_netvlad.train:train_gem",
        config=GeMRetrieverConfig,
        description="GeM: cropped backbone → GeM (p=3) → FC → L2; triplet loss with partial mining",
        card=ModelCard(
            paper="Radenović et al., Fine-tuning CNN Image Retrieval with No Human Annotation, TPAMI 2018",
            license="MIT",
            input="vprkit default test transform (config test_transform)",
            weights="none released for VPR; train with vprkit train retriever gem",
            results=(
                PaperResult("SF-XL test v1", "LR@1", 21.7, "VGG16, VPR benchmark training (D&C paper, Table 1)"),
                PaperResult("SF-XL test v2", "LR@1", 43.1, "D&C paper, Table 1"),
            ),
        ),
    ),
)
