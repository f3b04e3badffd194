"""The weights the SALAD authors published (as data; import-light), serizba/salad @ e593005.

``dino_salad``: DINOv2 ViT-B/14 + SALAD (64 × 128 + 256 = 8448-D) trained on GSV-Cities, the file
the torch.hub entry ``dinov2_salad`` (``hubconf.py``) downloads from the v1.0.0 GitHub release.
The README also links a smaller model (``dino_salad_512_32``, 512 + 32-D) on Google Drive only, a
download vprkit cannot make; ``vprkit models import salad FILE`` imports it from disk (the
architecture is read off the weights).
"""

from __future__ import annotations

from vprkit import Release

__all__ = ["RELEASES"]

RELEASES = (
    Release(
        name="dino_salad",
        url="https://github.com/serizba/salad/releases/download/v1.0.0/dino_salad.ckpt",
        description="DINOv2 ViT-B/14 + SALAD, 8448-D (64 clusters × 128 + 256), trained on GSV-Cities "
        "(torch.hub serizba/salad dinov2_salad)",
        config={"backbone": "vit_base_patch14_dinov2", "num_clusters": 64, "cluster_dim": 128, "token_dim": 256},
        license="GPL-3.0 (serizba/salad)",
        source="github.com/serizba/salad @ e593005 (hubconf.py)",
    ),
)
