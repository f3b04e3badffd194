"""``JointHeadClassifier``: what the classification baselines (PlaNet, HGE, CPlaNet, MvMF) share.

Same descriptor network and training loop as D&C (METHODS.md §5: "only partition and head
differ"): the subclass names its partitioner and says how to build its heads, how to score the
partition's classes at inference and which loss trains the heads. This class does the rest:
building, joint top-k ranking, saving/loading a model directory, and ``fit`` on a dataset with
:class:`~vprkit.training.joint.JointTrainer`.

Predictions rank the classes of ``self.partition`` (the classes that ``partition.assign`` gives
database rows, so the pipeline's cell restriction works for every method); the coordinate of a
class is ``partition.class_coords``; ``confidence`` is NaN (no expert-agreement measure).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from vprkit.models.artifact import model_fingerprint, read_model_dir, write_model_dir
from vprkit.models.descriptor import DescriptorNet, build_descriptor_net
from vprkit.models.interfaces import ClassPrediction, TrainedClassifier
from vprkit.models.transforms import build_test_transform

__all__ = ["JointHeadClassifier", "linear_heads"]

log = logging.getLogger("vprkit.training")


def linear_heads(dim: int, sizes: list[int]) -> nn.ModuleList:
    """One ``nn.Linear(dim, n)`` softmax head per entry of ``sizes``."""
    return nn.ModuleList([nn.Linear(dim, int(n)) for n in sizes])


class JointHeadClassifier(TrainedClassifier):
    """Base of the baselines; subclasses set ``name``, ``partitioner``, ``config_cls`` and implement
    :meth:`make_heads`, :meth:`class_scores` and :meth:`loss_module`."""

    name: ClassVar[str]
    partitioner: ClassVar[str]
    config_cls: ClassVar[type]

    def __init__(self, config=None):
        self.config = config or self.config_cls()
        self.partition: Any = None
        self.net: DescriptorNet | None = None
        self.heads: nn.ModuleList | None = None
        self.transform = build_test_transform(self.config.test_transform)
        self.device = torch.device("cpu")
        self.training_summary: dict[str, Any] = {}

    # ------------------------------------------------------------------ the method's parts
    @abstractmethod
    def make_heads(self, partition, dim: int) -> nn.ModuleList:
        """Fresh heads for ``partition`` on ``dim``-D descriptors."""

    @abstractmethod
    def class_scores(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(B, d) -> (B, C)`` scores of the partition's C classes (higher is better)."""

    @abstractmethod
    def loss_module(self, images) -> nn.Module:
        """Training loss ``module(descriptors (B, d), rows (B,) int64) -> ()`` over the rows of the
        training ``ImageList`` ``images`` (the ones the partition was fitted on); owns ``self.heads``."""

    def prepare(self, partition) -> None:
        """Inference tables derived from the partition (called by :meth:`build`); default none."""

    def initialise(self) -> None:
        """Change the fresh weights before training (e.g. start from another model); default none."""

    def sampling_labels(self) -> tuple[np.ndarray, int]:
        """``(labels (n,), num_classes)``: the classes the "class" sampler draws from."""
        return self.partition.train_labels, self.partition.num_classes

    # ------------------------------------------------------------------------------ building
    def build(self, partition) -> JointHeadClassifier:
        """Fresh network and heads for ``partition`` (weights from the torch RNG)."""
        self.partition = partition
        self.build_network()
        self.heads = self.make_heads(partition, self.net.dim)
        self.prepare(partition)
        return self

    def build_network(self) -> None:
        """Fresh descriptor network (D&C's: backbone → average pool → linear C→C → L2)."""
        cfg = self.config
        self.net = build_descriptor_net(cfg.backbone, "avg_whiten", out_dim=cfg.descriptor_dim,
                                        pretrained=cfg.pretrained, freeze=cfg.freeze)

    @property
    def descriptor_dim(self) -> int:
        return self.net.dim

    def to(self, device: str | torch.device) -> JointHeadClassifier:
        self.device = torch.device(device)
        self.net.to(self.device)
        self.heads.to(self.device)
        return self

    # ----------------------------------------------------------------------------- inference
    @torch.no_grad()
    def descriptor(self, images: torch.Tensor) -> torch.Tensor:
        self.net.eval()
        return self.net(images.to(self.device)).float()

    @torch.no_grad()
    def classify_descriptors(self, descriptors: torch.Tensor, k: int) -> ClassPrediction:
        """Top-``k`` classes of the partition by :meth:`class_scores` (``k`` capped at C)."""
        self.heads.eval()
        scores = self.class_scores(descriptors.to(self.device).float())
        k = min(int(k), scores.shape[1])
        top_scores, top = scores.topk(k, dim=1)
        classes = top.cpu().numpy().astype(np.int64)
        return ClassPrediction(
            classes=classes, scores=top_scores.float().cpu().numpy(),
            coords=np.asarray(self.partition.class_coords, dtype=np.float64)[classes],
            confidence=np.full(len(classes), np.nan),
        )

    # ------------------------------------------------------------------------------ identity
    def state(self) -> dict[str, torch.Tensor]:
        out = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        out.update({f"heads.{k}": v for k, v in self.heads.state_dict().items()})
        return out

    def fingerprint(self) -> str:
        return model_fingerprint(self.state(), self.config, self.partition.fingerprint())

    def save(self, directory: str | Path) -> Path:
        return write_model_dir(directory, kind="classifier", method=self.name, state=self.state(),
                               config=self.config, partition=self.partition,
                               extra={"descriptor_dim": self.descriptor_dim, "training": self.training_summary})

    @classmethod
    def load(cls, directory: str | Path) -> JointHeadClassifier:
        data = read_model_dir(directory, kind="classifier", method=cls.name, config_cls=cls.config_cls)
        cfg = data["config"]
        # the saved weights replace ImageNet ones; never download at load time
        model = cls(cfg.model_copy(update={"pretrained": False}))
        model.build(data["partition"])
        model.config = cfg
        state = data["state"]
        model.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        model.heads.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("heads.")})
        model.training_summary = data["manifest"].get("training", {})
        return model

    # ------------------------------------------------------------------------------ training
    def fit_partition(self, images):
        """The partition of the training images (default: the method's partitioner, no features)."""
        from vprkit.training.recipe import fit_partition

        return fit_partition(self.partitioner, self.config.partition, images)

    def fit(self, dataset: str | Path, out_dir: str | Path, *, resume: bool = False, reporter=None,
            allow_new_data: bool = False, on_start=None) -> JointHeadClassifier:
        """Partition the train split, train all heads jointly, keep the best epoch, save to ``out_dir``.

        Training state goes to ``out_dir/training/`` (``last.pt`` for ``resume``).
        ``resume`` refuses a checkpoint trained on another training set unless ``allow_new_data``;
        ``on_start()`` runs once the trainer's resume checks passed (``vprkit train`` writes its
        config there).
        """
        from vprkit.training.augment import train_transform
        from vprkit.training.joint import JointTrainer, RowImageDataset, sampling_group
        from vprkit.training.recipe import (
            init_distributed,
            is_main_process,
            load_train_split,
            load_val_splits,
        )
        from vprkit.training.validation import extract_descriptors, subsample_queries

        tcfg = self.config.training
        init_distributed()
        images = load_train_split(dataset)
        train_fp = images.fingerprint()  # checked against the checkpoint on resume, recorded in the card
        partition = self.fit_partition(images)
        log.info("%s partition: %s", self.name, partition.summary())
        torch.manual_seed(tcfg.seed)
        self.build(partition)
        if not resume:
            self.initialise()
        labels, n_classes = self.sampling_labels()
        group = sampling_group(labels, n_classes, tcfg.sampling)
        val = load_val_splits(dataset) if tcfg.validate_every else None

        def validate() -> dict[str, float]:
            from vprkit.evaluation import localization_recall

            queries = subsample_queries(val[1], tcfg.val_max_queries, tcfg.seed)
            desc = extract_descriptors(self.net, queries, self.transform, device=trainer.device)
            self.device = trainer.device
            pred = self.classify_descriptors(torch.from_numpy(desc), 20)
            return {f"LR@{n}": v for n, v in localization_recall(pred.coords, queries.utm).items()}

        dataset_obj = RowImageDataset(images, train_transform(tcfg.augmentation, tcfg.image_size))
        trainer = JointTrainer(self.net, self.loss_module(images), group, dataset_obj, tcfg, Path(out_dir) / "training",
                               validate=validate if val else None, metric="LR@1", reporter=reporter,
                               data_fingerprint=train_fp, allow_new_data=allow_new_data, on_start=on_start)
        state = trainer.fit(resume=resume)
        if is_main_process():
            trainer.load_best()
            self.device = trainer.device
            self.training_summary = {
                "dataset": str(dataset), "train_images": len(images), "train_fingerprint": train_fp,
                "partition": partition.summary(), "best_epoch": state["best_epoch"], "epochs_done": state["epoch"],
                "history": state["history"],
            }
            self.to("cpu").save(out_dir)
        return self
