"""Training the classification baselines (PlaNet, HGE, CPlaNet, MvMF): every head on every step
(:class:`~vprkit.training.joint.JointTrainer`) with the method's own loss.

One trainer for all of them (their specs are :class:`~vprkit.specs.JointClassifierSpec`, whose
``trainer`` is ``vprkit.training.joint_recipe:train_joint``): the method's class states what
differs (:class:`~vprkit.models.joint_classifier.JointHeadClassifier`: ``partition_features``,
``make_heads``, ``loss_module``, ``initialise``, ``sampling_labels``); the partitioner is the one
its spec names.
"""

from __future__ import annotations

import logging

import torch

from vprkit.contracts import TrainRequest
from vprkit.models.joint_classifier import JointHeadClassifier
from vprkit.training.recipe import TrainingRun, fit_partition, spec_partitioner

__all__ = ["train_joint"]

log = logging.getLogger("vprkit.training")


def train_joint(model: JointHeadClassifier, request: TrainRequest) -> JointHeadClassifier:
    """Partition the train split (the spec's partitioner, with the method's features), train all
    heads jointly, keep the best epoch by val LR@1, save to ``request.out_dir`` (rank 0 under DDP)."""
    from vprkit.training.augment import train_transform
    from vprkit.training.joint import JointTrainer, RowImageDataset, sampling_group

    tcfg = model.config.training
    run = TrainingRun.start(request, tcfg)
    features = model.partition_features(run.images)
    partition = fit_partition(spec_partitioner(model), model.config.partition, run.images, features)
    log.info("%s partition: %s", model.name, partition.summary())
    torch.manual_seed(tcfg.seed)
    model.build(partition)
    if not request.resume:
        model.initialise()
    labels, n_classes = model.sampling_labels()
    group = sampling_group(labels, n_classes, tcfg.sampling)
    data = RowImageDataset(run.images, train_transform(tcfg.augmentation, tcfg.image_size))
    trainer = JointTrainer(
        model.net,
        model.loss_module(run.images),
        group,
        data,
        tcfg,
        run.run_dir,
        metric="LR@1",
        **run.trainer_options(run.classifier_validation(model)),
    )
    return run.train(model, trainer, partition=partition.summary())
