"""The NetVLAD and GeM retrievers (METHODS.md §3): cropped backbone → NetVLAD or GeM, triplet-trained.

``NetVLADRetriever``: backbone cut at conv4/conv5 → NetVLAD (K = 64, k-means init) → PCA-whitening
(fitted after training, the paper's) or a trained FC, or nothing → L2.
``GeMRetriever``: the same backbone → L2 → GeM (p = 3) → FC → L2.
Both train with the triplet margin loss and partial mining (:mod:`vprkit_netvlad.mining`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vprkit.errors import ConfigError
from vprkit.models.artifact import model_fingerprint, read_model_dir, write_model_dir
from vprkit.models.descriptor import DescriptorNet
from vprkit.models.interfaces import TrainedRetriever
from vprkit.models.pooling import L2Norm, gem_fc_aggregation
from vprkit.models.transforms import build_test_transform, square_transform
from vprkit_netvlad.backbone import create_cropped_backbone
from vprkit_netvlad.config import GeMRetrieverConfig, NetVLADRetrieverConfig
from vprkit_netvlad.netvlad import NetVLAD, PCAWhitening, fit_pca_whitening, kmeans_centroids

__all__ = ["GeMRetriever", "NetVLADRetriever"]

log = logging.getLogger("vprkit.netvlad")


class _TripletRetriever(TrainedRetriever):
    """Shared behaviour: weights seeded by ``training.seed``; ``fit`` trains with partial mining."""

    name = ""
    config_cls: type = NetVLADRetrieverConfig

    def __init__(self, config=None):
        self.config = config or self.config_cls()
        torch.manual_seed(self.config.training.seed)
        backbone, channels = create_cropped_backbone(self.config.backbone, self.config.crop,
                                                     pretrained=self.config.pretrained, freeze=self.config.freeze)
        aggregation, dim = self._aggregation(channels)
        self.net = DescriptorNet(backbone, aggregation, dim)
        self.transform = build_test_transform(self.config.test_transform)
        self.device = torch.device("cpu")
        self.training_summary: dict[str, Any] = {}

    def _aggregation(self, channels: int) -> tuple[nn.Module, int]:
        raise NotImplementedError

    def _training_net(self) -> nn.Module:
        """The network the triplet loss trains (NetVLAD + PCA trains without the PCA)."""
        return self.net

    def _before_training(self, images, run_dir: Path) -> None:
        """Initialisation that needs the training images (NetVLAD: k-means)."""

    def _after_training(self, images) -> None:
        """Fitting that needs the trained network (NetVLAD: PCA-whitening)."""

    @property
    def descriptor_dim(self) -> int:
        return self.net.dim

    def to(self, device: str | torch.device):
        self.device = torch.device(device)
        self.net.to(self.device)
        return self

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, D)`` float32 unit descriptors."""
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
    def load(cls, directory: str | Path):
        data = read_model_dir(directory, kind="retriever", method=cls.name, config_cls=cls.config_cls)
        cfg = data["config"]
        model = cls(cfg.model_copy(update={"pretrained": False}))  # saved weights replace any download
        model.config = cfg
        model.net.load_state_dict({k[4:]: v for k, v in data["state"].items()})
        model.training_summary = data["manifest"].get("training", {})
        return model

    def fit(self, dataset: str | Path, out_dir: str | Path, *, resume: bool = False, reporter=None,
            allow_new_data: bool = False, on_start=None):
        """Train on the train split of ``dataset`` with partial mining, keep the best epoch by val
        LR@1 (= R@1), save the retriever to ``out_dir`` (``out_dir/training`` holds checkpoints).
        ``resume`` refuses a checkpoint trained on another training set unless ``allow_new_data``;
        ``on_start()`` runs once the trainer's resume checks passed (``vprkit train`` writes its
        config there)."""
        from vprkit.training.recipe import load_train_split, load_val_splits
        from vprkit.training.validation import extract_descriptors, retrieval_lr, subsample_queries
        from vprkit_netvlad.mining import PartialMiner, training_positives
        from vprkit_netvlad.trainer import TripletTrainer

        tcfg = self.config.training
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError(f"retriever {self.name!r} trains in a single process (triplet mining is not distributed); "
                              "launch `vprkit train` without torchrun")
        run_dir = Path(out_dir) / "training"
        images = load_train_split(dataset)
        train_fp = images.fingerprint()  # checked against the checkpoint on resume, recorded in the card
        positives = training_positives(images.utm, tcfg.positive_radius_m, images.heading,
                                       tcfg.positive_max_heading_diff_deg)
        miner = PartialMiner(images.utm, positives, tcfg.negative_radius_m, tcfg.neg_samples_num, tcfg.negs_num_per_query)
        log.info("%s: %d training images, %d usable as queries (a positive within %.0f m)", self.name, len(images),
                 len(miner.query_rows), tcfg.positive_radius_m)
        if not (resume and (run_dir / "last.pt").is_file()):
            self._before_training(images, run_dir)
        val = load_val_splits(dataset) if tcfg.validate_every else None
        train_net = self._training_net()

        def validate() -> dict[str, float]:
            database, queries = val
            queries = subsample_queries(queries, tcfg.val_max_queries, tcfg.seed)
            db = extract_descriptors(train_net, database, self.transform, device=trainer.device)
            q = extract_descriptors(train_net, queries, self.transform, device=trainer.device)
            return retrieval_lr(db, database.utm, q, queries.utm)

        trainer = TripletTrainer(train_net, images, miner, tcfg, run_dir, validate=validate if val else None,
                                 reporter=reporter, data_fingerprint=train_fp, allow_new_data=allow_new_data, on_start=on_start)
        state = trainer.fit(resume=resume)
        trainer.load_best()
        self.to(trainer.device)
        self._after_training(images)
        self.training_summary = {
            "dataset": str(dataset), "train_images": len(images), "train_fingerprint": train_fp,
            "training_queries": int(len(miner.query_rows)), "best_epoch": state["best_epoch"],
            "epochs_done": state["epoch"], "history": state["history"],
            **({"initialised_from": state["initialised_from"]} if "initialised_from" in state else {}),
        }
        self.to("cpu").save(out_dir)
        return self

    def _describe_sample(self, net: nn.Module, images, n: int, seed: int, what: str) -> tuple[np.ndarray, Any]:
        """``(n', ...)`` outputs of ``net`` on up to ``n`` random training images (eval transform at
        the training size)."""
        from vprkit.training.validation import extract_descriptors

        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(images), min(n, len(images)), replace=False))
        log.info("%s: describing %d training images for %s", self.name, len(rows), what)
        return extract_descriptors(net, images.subset(rows), square_transform(self.config.training.image_size),
                                   batch_size=self.config.training.cache_batch_size, device=self.device), rows


class _LocalFeatures(nn.Module):
    """Backbone → ``(B·k, C)`` L2-normalised local features at ``k`` random locations per image."""

    def __init__(self, backbone: nn.Module, per_image: int, seed: int):
        super().__init__()
        self.backbone, self.per_image = backbone, per_image
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = torch.nn.functional.normalize(self.backbone.forward_features(images), dim=1).flatten(2)  # (B, C, N)
        b, c, n = maps.shape
        k = min(self.per_image, n)
        idx = torch.rand(b, n, generator=self.gen).argsort(dim=1)[:, :k].to(maps.device)
        return maps.gather(2, idx[:, None, :].expand(b, c, k)).transpose(1, 2).reshape(b * k, c)


class NetVLADRetriever(_TripletRetriever):
    """NetVLAD retriever. ``NetVLADRetriever(config)`` has fresh weights; :meth:`fit` initialises the
    clusters by k-means, trains with triplets, then fits the PCA-whitening."""

    name = "netvlad"
    config_cls = NetVLADRetrieverConfig

    def _aggregation(self, channels: int) -> tuple[nn.Module, int]:
        cfg = self.config
        vlad = NetVLAD(channels, cfg.clusters)
        if cfg.reduction == "none":
            return nn.Sequential(vlad), vlad.dim
        if cfg.reduction == "fc":
            return nn.Sequential(vlad, nn.Linear(vlad.dim, cfg.out_dim), L2Norm()), cfg.out_dim
        return nn.Sequential(vlad, PCAWhitening(vlad.dim, cfg.out_dim)), cfg.out_dim

    @property
    def netvlad(self) -> NetVLAD:
        return self.net.aggregation[0]

    def _training_net(self) -> nn.Module:
        if self.config.reduction == "pca":
            return DescriptorNet(self.net.backbone, nn.Sequential(self.netvlad), self.netvlad.dim)
        return self.net

    def _before_training(self, images, run_dir: Path) -> None:
        cfg = self.config
        sampler = _LocalFeatures(self.net.backbone, cfg.kmeans_features_per_image, cfg.training.seed)
        local, _ = self._describe_sample(sampler, images, cfg.kmeans_images, cfg.training.seed, "k-means")
        centroids = kmeans_centroids(local, cfg.clusters, iterations=cfg.kmeans_iterations, seed=cfg.training.seed)
        alpha = self.netvlad.init_from_kmeans(centroids, local)
        log.info("netvlad: %d clusters from %d local features, alpha %.2f", cfg.clusters, len(local), alpha)

    def _after_training(self, images) -> None:
        cfg = self.config
        if cfg.reduction != "pca":
            return
        desc, _ = self._describe_sample(self._training_net(), images, cfg.pca_images, cfg.training.seed + 1, "PCA")
        mean, proj = fit_pca_whitening(desc, cfg.out_dim)
        pca: PCAWhitening = self.net.aggregation[1]
        pca.mean.copy_(torch.from_numpy(mean))
        pca.projection.copy_(torch.from_numpy(proj))


class GeMRetriever(_TripletRetriever):
    """GeM retriever (same backbone, L2 → GeM → FC → L2), trained like NetVLAD."""

    name = "gem"
    config_cls = GeMRetrieverConfig

    def _aggregation(self, channels: int) -> tuple[nn.Module, int]:
        return gem_fc_aggregation(channels, self.config.fc_output_dim), self.config.fc_output_dim
