"""Finding trained models: a saved model folder, or a checkpoint a plugin ships.

A method plugin may ship checkpoints inside its package, in ``checkpoints/<dataset-tag>/`` (a model
folder as written by the model's ``save``), e.g. ``vprkit_dnc/checkpoints/synthcity-small/``.
``vprkit run`` uses them when no model folder is given; the docs give the command that trained them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vprkit.errors import ConfigError, DataError
from vprkit.registry import get_spec

if TYPE_CHECKING:
    from vprkit.contracts import Classifier, TrainedModel

__all__ = [
    "CLASSIFIER_SETTINGS",
    "DEFAULT_TAG",
    "apply_classifier_settings",
    "load_model",
    "model_resolution",
    "resolve_model",
    "set_resolution",
    "shipped_checkpoint",
    "shipped_methods",
]

#: the name under which errors about a classifier's inference settings report them
#: (``ConfigError.field``; the CLI shows the flag that sets them instead)
CLASSIFIER_SETTINGS = "classifier_settings"

DEFAULT_TAG = "synthcity-small"


def load_model(directory: str | Path, kind: str | None = None) -> TrainedModel:
    """Load a model folder written by ``save`` (its manifest names the kind and method)."""
    from vprkit.models.artifact import read_manifest

    d = Path(directory)
    manifest = read_manifest(d)
    if kind and manifest.get("kind") != kind:
        raise DataError(f"{str(d)!r} holds a {manifest.get('kind')}, not a {kind}")
    model_class: type[TrainedModel] = get_spec(manifest["kind"], manifest["method"]).load_factory()  # type: ignore[assignment]  # a model spec's factory is its model class
    loaded: TrainedModel = model_class.load(d)
    return loaded


def shipped_checkpoint(kind: str, name: str, tag: str = DEFAULT_TAG) -> Path:
    """Folder of the checkpoint plugin ``name`` ships for ``tag``; a clear error if none.

    It is ``checkpoints/<tag>/<name>/`` in the method's package (a package with several methods,
    e.g. ``vprkit_netvlad``'s ``netvlad`` and ``gem``), else ``checkpoints/<tag>/`` when the model
    there is of this kind and method."""
    from vprkit.models.artifact import read_manifest

    spec = get_spec(kind, name)
    package = spec.factory.split(":")[0].split(".")[0]
    found = importlib.util.find_spec(package)
    locations = list(found.submodule_search_locations or []) if found else []
    for base in locations:
        for candidate in (Path(base) / "checkpoints" / tag / name, Path(base) / "checkpoints" / tag):
            if (candidate / "manifest.json").is_file():
                manifest = read_manifest(candidate)
                if (manifest.get("kind"), manifest.get("method")) == (kind, name):
                    return candidate
    raise DataError(
        f"{kind} {name!r} ships no checkpoint for {tag!r}; train one with "
        f"`vprkit train {kind} {name} --dataset PATH --out DIR` and pass the folder instead"
    )


def shipped_methods(kind: str, tag: str = DEFAULT_TAG) -> list[str]:
    """The registered methods of ``kind`` that ship a checkpoint for ``tag``, in registry order."""
    from vprkit.registry import list_methods

    found = []
    for name in list_methods(kind):
        try:
            shipped_checkpoint(kind, name, tag)
        except DataError:
            continue
        found.append(name)
    return found


def resolve_model(kind: str, name_or_path: str, tag: str = DEFAULT_TAG) -> TrainedModel:
    """A model from a folder path, or the checkpoint the named method ships for ``tag``."""
    path = Path(name_or_path)
    if path.is_dir():
        return load_model(path, kind)
    return load_model(shipped_checkpoint(kind, name_or_path, tag), kind)


def apply_classifier_settings(classifier: Classifier | None, settings: Mapping[str, Any] | None) -> None:
    """Set inference-only fields of a loaded pipeline's classifier in place
    (:func:`vprkit.config.apply_inference_settings`, e.g. ``{"score_precision": "auto"}``);
    nothing to do for no settings, refused when the pipeline has no classifier."""
    from vprkit.config import apply_inference_settings

    if not settings:
        return
    if classifier is None:
        raise ConfigError(
            f"{CLASSIFIER_SETTINGS}: the pipeline has no classifier to set them on", field=CLASSIFIER_SETTINGS
        )
    apply_inference_settings(classifier.config, settings, field=CLASSIFIER_SETTINGS)


def model_resolution(model: object | None) -> float | None:
    """The test-time resolution ``model`` runs at (its ``test_transform.scale``), or None for no
    model or one without a test transform."""
    rule = getattr(getattr(model, "config", None), "test_transform", None)
    scale = getattr(rule, "scale", None)
    return float(scale) if scale is not None else None


def set_resolution(models: Iterable[object | None], scale: float | None) -> None:
    """Run every model of a pipeline at test-time resolution ``scale`` (None: as saved); a model
    that cannot scale its input is refused, named."""
    if scale is None:
        return
    for model in models:
        if model is None:
            continue
        setter = getattr(model, "set_resolution", None)
        if setter is None or model_resolution(model) is None:
            raise ConfigError(
                f"--resolution {scale:g}: the {getattr(model, 'kind', 'model')} {getattr(model, 'name', '?')!r} "
                "has no test transform to scale (vprkit.models.transform_config.TestTransform)"
            )
        setter(scale)
