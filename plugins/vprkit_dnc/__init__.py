"""vprkit plugin: Divide&Classify (Trivigno, Berton et al., ICCV 2023): the `dnc` partitioner (square UTM cells in N×N groups) and the `dnc` AAMC classifier."""

from vprkit import ClassifierSpec, ModelCard, PaperResult, PartitionerSpec, Release, SpecPlugin
from vprkit_dnc.classifier_config import DncClassifierConfig
from vprkit_dnc.config import DncPartitionConfig

plugin = SpecPlugin(
    PartitionerSpec(
        name="dnc",
        factory="vprkit_dnc.partition:DncPartitioner",
        config=DncPartitionConfig,
        description="Divide&Classify: square UTM cells of M metres in N×N groups of non-adjacent cells",
    ),
    ClassifierSpec(
        name="dnc",
        factory="vprkit_dnc.classifier:DncClassifier",
        trainer="vprkit_dnc.train:train_dnc",
        config=DncClassifierConfig,
        description="Divide&Classify AAMC: one ArcFace-prototype head per group, joint top-K, expert-agreement confidence",
        partitioner="dnc",
        card=ModelCard(
            paper="Trivigno et al., Divide&Classify, ICCV 2023",
            license="",
            input="shorter side resized to 256, ImageNet mean/std",
            weights="authors' SF-XL EfficientNet-B0 (vprkit models import dnc); shipped synthcity checkpoint (MIT, vprkit)",
            results=(
                PaperResult("SF-XL test v1", "LR@1", 61.0, "EfficientNet-B0, M = 20 m, N = 2 (D&C paper, Table 1)"),
                PaperResult("SF-XL test v2", "LR@1", 79.1, "EfficientNet-B0 (D&C paper, Table 1)"),
                PaperResult("SF-XL test v1", "LR@1", 71.4, "D&C top-100 cells + CosPlace (D&C paper, Table 1)"),
            ),
        ),
        importer="vprkit_dnc.release:import_dnc",
        releases=(
            Release(
                name="sfxl_efficientnet_b0",
                # the README's Google Drive link; this endpoint serves large files without the
                # "cannot scan for viruses" page
                url="https://drive.usercontent.google.com/download?id=19XOV8AIHQE05I1rVeedtGZjU4hpiNFh0"
                "&export=download&confirm=t",
                file_name="dnc_sfxl_efficientnet_b0_m20_n2.pth",
                description="EfficientNet-B0 + AAMC trained on SF-XL (M = 20 m, N = 2); LR@1 61.5 on SF-XL test v1 "
                "(authors' README); needs the SF-XL training list (--train-names or --train-dataset)",
                config={"backbone": "efficientnet_b0", "partition": {"M": 20.0, "N": 2, "min_images_per_class": 10}},
                license="no licence file in the repository (research code)",
                source="github.com/ga1i13o/Divide-and-Classify @ e7b777c (README, Model zoo)",
            ),
        ),
    ),
)
