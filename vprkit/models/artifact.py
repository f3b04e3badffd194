"""Model directories (docs/models.md): weights, resolved config, partition, manifest.

::

    <dir>/weights.safetensors   tensors (network ``net.*``, heads ``heads.*``)
    <dir>/config.yaml           resolved config of the method
    <dir>/partition.npz         classifiers only (:meth:`vprkit.partition.Partition.save`)
    <dir>/manifest.json         kind, method, vprkit version, fingerprints, training summary, card

Every file is written atomically; ``manifest.json`` is written last, so a directory without it is
an interrupted save. Loading checks the weights and partition fingerprints against the manifest.

The manifest's ``card`` (:func:`model_card`) says what a user needs to trust and reuse the model:
where its weights came from (trained here on which data, or imported from which release file,
with its checksum and licence), the descriptor dimension, the test-time transform and, for
classifiers, the size of the class table (``partition.npz``: the cell of every class, in the
order of the heads).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel

from vprkit.config import build_config, load_yaml, save_config
from vprkit.errors import DataError
from vprkit.fileio import atomic_path, atomic_write_json, fingerprint, read_json_object

if TYPE_CHECKING:
    from vprkit.partition import Partition

__all__ = [
    "atomic_torch_save",
    "load_weights",
    "model_card",
    "model_fingerprint",
    "read_manifest",
    "read_model_dir",
    "save_weights",
    "tensors_fingerprint",
    "write_model_dir",
]

FORMAT = "vprkit-model"
FORMAT_VERSION = 1


def save_weights(path: str | Path, state: Mapping[str, torch.Tensor]) -> Path:
    """Write a flat tensor dict as safetensors, atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp))
    return Path(path)


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file written by :func:`save_weights`."""
    from safetensors.torch import load_file

    return load_file(str(path))


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (temp file + rename): training checkpoints, and
    the start checkpoint ``vprkit models import`` writes beside a model folder."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)
    return Path(path)


def tensors_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over sorted tensor names, dtypes, shapes and bytes."""
    parts: list[Any] = []
    for key in sorted(state):
        parts += [key, state[key].detach().cpu().contiguous().numpy()]
    return fingerprint(*parts)


def model_fingerprint(
    state: Mapping[str, torch.Tensor] | str, config: BaseModel, partition_fp: str | None = None
) -> str:
    """Fingerprint of a trained model: weights (a state dict, or its :func:`tensors_fingerprint`)
    + resolved config (+ partition)."""
    weights_fp = state if isinstance(state, str) else tensors_fingerprint(state)
    return fingerprint(weights_fp, config.model_dump(mode="json"), partition_fp or "")


def model_card(
    kind: str,
    method: str,
    config: BaseModel,
    partition: Partition | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The model card of a model folder (JSON-able; see the module docstring)."""
    extra = dict(extra or {})
    training = dict(extra.get("training") or {})
    release = training.get("release")
    if release:
        source: dict[str, Any] = {"type": "release", **release}
    else:
        source = {
            "type": "trained",
            **{
                k: training[k]
                for k in ("dataset", "train_fingerprint", "train_images", "best_epoch", "epochs_done")
                if k in training
            },
        }
        if "initialised_from" in training:
            source["initialised_from"] = training["initialised_from"]
    card: dict[str, Any] = {
        "kind": kind,
        "method": method,
        "descriptor_dim": extra.get("descriptor_dim"),
        "source": source,
        "license": (release or {}).get("license"),
    }
    rule = getattr(config, "test_transform", None)
    if rule is not None:
        card["test_transform"] = {**rule.model_dump(mode="json"), "summary": rule.describe()}
    if partition is not None:
        card["class_table"] = {
            "file": "partition.npz",
            "classes": int(partition.num_classes),
            "groups": int(partition.num_groups),
            "partitioner": partition.method,
            "order": "heads in group order; within a group, by class index",
        }
    return card


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a model folder; a clear error if missing or corrupt."""
    d = Path(directory)
    return read_json_object(
        d / "manifest.json",
        DataError,
        f"{str(d)!r} is not a vprkit model folder (no manifest.json; an interrupted save?)",
    )


def write_model_dir(
    directory: str | Path,
    *,
    kind: str,
    method: str,
    state: Mapping[str, torch.Tensor],
    config: BaseModel,
    partition: Partition | None = None,
    extra: Mapping[str, Any] | None = None,
    weights_fingerprint: str | None = None,
) -> Path:
    """Write a model directory (see module docstring); returns it. ``weights_fingerprint``: the
    :func:`tensors_fingerprint` of ``state`` when the caller knows it (saves hashing the weights)."""
    from vprkit import __version__  # at call time: the package may still be initialising at import

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(out / "weights.safetensors", dict(state))
    save_config(config, out / "config.yaml")
    partition_fp = None
    if partition is not None:
        partition.save(out / "partition.npz")
        partition_fp = partition.fingerprint()
    weights_fp = weights_fingerprint or tensors_fingerprint(state)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "method": method,
        "vprkit_version": __version__,
        "weights_fingerprint": weights_fp,
        "partition_fingerprint": partition_fp,
        "fingerprint": model_fingerprint(weights_fp, config, partition_fp),
        **dict(extra or {}),
        "card": model_card(kind, method, config, partition, extra),
    }
    atomic_write_json(out / "manifest.json", manifest)
    return out


def read_model_dir(directory: str | Path, *, kind: str, method: str, config_cls: type[BaseModel]) -> dict[str, Any]:
    """Read and verify a model directory → ``{"state", "config", "partition", "manifest",
    "weights_fingerprint"}`` (the weights are hashed once, here)."""
    from safetensors.torch import load_file

    d = Path(directory)
    manifest = read_manifest(d)
    if manifest.get("format") != FORMAT or (manifest.get("kind"), manifest.get("method")) != (kind, method):
        raise DataError(
            f"{str(d)!r} holds a {manifest.get('kind')} {manifest.get('method')!r}, not a {kind} {method!r}"
        )
    try:
        state = load_file(str(d / "weights.safetensors"))
    except FileNotFoundError:
        raise DataError(f"{str(d)!r} has no weights.safetensors (an interrupted save?)") from None
    except Exception as exc:  # safetensors raises its own SafetensorError (not an OSError) on a damaged header
        raise DataError(
            f"{str(d / 'weights.safetensors')!r} is damaged ({exc}); copy or train the model again"
        ) from None
    weights_fp = tensors_fingerprint(state)
    if weights_fp != manifest["weights_fingerprint"]:
        raise DataError(
            f"{str(d / 'weights.safetensors')!r} does not match its manifest fingerprint (corrupt or replaced)"
        )
    raw = load_yaml(d / "config.yaml", DataError)
    config = build_config(config_cls, raw, owner=f"{kind} {method!r}")
    partition = None
    if manifest.get("partition_fingerprint"):
        from vprkit.partition import Partition

        partition = Partition.load(d / "partition.npz")
        if partition.fingerprint() != manifest["partition_fingerprint"]:
            raise DataError(f"{str(d / 'partition.npz')!r} does not match the manifest of {str(d)!r}")
    if model_fingerprint(weights_fp, config, manifest.get("partition_fingerprint")) != manifest["fingerprint"]:
        raise DataError(f"{str(d / 'config.yaml')!r} was edited after training: the model fingerprint differs")
    return {
        "state": state,
        "config": config,
        "partition": partition,
        "manifest": manifest,
        "weights_fingerprint": weights_fp,
    }
