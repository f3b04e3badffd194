"""vprkit plugin: the `lightglue` re-ranker: DISK features matched by LightGlue (kornia), RANSAC inliers."""

from vprkit import ModelCard, Release, RerankerSpec, SpecPlugin
from vprkit_lightglue.config import LightGlueConfig

#: the authors' releases; their SHA-256 is recorded on the first download and checked after it
DISK_DEPTH = Release(
    name="disk-depth",
    url="https://raw.githubusercontent.com/cvlab-epfl/disk/master/depth-save.pth",
    description="DISK trained with depth supervision (the checkpoint LightGlue's DISK weights were trained on)",
    license="Apache-2.0",
    source="github.com/cvlab-epfl/disk",
)
LIGHTGLUE_DISK = Release(
    name="lightglue-disk",
    url="https://github.com/cvg/LightGlue/releases/download/v0.1_arxiv/disk_lightglue.pth",
    description="LightGlue trained for DISK features",
    license="Apache-2.0",
    source="github.com/cvg/LightGlue (release v0.1_arxiv)",
)

plugin = SpecPlugin(
    RerankerSpec(
        name="lightglue",
        factory="vprkit_lightglue.matcher:LightGlueReranker",
        config=LightGlueConfig,
        description="DISK + LightGlue through kornia (extra: rerank), RANSAC inliers; pretrained=False: random weights",
        releases=(DISK_DEPTH, LIGHTGLUE_DISK),
        card=ModelCard(
            paper="Lindenberger et al., LightGlue: Local Feature Matching at Light Speed, ICCV 2023; "
            "Tyszkiewicz et al., DISK: Learning local features with policy gradient, NeurIPS 2020",
            license="Apache-2.0",
            input="RGB in [0, 1], padded to a multiple of 16 (DISK's U-Net)",
            weights="pretrained=True downloads the two releases into <cache>/releases/ (checksums recorded); "
            "pretrained=False is a seeded random initialisation (no meaningful matches)",
        ),
    ),
)
