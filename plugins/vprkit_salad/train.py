"""Training the SALAD retriever (docs/methods/salad.md): CosFace heads over CosPlace groups, one
group per epoch (:class:`~vprkit.training.engine.GroupTrainer`), heads discarded.

**Deviation.** The authors fine-tune with the multi-similarity loss and miner on GSV-Cities'
batches of 60 places × 4 images. vprkit's shared loop trains retrievers either with CosFace group
classification (CosPlace, EigenPlaces) or triplets with partial mining (NetVLAD); SALAD takes the
first: the ``cosplace`` partition of the train split (UTM cells × heading bins, ``partition``),
one CosFace head per trained group (seeded by ``training.seed + 1``), Adam at the authors'
learning rate for the ViT's last blocks and SALAD. What is the authors': the network, the frozen
blocks, the 224 × 224 training size, the augmentation (``salad``: bilinear resize + RandAugment
with 3 operations), the learning rate, 4 epochs of ≈ 1,000 steps of 240 images. The best epoch is
kept by val LR@1 (= R@1).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torchvision import transforms as T

from vprkit.contracts import TrainRequest
from vprkit.errors import PluginError, UnknownNameError
from vprkit.models.heads import CosFaceHead
from vprkit.models.transforms import normalize
from vprkit.training.augment import AugmentationConfig, train_transform
from vprkit.training.data import ImageDataset
from vprkit.training.recipe import TrainingRun, fit_partition, partition_groups
from vprkit_salad.config import SALADPartitionConfig
from vprkit_salad.retriever import SALADRetriever

__all__ = ["salad_train_transform", "train_salad"]

log = logging.getLogger("vprkit.salad")


def salad_train_transform(augmentation: str | AugmentationConfig, image_size: int) -> T.Compose:
    """``"salad"``: the authors' GSV-Cities transform (bilinear resize to ``image_size²``,
    RandAugment with 3 operations of torchvision's default magnitude 9, bilinear; ImageNet
    normalisation); anything else: vprkit's shared augmentation (a preset name or a config)."""
    if augmentation != "salad":
        return train_transform(augmentation, image_size)
    return T.Compose(
        [
            T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BILINEAR, antialias=True),
            T.RandAugment(num_ops=3, interpolation=T.InterpolationMode.BILINEAR),
            T.ToTensor(),
            normalize(),
        ]
    )


def cosplace_partition_config(config: SALADPartitionConfig) -> Any:
    """The ``cosplace`` partitioner's config with SALAD's partition fields."""
    from vprkit.registry import get_spec

    try:
        spec = get_spec("partitioner", "cosplace")
    except UnknownNameError as exc:
        raise PluginError("salad trains on the classes of the 'cosplace' partitioner, which is not installed") from exc
    return spec.config.model_validate(config.model_dump())


def train_salad(model: SALADRetriever, request: TrainRequest) -> SALADRetriever:
    """Partition the train split, train SALAD with CosFace heads (module docstring), keep the
    best epoch, save the network to ``request.out_dir`` (rank 0 under DDP); state in
    ``out_dir/training/``."""
    from vprkit.training.engine import GroupTrainer

    cfg, tcfg = model.config, model.config.training
    run = TrainingRun.start(request, tcfg)
    partition = fit_partition("cosplace", cosplace_partition_config(cfg.partition), run.images)
    log.info("salad: cosplace partition %s", partition.summary())
    groups, _ = partition_groups(partition)
    torch.manual_seed(tcfg.seed + 1)
    heads = nn.ModuleList([CosFaceHead(model.descriptor_dim, g.n_classes, s=cfg.s, m=cfg.m) for g in groups])
    data = ImageDataset(run.images, salad_train_transform(tcfg.augmentation, tcfg.image_size))
    validate = run.retriever_validation(model.net, model.transform)
    trainer = GroupTrainer(
        model.net, heads, groups, data, tcfg, run.run_dir, metric="LR@1", **run.trainer_options(validate)
    )
    return run.train(model, trainer, partition=partition.summary())
