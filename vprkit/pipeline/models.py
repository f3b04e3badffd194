"""Finding trained models: a saved model folder, or a checkpoint a plugin ships.

A method plugin may ship checkpoints inside its package, in ``checkpoints/<dataset-tag>/`` (a model
folder as written by the model's ``save``), e.g. ``vprkit_dnc/checkpoints/synthcity-small/``.
``vprkit run`` uses them when no model folder is given; the docs give the command that trained them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from vprkit.errors import DataError
from vprkit.registry import get_spec

__all__ = ["DEFAULT_TAG", "load_model", "resolve_model", "shipped_checkpoint"]

DEFAULT_TAG = "synthcity-small"


def load_model(directory: str | Path, kind: str | None = None) -> Any:
    """Load a model folder written by ``save`` (its manifest names the kind and method)."""
    from vprkit.models.artifact import read_manifest

    d = Path(directory)
    manifest = read_manifest(d)
    if kind and manifest.get("kind") != kind:
        raise DataError(f"{str(d)!r} holds a {manifest.get('kind')}, not a {kind}")
    spec = get_spec(manifest["kind"], manifest["method"])
    return spec.load_factory().load(d)


def shipped_checkpoint(kind: str, name: str, tag: str = DEFAULT_TAG) -> Path:
    """Folder of the checkpoint plugin ``name`` ships for ``tag``; a clear error if none."""
    spec = get_spec(kind, name)
    package = spec.factory.split(":")[0].split(".")[0]
    found = importlib.util.find_spec(package)
    locations = list(found.submodule_search_locations or []) if found else []
    for base in locations:
        candidate = Path(base) / "checkpoints" / tag
        if (candidate / "manifest.json").is_file():
            return candidate
    raise DataError(
        f"{kind} {name!r} ships no checkpoint for {tag!r}; train one with "
        f"`vprkit train {kind} {name} --dataset PATH --out DIR` and pass the folder instead"
    )


def resolve_model(kind: str, name_or_path: str, tag: str = DEFAULT_TAG) -> Any:
    """A model from a folder path, or the checkpoint the named method ships for ``tag``."""
    path = Path(name_or_path)
    if path.is_dir():
        return load_model(path, kind)
    return load_model(shipped_checkpoint(kind, name_or_path, tag), kind)
