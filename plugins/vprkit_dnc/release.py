"""Importing the D&C authors' released checkpoints (ga1i13o/Divide-and-Classify @ e7b777c).

Facts of the official code this module relies on (no code is reused):

- The file is a ``torch.save`` dict: ``model_state_dict`` (torchvision EfficientNet ``features``
  under ``backbone.*``, the C→C "whitening" linear as ``classifier.0.*``) and
  ``classifiers_state_dict`` (one state dict per group: ``weight (S_k, C)`` for AAMC/LMCC heads,
  ``linear.weight`` / ``linear.bias`` for the cross-entropy heads). A full training checkpoint
  (``last_checkpoint.pth``) also holds ``epoch_num``, ``optimizer_state_dict``,
  ``optimizers_state_dict``, ``best_train_loss`` and ``args`` (an ``argparse.Namespace``).
- The heads are in the order of the official groups and classes, which the official code derives
  from the training file list at every run: it walks ``sorted(glob(train/**/*.jpg))``; a class is
  ``(int(east // M * M), int(north // M * M))`` kept when it has ≥ ``min_images_per_class``
  images; its group is ``(e % (M·N) // M, n % (M·N) // M)``; groups enter a dict in order of first
  appearance of one of their kept classes along the walk, and the classes of a group are a Python
  ``set`` of those tuples listed in its iteration order. Tuples of ints hash the same in every
  CPython process (no PYTHONHASHSEED dependence), so rebuilding the set in the same insertion
  order gives the release's order — the order the official evaluation itself rebuilds.
- Class coordinate: ``class + M // 2`` (the cell centre for even M); test transform:
  ``Resize(256)`` on the shorter side, ImageNet normalisation; inference scores are the raw
  ``W_k x̂`` of every group, concatenated, joint top-K.

vprkit numbers its classes order-independently (lexicographic cells, groups
``(e mod N)·N + (n mod N)``), so :func:`import_dnc` permutes every head's rows into vprkit's
order through the rebuilt official class table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from vprkit.config import build_config
from vprkit.errors import DataError
from vprkit.models.official import (
    dnc_to_vprkit,
    read_state_file,
    strip_module_prefix,
    torchvision_efficientnet_to_timm,
)
from vprkit.models.release import ImportedModel, ImportRequest
from vprkit_dnc.classifier_config import DncClassifierConfig
from vprkit_dnc.config import DncPartitionConfig

if TYPE_CHECKING:
    from vprkit.contracts import Partitioner
    from vprkit.partition import Partition
    from vprkit_dnc.classifier import DncClassifier

__all__ = ["import_dnc", "official_class_table", "read_train_names", "train_coordinates"]

# torchvision EfficientNet head channels → timm model name (only B0 is released; B5/B7 use
# BatchNorm eps 1e-3 in torchvision, which timm's efficientnet_b5/b7 do not)
_BACKBONE_BY_CHANNELS = {1280: "efficientnet_b0"}
_HEAD_BY_TYPE = {"AAMC": "arcface", "LMCC": "cosface", "FC_CE": "linear"}


def read_train_names(request: ImportRequest) -> list[str]:
    """The training image paths the release was trained on (relative, as the official walk sees them).

    From ``--train-names`` (a text file, one path per line, or the official ``cache/paths_*.torch``
    list) or ``--train-dataset`` (a dataset root or its training folder; only ``.jpg`` files count,
    as in the official glob).
    """
    if request.train_names is not None:
        path = request.train_names
        if not path.is_file():
            raise DataError(f"--train-names {str(path)!r} does not exist")
        if path.suffix in (".torch", ".pt", ".pth"):
            names = read_state_file(path)
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names[:100]):
                raise DataError(f"{str(path)!r} is not a list of training paths (the official cache/paths_*.torch)")
        else:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not names:
            raise DataError(f"--train-names {str(path)!r} lists no images")
        return names
    if request.train_dataset is not None:
        from vprkit.data.standard import list_image_paths, split_folder

        root = request.train_dataset
        if not root.exists():
            raise DataError(f"--train-dataset {str(root)!r} does not exist")
        folder = (
            root if not (root / "images").is_dir() and not (root / "train").is_dir() else split_folder(root, "train")
        )
        paths = [p for p in list_image_paths(folder) if p.endswith(".jpg")]
        if not paths:
            raise DataError(f"--train-dataset {str(folder)!r} holds no .jpg images (the official code reads only .jpg)")
        return paths
    raise DataError(
        "a D&C release keeps its heads in the official class order, which only the training file list it was "
        "trained on gives: pass --train-names FILE (or the official cache/paths_<dataset>.torch), --train-dataset "
        "PATH, or the official class cache with --class-table FILE"
    )


def train_coordinates(names: list[str], chunk: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """UTM east/north of the training ``names`` in the official walk order (the sorted list).

    ``names`` is sorted in place (Python's order: code points, as the official ``sorted(glob)``)
    and parsed in chunks, so 41M SF-XL names cost the list itself plus two float64 columns.
    """
    from vprkit.data.filenames import parse_filenames

    names.sort()
    east, north = np.empty(len(names)), np.empty(len(names))
    for start in range(0, len(names), chunk):
        parsed = parse_filenames(names[start : start + chunk], errors="report")
        if parsed.malformed:
            _, bad, reason = parsed.malformed[0]
            raise DataError(
                f"training name {bad!r} is not in the standard format ({reason}); "
                f"{len(parsed.malformed)} names of this block are malformed"
            )
        east[start : start + chunk], north[start : start + chunk] = parsed.columns["east"], parsed.columns["north"]
    if not (np.isfinite(east).all() and np.isfinite(north).all()):
        raise DataError("some training names have no UTM east/north: the official code cannot place them either")
    return east, north


def official_class_table(
    east: np.ndarray, north: np.ndarray, M: float, N: int, min_images: int
) -> list[list[tuple[int, int]]]:
    """Per official group (in the release's group order), its classes as ``(east, north)`` cell
    corners in the release's row order, from the training points in walk order (:func:`train_coordinates`).

    Vectorised except for one Python ``set`` built per group from its classes in order of first
    appearance (a loop over classes, not images): that set's iteration order is the row order.
    """
    from vprkit.geometry.grid import unique_rows

    m = int(M) if float(M).is_integer() else M  # the official M is an int
    cells = np.stack([np.floor_divide(east, m) * m, np.floor_divide(north, m) * m], axis=1).astype(np.int64)
    uniq, inverse, counts = unique_rows(cells)  # int(east // M * M), as the official code
    first = np.full(len(uniq), len(cells), dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(len(cells)))
    kept = np.flatnonzero(counts >= min_images)
    # a class enters its group's set at its first image; a group enters the dict with its first kept class
    corners = uniq[kept[np.argsort(first[kept], kind="stable")]]
    group_key = (np.mod(corners[:, 0], m * N) // m) * N + np.mod(corners[:, 1], m * N) // m
    _, group_first = np.unique(group_key, return_index=True)
    table = []
    for g in group_key[np.sort(group_first)].tolist():
        members = [tuple(c) for c in corners[group_key == g].tolist()]
        table.append(list(set(members)))  # built in first-appearance order, like the official .add() loop
    return table


def _class_table_from_cache(path: Path) -> list[list[tuple[int, int]]]:
    """The official ``cache/<dataset>_M*_N*_mipc*.torch`` → its ``classes_per_group``."""
    data = read_state_file(path)
    groups = data[0] if isinstance(data, (tuple, list)) and len(data) == 2 else None
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise DataError(
            f"{str(path)!r} is not the official D&C class cache (classes_per_group, images_per_class_per_group)"
        )
    return [[(int(c[0]), int(c[1])) for c in g] for g in groups]


def _arg(args: Any, name: str, default: Any) -> Any:
    return getattr(args, name, default) if args is not None else default


def import_dnc(request: ImportRequest) -> ImportedModel:
    """An official D&C checkpoint → a :class:`~vprkit_dnc.classifier.DncClassifier` whose heads
    are in vprkit's class order (see the module docstring), with a start checkpoint for
    ``vprkit train classifier dnc --out DIR --resume``: a full training checkpoint continues from
    its epoch with the authors' Adam states (rows permuted like the heads); a best-model file
    starts fine-tuning with fresh optimizers."""
    from vprkit.registry import create_partitioner
    from vprkit_dnc.classifier import DncClassifier

    ckpt = read_state_file(request.weights)
    if not isinstance(ckpt, dict):
        raise DataError(f"{str(request.weights)!r} is not a D&C checkpoint (a dict with model_state_dict)")
    net_state, heads = dnc_to_vprkit(ckpt)
    args = ckpt.get("args")
    channels = int(net_state["aggregation.1.weight"].shape[0])
    backbone = _BACKBONE_BY_CHANNELS.get(channels)
    if backbone is None:
        raise DataError(
            f"{str(request.weights)!r}: a {channels}-channel EfficientNet; vprkit imports the released "
            "EfficientNet-B0 (1280 channels) only"
        )
    head = (
        "linear"
        if all("linear.weight" in h for h in heads)
        else _HEAD_BY_TYPE.get(_arg(args, "classifier_type", "AAMC"), "arcface")
    )
    values: dict[str, Any] = {
        "backbone": backbone,
        "head": head,
        "pretrained": False,
        "s": float(_arg(args, "lmcc_s", 100.0)),
        "m": float(_arg(args, "lmcc_m", 0.2)),
        "test_transform": {"resize": "shorter_side", "size": int(_arg(args, "test_resize", 256))},
        "partition": {
            "M": float(_arg(args, "M", 20)),
            "N": int(_arg(args, "N", 2)),
            "min_images_per_class": int(_arg(args, "min_images_per_class", 10)),
        },
    }
    if args is not None:  # a training checkpoint: its schedule, so that a resume continues it
        resize = _arg(args, "train_resize", (224, 224))
        values["training"] = {
            "epochs": int(_arg(args, "epochs_num", 500)),
            "iterations_per_epoch": int(_arg(args, "iterations_per_epoch", 2000)),
            "batch_size": int(_arg(args, "batch_size", 64)),
            "backbone_lr": float(_arg(args, "lr", 1e-4)),
            "head_lr": float(_arg(args, "classifier_lr", 0.01)),
            "plateau_patience": int(_arg(args, "scheduler_patience", 10)),
            "seed": int(_arg(args, "seed", 0)),
            "image_size": int(resize[0] if isinstance(resize, (tuple, list)) else resize),
        }
    config = build_config(DncClassifierConfig, values, request.overrides, owner="classifier 'dnc' (import)")
    pcfg = config.partition
    if len(heads) != pcfg.N**2:
        raise DataError(
            f"{str(request.weights)!r} has {len(heads)} group heads; partition.N={pcfg.N} gives {pcfg.N**2} "
            "(set --set partition.N=...)"
        )

    partitioner: Partitioner = create_partitioner("dnc", pcfg)
    table_source: dict[str, str | int]
    partition: Partition | None
    if request.class_table is not None:
        table, table_source = _class_table_from_cache(request.class_table), {"class_table": str(request.class_table)}
        if pcfg.coord_mode != "center":
            raise DataError(
                "coord_mode 'mean' needs the training images (--train-names or --train-dataset), "
                "not only the class table"
            )
        partition = None
    else:
        names = read_train_names(request)
        east, north = train_coordinates(names)
        del names  # the largest object at SF-XL scale; only the coordinates are needed from here
        table = official_class_table(east, north, pcfg.M, pcfg.N, pcfg.min_images_per_class)
        table_source = {"train_images": len(east), "train_list": str(request.train_names or request.train_dataset)}
        partition = partitioner.fit(east, north)
    rows = [int(h["weight" if "weight" in h else "linear.weight"].shape[0]) for h in heads]
    if [len(g) for g in table] != rows:
        raise DataError(
            f"the training list gives groups of {[len(g) for g in table]} classes, the checkpoint's heads have {rows} rows: "
            "not the list (or the M, N, min_images_per_class) this release was trained with"
        )
    corners = np.asarray([c for group in table for c in group], dtype=np.float64).reshape(-1, 2)
    if partition is None:
        partition = _partition_of_cells(partitioner, corners, pcfg)
    if partition.num_classes != len(corners):
        raise DataError(
            f"the release has {len(corners)} classes, vprkit's D&C partition of the same images "
            f"{partition.num_classes}: a cell falls on another side of a boundary (floating-point rounding)"
        )
    model = DncClassifier(config.model_copy(update={"pretrained": False}))
    model.config = config
    model.build(partition)
    model.net.load_state_dict(net_state, strict=True)
    placement = _vprkit_rows(model, corners, table)
    _copy_rows(heads, placement, model.heads, lambda head: dict(head.named_parameters()))
    full = "optimizer_state_dict" in ckpt and "optimizers_state_dict" in ckpt
    model.training_summary = {
        "release": request.provenance(
            format="full training checkpoint" if full else "best model",
            epoch_num=ckpt.get("epoch_num"),
            class_order=(
                "the official class cache" if request.class_table else "rebuilt from the official training file list"
            ),
            official_group_sizes=rows,
            official_group_tuples=[_group_tuple(g[0], pcfg) for g in table],
            **table_source,
        )
    }
    from vprkit.training.engine import start_checkpoint

    heads_state = model.heads.state_dict()
    if full:
        start = start_checkpoint(
            config.training,
            model.net.state_dict(),
            heads_state,
            backbone_opt=_backbone_optimizer(ckpt, model.net),
            head_opts=_head_optimizers(ckpt, placement, model),
            epoch=int(ckpt.get("epoch_num", 0)),
            origin=f"D&C training checkpoint {request.weights.name} (epoch {ckpt.get('epoch_num')})",
        )
    else:
        start = start_checkpoint(
            config.training, model.net.state_dict(), heads_state, origin=f"D&C release {request.weights.name}"
        )
    return ImportedModel(model, start)


def _group_tuple(corner: tuple[int, int], pcfg: DncPartitionConfig) -> list[int]:
    m = int(pcfg.M) if float(pcfg.M).is_integer() else pcfg.M
    return [int(corner[0] % (m * pcfg.N) // m), int(corner[1] % (m * pcfg.N) // m)]


def _partition_of_cells(partitioner: Partitioner, corners: np.ndarray, pcfg: DncPartitionConfig) -> Partition:
    """The vprkit D&C partition with exactly the release's classes, from the class table alone:
    ``min_images_per_class`` points at each cell centre (class counts are then not the real ones)."""
    centres = corners + float(pcfg.M) / 2.0
    reps = pcfg.min_images_per_class
    return partitioner.fit(np.repeat(centres[:, 0], reps), np.repeat(centres[:, 1], reps))


def _vprkit_rows(
    model: DncClassifier, corners: np.ndarray, table: list[list[tuple[int, int]]]
) -> list[tuple[int, torch.Tensor]]:
    """For each official group j: the vprkit group k holding its classes and, per official row,
    the row of that class in head k."""
    part = model.partition
    m = float(model.config.partition.M)
    cls, grp = part.assign(corners[:, 0] + m / 2.0, corners[:, 1] + m / 2.0)
    if (cls < 0).any():
        raise DataError("some release classes have no vprkit cell (internal error: the partition was built from them)")
    local = np.empty(part.num_classes, dtype=np.int64)
    for classes in part.groups:
        local[classes] = np.arange(len(classes))
    placement, start = [], 0
    for j, group in enumerate(table):
        stop = start + len(group)
        k = np.unique(grp[start:stop])
        if len(k) != 1:
            raise DataError(f"official group {j} spans vprkit groups {k.tolist()} (M or N differ from the release)")
        placement.append((int(k[0]), torch.as_tensor(local[cls[start:stop]])))
        start = stop
    return placement


def _copy_rows(
    official: list[dict[str, torch.Tensor]],
    placement: list[tuple[int, torch.Tensor]],
    heads: nn.ModuleList,
    tensors_of: Callable[[nn.Module], dict[str, torch.Tensor]],
) -> None:
    """Write each official group's per-class tensors (head weights, or their Adam moments) into
    the rows of its vprkit head; ``tensors_of(head)`` names the head's tensors like ``official``."""
    with torch.no_grad():
        for src, (k, rows) in zip(official, placement):
            target = tensors_of(heads[k])
            for name, value in src.items():
                target[name][rows] = value.to(target[name].dtype)


def _param_names(model_state: dict[str, torch.Tensor]) -> list[str]:
    """The official network's parameter names in ``model.parameters()`` order (its state dict
    without the batch-norm buffers), mapped to vprkit's ``DescriptorNet`` names."""
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    names = [k for k in model_state if not k.endswith(buffers)]
    backbone = {k[len("backbone.") :]: i for i, k in enumerate(names) if k.startswith("backbone.")}
    mapped = {i: f"backbone.{k}" for k, i in torchvision_efficientnet_to_timm(backbone).items()}
    for i, k in enumerate(names):
        if k.startswith("classifier.0."):
            mapped[i] = f"aggregation.1.{k.rsplit('.', 1)[1]}"
    return [mapped[i] for i in range(len(names))]


def _backbone_optimizer(ckpt: dict[str, Any], net: nn.Module) -> dict[str, Any]:
    """The official backbone Adam (over every network parameter, frozen ones without state) →
    an Adam state dict over vprkit's trainable parameters, in ``GroupTrainer``'s order."""
    official = ckpt["optimizer_state_dict"]
    names = _param_names(strip_module_prefix(ckpt["model_state_dict"]))
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    index = {n: i for i, n in enumerate(trainable)}
    state: dict[int, Any] = {}
    for i, moments in official["state"].items():
        name = names[int(i)]
        if name not in index:
            raise DataError(f"the release's optimizer trained {name!r}, which vprkit's freeze policy keeps frozen")
        state[index[name]] = moments
    groups = official["param_groups"]
    if len(groups) != 1:
        raise DataError(f"the release's backbone optimizer has {len(groups)} parameter groups; expected 1")
    return {
        "state": state,
        "param_groups": [
            {**{k: v for k, v in groups[0].items() if k != "params"}, "params": list(range(len(trainable)))}
        ],
    }


def _head_optimizers(
    ckpt: dict[str, Any], placement: list[tuple[int, torch.Tensor]], model: DncClassifier
) -> list[dict[str, Any]]:
    """The official per-group Adams → vprkit's per-head Adams, moments permuted like the rows."""
    out: list[dict[str, Any] | None] = [None] * len(model.heads)
    for sd, (k, rows) in zip(ckpt["optimizers_state_dict"], placement):
        head = model.heads[k]
        params = [p for p in head.parameters()]
        state: dict[int, dict[str, Any]] = {}
        for i, moments in sd["state"].items():
            shape = params[int(i)].shape
            state[int(i)] = {}
            for key, value in moments.items():
                if torch.is_tensor(value) and value.shape == shape:
                    permuted = torch.zeros_like(value)
                    permuted[rows] = value
                    value = permuted
                state[int(i)][key] = value
        out[k] = {"state": state, "param_groups": sd["param_groups"]}
    filled = [sd for sd in out if sd is not None]
    if len(filled) != len(out):
        raise DataError(f"the release's optimizer states cover {len(filled)} of its {len(out)} group heads")
    return filled
