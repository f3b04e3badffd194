"""Training the CosPlace retriever (Berton et al., CVPR 2022; docs/methods/cosplace.md): one group per epoch (``GroupTrainer``)
with CosFace heads that exist only during training.

The recipe: fit the ``cosplace`` partition (UTM cells × heading bins; needs headings), one CosFace
head per trained group (seeded by ``training.seed + 1``), keep the best epoch by val LR@1 (= R@1),
save the descriptor network alone.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from vprkit.contracts import TrainRequest
from vprkit.models.heads import CosFaceHead
from vprkit.training.recipe import TrainingRun, fit_partition, partition_groups
from vprkit_cosplace.retriever import CosPlaceRetriever

__all__ = ["train_cosplace"]

log = logging.getLogger("vprkit.cosplace")


def train_cosplace(model: CosPlaceRetriever, request: TrainRequest) -> CosPlaceRetriever:
    """Partition the train split, train the CosPlace recipe, keep the best epoch, save the network
    to ``request.out_dir`` (rank 0 under DDP); state in ``out_dir/training/``."""
    cfg, tcfg = model.config, model.config.training
    run = TrainingRun.start(request, tcfg)
    partition = fit_partition("cosplace", cfg.partition, run.images)
    log.info("cosplace partition: %s", partition.summary())
    groups, _ = partition_groups(partition)
    torch.manual_seed(tcfg.seed + 1)
    heads = nn.ModuleList([CosFaceHead(model.descriptor_dim, g.n_classes, s=cfg.s, m=cfg.m) for g in groups])
    trainer = run.group_trainer(model.net, heads, groups, tcfg, run.retriever_validation(model.net, model.transform))
    return run.train(model, trainer, partition=partition.summary())
