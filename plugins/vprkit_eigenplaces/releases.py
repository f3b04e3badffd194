"""The weights the EigenPlaces authors published (as data; import-light): one file per (backbone,
descriptor dimension) of ``hubconf.py``'s ``AVAILABLE_TRAINED_MODELS`` at gmberton/EigenPlaces @ a2969f7."""

from __future__ import annotations

from vprkit import Release

__all__ = ["RELEASES"]

_URL = "https://github.com/gmberton/EigenPlaces/releases/download/v1.0/{backbone}_{dim}_eigenplaces.pth"
# hubconf.py AVAILABLE_TRAINED_MODELS: backbone → descriptor dimensions released (the README omits
# ResNet-50 at 1024-D, which hubconf lists)
_HUBCONF = {
    "VGG16": (512,),
    "ResNet18": (256, 512),
    "ResNet50": (128, 256, 512, 1024, 2048),
    "ResNet101": (128, 256, 512, 1024, 2048),
}

RELEASES = tuple(
    Release(
        name=f"{backbone.lower()}_{dim}",
        url=_URL.format(backbone=backbone, dim=dim),
        description=f"EigenPlaces {backbone} → {dim}-D, trained on SF-XL (torch.hub gmberton/eigenplaces)",
        config={"backbone": backbone.lower(), "fc_output_dim": dim},
        license="MIT (gmberton/EigenPlaces)",
        source="github.com/gmberton/EigenPlaces @ a2969f7 (hubconf.py)",
    )
    for backbone, dims in _HUBCONF.items()
    for dim in dims
)
