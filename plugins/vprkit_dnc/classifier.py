"""The D&C classifier (paper 001, METHODS.md §1): AAMC heads over a dnc partition.

Inference: scores of every group's head (raw ``W_k x̂`` by default, as the official code; cosine
as a switch) are concatenated and the joint top-K over all classes of all groups is the ranking.
Confidence: the spread (root-mean-square distance to their centroid, metres) of the N² groups'
own top-1 class coordinates — small when the experts agree (paper Fig. 7).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vprkit.models.artifact import model_fingerprint, read_model_dir, write_model_dir
from vprkit.models.descriptor import DescriptorNet, build_descriptor_net
from vprkit.models.heads import create_head
from vprkit.models.interfaces import ClassPrediction, TrainedClassifier
from vprkit.models.transforms import build_test_transform
from vprkit_dnc.classifier_config import DncClassifierConfig
from vprkit_dnc.scoring import PackedPrototypes

__all__ = ["DncClassifier", "group_spread"]

log = logging.getLogger("vprkit.dnc")


def group_spread(points: np.ndarray) -> np.ndarray:
    """``(B, G, 2)`` metres → ``(B,)`` root-mean-square distance of the G points to their centroid."""
    centred = points - points.mean(axis=1, keepdims=True)
    return np.sqrt((centred**2).sum(-1).mean(1))


class DncClassifier(TrainedClassifier):
    """D&C classifier. ``DncClassifier(config)`` is untrained; :meth:`fit` trains it on a dataset,
    :meth:`load` reads a saved one, :meth:`from_partition` builds fresh weights for a partition."""

    name = "dnc"

    def __init__(self, config: DncClassifierConfig | None = None):
        self.config = config or DncClassifierConfig()
        self.partition: Any = None
        self.net: DescriptorNet | None = None
        self.heads: nn.ModuleList | None = None
        self.group_classes: list[np.ndarray] = []
        self.transform = build_test_transform(self.config.test_transform)
        self.device = torch.device("cpu")
        self.training_summary: dict[str, Any] = {}
        self._scorer: PackedPrototypes | None = None
        self._scorer_key: tuple | None = None
        self._class_ids = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------------------ building
    def build(self, partition) -> DncClassifier:
        """Fresh network and one head per group of ``partition`` (weights from the torch RNG)."""
        cfg = self.config
        self.partition = partition
        self.net = build_descriptor_net(cfg.backbone, "avg_whiten", out_dim=cfg.descriptor_dim,
                                        pretrained=cfg.pretrained, freeze=cfg.freeze)
        self.group_classes = partition.groups
        self.heads = nn.ModuleList([
            create_head(cfg.head, self.net.dim, len(c), s=cfg.s, m=cfg.m, easy_margin=cfg.easy_margin)
            for c in self.group_classes
        ])
        return self

    @property
    def descriptor_dim(self) -> int:
        return self.net.dim

    def to(self, device: str | torch.device) -> DncClassifier:
        self.device = torch.device(device)
        self.net.to(self.device)
        self.heads.to(self.device)
        return self

    # ----------------------------------------------------------------------------- inference
    @torch.no_grad()
    def descriptor(self, images: torch.Tensor) -> torch.Tensor:
        self.net.eval()
        return self.net(images.to(self.device)).float()

    @property
    def scorer(self) -> PackedPrototypes:
        """The heads' prototypes packed for inference (:mod:`vprkit_dnc.scoring`), built once and
        rebuilt when the weights, ``score_mode``, ``score_precision``, ``score_shortlist`` or device change."""
        cfg = self.config
        # a tensor's version counter moves on every in-place update (optimizer step, load_state_dict, copy_)
        key = (cfg.score_mode, cfg.score_precision, cfg.score_shortlist, self.device,
               tuple((p.data_ptr(), p._version) for p in self.heads.parameters()))
        if self._scorer_key != key:
            bias = [h.linear.bias for h in self.heads] if all(hasattr(h, "linear") for h in self.heads) else None
            self._scorer = PackedPrototypes([h.weight for h in self.heads], bias=bias, mode=cfg.score_mode,
                                            precision=cfg.score_precision, shortlist=cfg.score_shortlist)
            self._class_ids = np.concatenate(self.group_classes)
            self._scorer_key = key
        return self._scorer

    @torch.no_grad()
    def classify_descriptors(self, descriptors: torch.Tensor, k: int) -> ClassPrediction:
        """Joint top-``k`` over all groups' classes (``k`` is capped at the number of classes).

        One scan of the packed prototypes (:attr:`scorer`): exact float32 by default, the pq4
        shortlist with exact re-ranking (``score_precision: pq4``), the proven-exact bf16 scan
        (``bf16``) or the two by batch size (``auto``); the groups' own top-1 classes
        for the confidence come from the same scan.
        """
        top = self.scorer.top(descriptors, k)
        classes = self._class_ids[top.columns.cpu().numpy()]
        coords = self.partition.class_coords[classes]
        best_global = self._class_ids[top.group_best.cpu().numpy()]  # (B, G)
        confidence = group_spread(self.partition.class_coords[best_global])
        return ClassPrediction(classes=classes.astype(np.int64), scores=top.scores.cpu().numpy().astype(np.float32),
                               coords=coords.astype(np.float64), confidence=confidence.astype(np.float64))

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
    def load(cls, directory: str | Path) -> DncClassifier:
        data = read_model_dir(directory, kind="classifier", method=cls.name, config_cls=DncClassifierConfig)
        model = cls(data["config"])
        cfg = data["config"]
        if cfg.pretrained:  # the saved weights replace them; never download at load time
            model.config = cfg.model_copy(update={"pretrained": False})
        model.build(data["partition"])
        model.config = cfg
        state = data["state"]
        model.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        model.heads.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("heads.")})
        model.training_summary = data["manifest"].get("training", {})
        return model

    # ------------------------------------------------------------------------------ training
    def fit(self, dataset: str | Path, out_dir: str | Path, *, resume: bool = False, reporter=None,
            allow_new_data: bool = False, on_start=None) -> DncClassifier:
        """Partition the train split, train (D&C recipe), keep the best epoch, save to ``out_dir``.

        Training state goes to ``out_dir/training/`` (``last.pt`` for ``resume``); the model
        directory itself is written at the end (rank 0 under DDP).
        ``resume`` refuses a checkpoint trained on another training set unless ``allow_new_data``;
        ``on_start()`` runs once the trainer's resume checks passed (``vprkit train`` writes its
        config there).
        """
        from vprkit.training.augment import train_transform
        from vprkit.training.data import ImageDataset
        from vprkit.training.engine import GroupTrainer
        from vprkit.training.recipe import (
            fit_partition,
            init_distributed,
            is_main_process,
            load_train_split,
            load_val_splits,
            partition_groups,
        )
        from vprkit.training.validation import extract_descriptors, subsample_queries

        cfg, tcfg = self.config, self.config.training
        init_distributed()
        images = load_train_split(dataset)
        train_fp = images.fingerprint()  # checked against the checkpoint on resume, recorded in the card
        partition = fit_partition("dnc", cfg.partition, images)
        log.info("dnc partition: %s", partition.summary())
        torch.manual_seed(tcfg.seed)
        self.build(partition)
        groups, _ = partition_groups(partition)
        val = load_val_splits(dataset) if tcfg.validate_every else None

        def validate() -> dict[str, float]:
            from vprkit.evaluation import localization_recall

            queries = subsample_queries(val[1], tcfg.val_max_queries, tcfg.seed)
            desc = extract_descriptors(self.net, queries, self.transform, device=trainer.device)
            self.device = trainer.device
            pred = self.classify_descriptors(torch.from_numpy(desc), 20)
            return {f"LR@{n}": v for n, v in localization_recall(pred.coords, queries.utm).items()}

        dataset_obj = ImageDataset(images, train_transform(tcfg.augmentation, tcfg.image_size))
        trainer = GroupTrainer(self.net, self.heads, groups, dataset_obj, tcfg, Path(out_dir) / "training",
                               validate=validate if val else None, metric="LR@1", reporter=reporter,
                               data_fingerprint=train_fp, allow_new_data=allow_new_data, on_start=on_start)
        state = trainer.fit(resume=resume)
        if is_main_process():
            trainer.load_best()
            self.device = trainer.device
            self.training_summary = {
                "dataset": str(dataset), "train_images": len(images), "train_fingerprint": train_fp,
                "best_epoch": state["best_epoch"], "epochs_done": state["epoch"], "history": state["history"],
                **({"initialised_from": state["initialised_from"]} if "initialised_from" in state else {}),
            }
            self.to("cpu").save(out_dir)
        return self
