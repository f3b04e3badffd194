"""vprkit plugin: the `sift` re-ranker: OpenCV SIFT, Lowe's ratio test and RANSAC inlier counts."""

from vprkit import ModelCard, RerankerSpec, SpecPlugin
from vprkit_sift.config import SiftConfig

plugin = SpecPlugin(
    RerankerSpec(
        name="sift",
        factory="vprkit_sift.sift:SiftReranker",
        config=SiftConfig,
        description="OpenCV SIFT, ratio test 0.8 (Lowe 2004), RANSAC fundamental matrix or homography; score = inliers",
        card=ModelCard(
            paper="Lowe, Distinctive Image Features from Scale-Invariant Keypoints, IJCV 2004",
            license="Apache-2.0",  # OpenCV's (the SIFT patent expired in March 2020)
            input="any size; grey levels (PIL's L conversion); optional upscaling before detection",
            weights="none: a hand-designed detector and descriptor",
        ),
    ),
)
