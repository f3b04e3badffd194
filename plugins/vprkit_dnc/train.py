"""Training the D&C classifier (Trivigno et al., ICCV 2023; docs/methods/dnc.md): one group per epoch (``GroupTrainer``).

The recipe: fit the spec's ``dnc`` partition on the train split, fresh network and AAMC heads
(seeded by ``training.seed``), train group after group, keep the best epoch by val LR@1, save.
"""

from __future__ import annotations

import logging

import torch

from vprkit.contracts import TrainRequest
from vprkit.training.recipe import TrainingRun, fit_partition, partition_groups, spec_partitioner
from vprkit_dnc.classifier import DncClassifier

__all__ = ["train_dnc"]

log = logging.getLogger("vprkit.dnc")


def train_dnc(model: DncClassifier, request: TrainRequest) -> DncClassifier:
    """Partition the train split, train (D&C recipe), keep the best epoch, save to ``request.out_dir``
    (rank 0 under DDP); state in ``out_dir/training/`` (``last.pt`` for ``resume``)."""
    cfg, tcfg = model.config, model.config.training
    run = TrainingRun.start(request, tcfg)
    partition = fit_partition(spec_partitioner(model), cfg.partition, run.images)
    log.info("dnc partition: %s", partition.summary())
    torch.manual_seed(tcfg.seed)
    model.build(partition)
    groups, _ = partition_groups(partition)
    trainer = run.group_trainer(model.net, model.heads, groups, tcfg, run.classifier_validation(model))
    return run.train(model, trainer)
