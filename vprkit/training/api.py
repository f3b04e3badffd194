"""``train_model``: the library function behind ``vprkit train classifier|retriever NAME``.

Resolves the method's config (defaults ← YAML file ← ``--set`` overrides), creates the method
through the registry and calls its ``fit(dataset, out_dir, resume=..., reporter=...)``. The output
directory becomes part of a map bundle: the model files (weights, ``config.yaml``, partition,
``manifest.json``) plus ``training/`` (checkpoints and history, needed only to resume).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vprkit.config import load_config, save_config
from vprkit.errors import ConfigError
from vprkit.registry import get_spec

__all__ = ["TRAINABLE_KINDS", "resolve_training_config", "train_model"]

log = logging.getLogger("vprkit.training")

TRAINABLE_KINDS = ("classifier", "retriever")


def resolve_training_config(kind: str, name: str, config_file: str | Path | None = None, overrides: Iterable[str] = ()):
    """The validated config of method ``name`` of ``kind``."""
    if kind not in TRAINABLE_KINDS:
        raise ConfigError(f"cannot train a {kind!r}; trainable kinds: {TRAINABLE_KINDS}")
    spec = get_spec(kind, name)
    return load_config(spec.config, config_file, list(overrides), owner=f"{kind} {name!r}")


def train_model(
    kind: str,
    name: str,
    dataset: str | Path,
    out_dir: str | Path,
    *,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
    resume: bool = False,
    reporter: Any = None,
) -> Any:
    """Train method ``name`` on the dataset root ``dataset``; returns the trained model object.

    ``resume=True`` continues the run in ``out_dir`` from ``out_dir/training/last.pt`` with the
    config saved there (``overrides`` may only change ``training.epochs`` and evaluation options).
    """
    from vprkit.data.resolve import resolve_dataset

    dataset, _ = resolve_dataset(dataset)  # a folder, or "synthcity" (generated on first use)
    out = Path(out_dir)
    saved = out / "training" / "config.yaml"
    if resume and saved.is_file() and config_file is None:
        config_file = saved  # the interrupted run's own config, then the overrides given now
    config = resolve_training_config(kind, name, config_file, overrides)
    from vprkit.registry import create

    model = create(kind, name, config)
    if not hasattr(model, "fit"):
        raise ConfigError(f"{kind} {name!r} cannot be trained by vprkit train (its object has no fit())")
    from vprkit.training.recipe import is_main_process

    if is_main_process():
        save_config(config, saved)
    return model.fit(dataset, out, resume=resume, reporter=reporter)
