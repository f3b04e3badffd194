"""The weights the CosPlace authors published (as data; import-light): one file per (backbone,
descriptor dimension) of ``hubconf.py``'s ``AVAILABLE_TRAINED_MODELS`` at gmberton/CosPlace @ 33ce8d0."""

from __future__ import annotations

from vprkit import Release

__all__ = ["RELEASES"]

_URL = "https://github.com/gmberton/CosPlace/releases/download/v1.0/{backbone}_{dim}_cosplace.pth"
# hubconf.py AVAILABLE_TRAINED_MODELS: backbone → descriptor dimensions released
_HUBCONF = {
    "VGG16": (64, 128, 256, 512),
    "ResNet18": (32, 64, 128, 256, 512),
    "ResNet50": (32, 64, 128, 256, 512, 1024, 2048),
    "ResNet101": (32, 64, 128, 256, 512, 1024, 2048),
    "ResNet152": (32, 64, 128, 256, 512, 1024, 2048),
}

RELEASES = tuple(
    Release(
        name=f"{backbone.lower()}_{dim}",
        url=_URL.format(backbone=backbone, dim=dim),
        description=f"CosPlace {backbone} → {dim}-D, trained on SF-XL (torch.hub gmberton/cosplace)",
        config={"backbone": backbone.lower(), "fc_output_dim": dim},
        license="MIT (gmberton/CosPlace)",
        source="github.com/gmberton/CosPlace @ 33ce8d0 (hubconf.py)",
    )
    for backbone, dims in _HUBCONF.items()
    for dim in dims
)
