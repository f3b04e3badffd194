"""Training the EigenPlaces retriever (Berton et al., ICCV 2023; docs/methods/eigenplaces.md).

The recipe: the cells of M metres in N×N groups (the ``cosplace`` partitioner with one heading
bin), per cell a lateral and a frontal focal point and the crops that face them
(:func:`vprkit_eigenplaces.partition.build_classes`), a CosFace head per group and view (seeded by
``training.seed + 1``), one group per epoch with both of its losses on every iteration
(:class:`~vprkit_eigenplaces.trainer.EigenPlacesTrainer`), the best epoch by val LR@1 (= R@1); the
descriptor network alone is saved.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from vprkit.contracts import TrainRequest
from vprkit.geometry.points import check_headings
from vprkit.models.heads import CosFaceHead
from vprkit.training.augment import train_transform
from vprkit.training.data import ImageDataset
from vprkit.training.recipe import TrainingRun, fit_partition
from vprkit_eigenplaces.partition import build_classes, cell_partition_config
from vprkit_eigenplaces.retriever import EigenPlacesRetriever
from vprkit_eigenplaces.trainer import EigenPlacesTrainer

__all__ = ["train_eigenplaces"]

log = logging.getLogger("vprkit.eigenplaces")


def train_eigenplaces(model: EigenPlacesRetriever, request: TrainRequest) -> EigenPlacesRetriever:
    """Build the EigenPlaces classes of the train split, train both views' heads with the network,
    keep the best epoch, save the network to ``request.out_dir`` (rank 0 under DDP); state in
    ``out_dir/training/``."""
    cfg, tcfg = model.config, model.config.training
    run = TrainingRun.start(request, tcfg)
    images = run.images
    heading = check_headings(images.heading, len(images), "eigenplaces training images", method="EigenPlaces")
    cells = fit_partition("cosplace", cell_partition_config(cfg.partition), images)
    classes = build_classes(cells, images.east, images.north, heading, cfg.partition)
    summary = classes.summary()
    log.info(
        "eigenplaces: %d cells, %d groups, lateral classes %s, frontal classes %s",
        summary["cells"],
        summary["groups"],
        summary["classes"]["lateral"],
        summary["classes"]["frontal"],
    )
    views = [group for pair in classes.groups for group in pair]  # lateral 2g, frontal 2g + 1
    torch.manual_seed(tcfg.seed + 1)
    heads = nn.ModuleList([CosFaceHead(model.descriptor_dim, g.n_classes, s=cfg.s, m=cfg.m) for g in views])
    data = ImageDataset(images, train_transform(tcfg.augmentation, tcfg.image_size))
    validate = run.retriever_validation(model.net, model.transform)
    trainer = EigenPlacesTrainer(
        model.net, heads, views, data, tcfg, run.run_dir, metric="LR@1", **run.trainer_options(validate)
    )
    return run.train(model, trainer, partition=summary)
