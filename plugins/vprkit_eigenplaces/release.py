"""Importing the EigenPlaces authors' released weights (gmberton/EigenPlaces @ a2969f7).

A release is a plain state dict of ``GeoLocalizationNet_``: ``backbone.<i>.*`` (torchvision ResNet
``children()[:-2]`` or VGG16 ``features.children()[:-2]``) + ``aggregation.<i>.*`` (L2Norm, GeM,
Flatten, Linear, L2Norm) — CosPlace's layout key for key, so :mod:`vprkit.models.official` maps
it. ``torch.hub`` downloads one per (backbone, dimension) of ``hubconf.py`` from the v1.0 GitHub
release (``<Backbone>_<dim>_eigenplaces.pth``); a training checkpoint of the official trainer
(``last_checkpoint.pth``) holds the same dict under ``model_state_dict`` (its lateral and frontal
heads are not imported: their class order is a Python set's). Backbone and dimension are read off
the keys. The official test transform is no resize and ImageNet normalisation, vprkit's default.
"""

from __future__ import annotations

from vprkit.config import build_config
from vprkit.errors import DataError
from vprkit.models.official import cosplace_architecture, load_cosplace_weights, read_state_file, strip_module_prefix
from vprkit.models.release import ImportedModel, ImportRequest
from vprkit_eigenplaces.config import EigenPlacesRetrieverConfig

__all__ = ["import_eigenplaces"]


def import_eigenplaces(request: ImportRequest) -> ImportedModel:
    """An official EigenPlaces state dict (or training checkpoint) → an
    :class:`~vprkit_eigenplaces.retriever.EigenPlacesRetriever`, with a start checkpoint (the
    network; fresh lateral and frontal heads for the dataset) for fine-tuning by ``vprkit train
    retriever eigenplaces --out DIR --resume``."""
    from vprkit.training.engine import start_checkpoint
    from vprkit_eigenplaces.retriever import EigenPlacesRetriever

    data = read_state_file(request.weights)
    if isinstance(data, dict) and "model_state_dict" in data:
        data = data["model_state_dict"]
    if not isinstance(data, dict):
        raise DataError(f"{str(request.weights)!r} is not an EigenPlaces state dict")
    state = strip_module_prefix(data)
    backbone, dim = cosplace_architecture(state)
    values = {"backbone": backbone, "fc_output_dim": dim, "pretrained": False, "test_transform": {"resize": "none"}}
    config = build_config(
        EigenPlacesRetrieverConfig, values, request.overrides, owner="retriever 'eigenplaces' (import)"
    )
    if (config.backbone, config.fc_output_dim) != (backbone, dim):
        raise DataError(
            f"{str(request.weights)!r} holds a {backbone} → {dim}-D EigenPlaces model, "
            f"not the {config.backbone} → {config.fc_output_dim}-D asked for"
        )
    model = EigenPlacesRetriever(config)
    load_cosplace_weights(model.net, state)  # strict: every key of the file is consumed, none is missing
    model.training_summary = {"release": request.provenance(architecture=f"{backbone} → {dim}-D")}
    start = start_checkpoint(
        config.training, model.net.state_dict(), origin=f"EigenPlaces release {request.weights.name}"
    )
    return ImportedModel(model, start)
