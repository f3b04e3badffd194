"""The CosPlace retriever (paper 002, METHODS.md §2): GeM descriptors trained with CosFace heads.

The heads only exist during training (one per trained group); the saved retriever is the
descriptor network alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vprkit.models.artifact import model_fingerprint, read_model_dir, write_model_dir
from vprkit.models.descriptor import DescriptorNet, build_descriptor_net
from vprkit.models.heads import CosFaceHead
from vprkit.models.interfaces import TrainedRetriever
from vprkit.models.official import cosplace_architecture, load_cosplace_weights, read_state_file
from vprkit.models.transforms import build_test_transform
from vprkit_cosplace.retriever_config import CosPlaceRetrieverConfig

__all__ = ["CosPlaceRetriever"]

log = logging.getLogger("vprkit.cosplace")


class CosPlaceRetriever(TrainedRetriever):
    """CosPlace retriever. ``CosPlaceRetriever(config)`` has fresh weights (seeded by
    ``training.seed``); :meth:`fit` trains it, :meth:`load` reads a saved one,
    :meth:`load_official` maps the authors' released weights onto it."""

    name = "cosplace"

    def __init__(self, config: CosPlaceRetrieverConfig | None = None):
        self.config = config or CosPlaceRetrieverConfig()
        torch.manual_seed(self.config.training.seed)
        self.net: DescriptorNet = build_descriptor_net(
            self.config.backbone, "gem_fc", out_dim=self.config.fc_output_dim,
            pretrained=self.config.pretrained, freeze=self.config.freeze,
        )
        self.transform = build_test_transform(self.config.test_transform)
        self.device = torch.device("cpu")
        self.training_summary: dict[str, Any] = {}

    @property
    def descriptor_dim(self) -> int:
        return self.net.dim

    def to(self, device: str | torch.device) -> CosPlaceRetriever:
        self.device = torch.device(device)
        self.net.to(self.device)
        return self

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        self.net.eval()
        return self.net(images.to(self.device)).float()

    def state(self) -> dict[str, torch.Tensor]:
        return {f"net.{k}": v for k, v in self.net.state_dict().items()}

    def fingerprint(self) -> str:
        return model_fingerprint(self.state(), self.config)

    def save(self, directory: str | Path) -> Path:
        return write_model_dir(directory, kind="retriever", method=self.name, state=self.state(), config=self.config,
                               extra={"descriptor_dim": self.descriptor_dim, "training": self.training_summary})

    @classmethod
    def load(cls, directory: str | Path) -> CosPlaceRetriever:
        data = read_model_dir(directory, kind="retriever", method=cls.name, config_cls=CosPlaceRetrieverConfig)
        cfg = data["config"]
        model = cls(cfg.model_copy(update={"pretrained": False}))  # saved weights replace any download
        model.config = cfg
        model.net.load_state_dict({k[4:]: v for k, v in data["state"].items()})
        model.training_summary = data["manifest"].get("training", {})
        return model

    @classmethod
    def load_official(cls, weights: str | Path, config: CosPlaceRetrieverConfig | None = None) -> CosPlaceRetriever:
        """A retriever with the authors' released weights (a ``torch.hub`` file such as
        ``ResNet50_2048_cosplace.pth``); without ``config`` the backbone and dimension are read off
        the keys. ``vprkit models import cosplace`` does this and writes a model folder."""
        state = read_state_file(weights)
        if config is None:
            backbone, dim = cosplace_architecture(state)
            config = CosPlaceRetrieverConfig(backbone=backbone, fc_output_dim=dim, test_transform={"resize": "none"})
        model = cls(config.model_copy(update={"pretrained": False}))
        load_cosplace_weights(model.net, state)
        return model

    def fit(self, dataset: str | Path, out_dir: str | Path, *, resume: bool = False, reporter=None,
            allow_new_data: bool = False, on_start=None) -> CosPlaceRetriever:
        """Partition the train split (needs headings), train the CosPlace recipe, keep the best
        epoch by val LR@1 (= R@1), save the descriptor network to ``out_dir``.
        ``resume`` refuses a checkpoint trained on another training set unless ``allow_new_data``;
        ``on_start()`` runs once the trainer's resume checks passed (``vprkit train`` writes its
        config there)."""
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
        from vprkit.training.validation import extract_descriptors, retrieval_lr, subsample_queries

        cfg, tcfg = self.config, self.config.training
        init_distributed()
        images = load_train_split(dataset)
        train_fp = images.fingerprint()  # checked against the checkpoint on resume, recorded in the card
        partition = fit_partition("cosplace", cfg.partition, images)
        log.info("cosplace partition: %s", partition.summary())
        groups, _ = partition_groups(partition)
        torch.manual_seed(tcfg.seed + 1)
        heads = nn.ModuleList([CosFaceHead(self.net.dim, g.n_classes, s=cfg.s, m=cfg.m) for g in groups])
        val = load_val_splits(dataset) if tcfg.validate_every else None

        def validate() -> dict[str, float]:
            database, queries = val
            queries = subsample_queries(queries, tcfg.val_max_queries, tcfg.seed)
            db = extract_descriptors(self.net, database, self.transform, device=trainer.device)
            q = extract_descriptors(self.net, queries, self.transform, device=trainer.device)
            return retrieval_lr(db, database.utm, q, queries.utm)

        dataset_obj = ImageDataset(images, train_transform(tcfg.augmentation, tcfg.image_size))
        trainer = GroupTrainer(self.net, heads, groups, dataset_obj, tcfg, Path(out_dir) / "training",
                               validate=validate if val else None, metric="LR@1", reporter=reporter,
                               data_fingerprint=train_fp, allow_new_data=allow_new_data, on_start=on_start)
        state = trainer.fit(resume=resume)
        if is_main_process():
            trainer.load_best()
            self.training_summary = {
                "dataset": str(dataset), "train_images": len(images), "train_fingerprint": train_fp,
                "partition": partition.summary(), "best_epoch": state["best_epoch"], "epochs_done": state["epoch"],
                "history": state["history"],
                **({"initialised_from": state["initialised_from"]} if "initialised_from" in state else {}),
            }
            self.to("cpu").save(out_dir)
        return self
