"""The weights the BoQ authors published (as data; import-light): ``hubconf.py``'s ``MODEL_URLS`` at
amaralibey/Bag-of-Queries @ 1a4965e (``torch.hub.load("amaralibey/bag-of-queries",
"get_trained_boq", backbone_name=..., output_dim=...)``), both trained on GSV-Cities."""

from __future__ import annotations

from vprkit import Release

__all__ = ["RELEASES"]

_URL = "https://github.com/amaralibey/Bag-of-Queries/releases/download/v1.0/{name}.pth"
_SOURCE = "github.com/amaralibey/Bag-of-Queries @ 1a4965e (hubconf.py get_trained_boq, MODEL_URLS)"

RELEASES = (
    Release(
        name="resnet50_16384",
        url=_URL.format(name="resnet50_16384"),
        description="ResNet-50 (layer4 cut) + BoQ (512 channels, 2 blocks × 64 queries, 32 rows) → 16384-D, "
        "trained on GSV-Cities; eval 384×384 (torch.hub get_trained_boq backbone_name=resnet50)",
        config={"backbone": "resnet50", "proj_channels": 512, "num_queries": 64, "num_layers": 2, "row_dim": 32},
        license="MIT",
        source=_SOURCE,
    ),
    Release(
        name="dinov2_12288",
        url=_URL.format(name="dinov2_12288"),
        description="DINOv2 ViT-B/14 (last 2 blocks trained) + BoQ (384 channels, 2 blocks × 64 queries, 32 rows) "
        "→ 12288-D, trained on GSV-Cities; eval 322×322 (torch.hub get_trained_boq backbone_name=dinov2)",
        config={
            "backbone": "vit_base_patch14_dinov2",
            "proj_channels": 384,
            "num_queries": 64,
            "num_layers": 2,
            "row_dim": 32,
        },
        license="MIT",
        source=_SOURCE,
    ),
)
