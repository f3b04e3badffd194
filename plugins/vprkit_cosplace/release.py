"""Importing the CosPlace authors' released weights (gmberton/CosPlace @ 33ce8d0).

The releases are plain state dicts of ``GeoLocalizationNet`` (``backbone.*`` + ``aggregation.*``,
see :mod:`vprkit.models.official`), one per (backbone, descriptor dimension) listed in the
repository's ``hubconf.py`` and downloaded by ``torch.hub`` from the v1.0 GitHub release
(``<Backbone>_<dim>_cosplace.pth``). A training checkpoint of the official trainer
(``last_checkpoint.pth``) holds the same state dict under ``model_state_dict``. The backbone and
dimension are read off the keys. The official test transform is no resize (``resize_test_imgs``
is off by default) and ImageNet normalisation, vprkit's CosPlace default.
"""

from __future__ import annotations

from vprkit.config import build_config
from vprkit.errors import DataError
from vprkit.models.official import (
    cosplace_architecture,
    load_cosplace_weights,
    read_state_file,
    strip_module_prefix,
)
from vprkit.models.release import ImportedModel, ImportRequest
from vprkit_cosplace.retriever_config import CosPlaceRetrieverConfig

__all__ = ["import_cosplace"]


def import_cosplace(request: ImportRequest) -> ImportedModel:
    """An official CosPlace state dict (or training checkpoint) → a :class:`CosPlaceRetriever`,
    with a start checkpoint (the network, fresh heads for the dataset) for fine-tuning by
    ``vprkit train retriever cosplace --out DIR --resume``."""
    from vprkit.training.engine import start_checkpoint
    from vprkit_cosplace.retriever import CosPlaceRetriever

    data = read_state_file(request.weights)
    if isinstance(data, dict) and "model_state_dict" in data:
        data = data["model_state_dict"]
    if not isinstance(data, dict):
        raise DataError(f"{str(request.weights)!r} is not a CosPlace state dict")
    state = strip_module_prefix(data)
    backbone, dim = cosplace_architecture(state)
    values = {"backbone": backbone, "fc_output_dim": dim, "pretrained": False, "test_transform": {"resize": "none"}}
    config = build_config(CosPlaceRetrieverConfig, values, request.overrides, owner="retriever 'cosplace' (import)")
    if (config.backbone, config.fc_output_dim) != (backbone, dim):
        raise DataError(
            f"{str(request.weights)!r} holds a {backbone} → {dim}-D CosPlace model, "
            f"not the {config.backbone} → {config.fc_output_dim}-D asked for"
        )
    model = CosPlaceRetriever(config)
    load_cosplace_weights(model.net, state)
    model.training_summary = {"release": request.provenance(architecture=f"{backbone} → {dim}-D")}
    start = start_checkpoint(config.training, model.net.state_dict(), origin=f"CosPlace release {request.weights.name}")
    return ImportedModel(model, start)
