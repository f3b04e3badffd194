"""Training the NetVLAD and GeM retrievers (docs/methods/netvlad.md): triplet margin loss with partial mining
(:class:`~vprkit_netvlad.trainer.TripletTrainer`), single process.

Both: the train split is the query set and the database (positives within ``positive_radius_m``,
negatives beyond ``negative_radius_m``), best epoch by val LR@1 (= R@1). NetVLAD adds a k-means
initialisation of its clusters before training and fits its PCA-whitening after (``reduction:
pca``: the triplets train the network without it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import torch
from torch import nn

from vprkit.contracts import TrainRequest
from vprkit.data.image_list import ImageList
from vprkit.models.descriptor import DescriptorNet
from vprkit.models.transforms import square_transform
from vprkit.training.recipe import TrainingRun
from vprkit_netvlad.netvlad import PCAWhitening, fit_pca_whitening, kmeans_centroids
from vprkit_netvlad.retriever import GeMRetriever, NetVLADRetriever

__all__ = ["train_gem", "train_netvlad"]

log = logging.getLogger("vprkit.netvlad")

R = TypeVar("R", NetVLADRetriever, GeMRetriever)


def train_gem(model: GeMRetriever, request: TrainRequest) -> GeMRetriever:
    """Train a GeM retriever with triplets and partial mining; save it to ``request.out_dir``."""
    return _train_triplets(model, request, model.net)


def train_netvlad(model: NetVLADRetriever, request: TrainRequest) -> NetVLADRetriever:
    """k-means clusters (a new run only), triplet training (without the PCA for ``reduction:
    pca``), then the PCA-whitening on the best epoch's network; save to ``request.out_dir``."""
    cfg = model.config
    train_net = model.net
    if cfg.reduction == "pca":  # NetVLAD + PCA trains without the PCA
        train_net = DescriptorNet(model.net.backbone, nn.Sequential(model.netvlad), model.netvlad.dim)

    def init_clusters(images: ImageList) -> None:
        sampler = _LocalFeatures(model.net.backbone, cfg.kmeans_features_per_image, cfg.training.seed)
        local, _ = _describe_sample(model, sampler, images, cfg.kmeans_images, cfg.training.seed, "k-means")
        centroids = kmeans_centroids(local, cfg.clusters, iterations=cfg.kmeans_iterations, seed=cfg.training.seed)
        alpha = model.netvlad.init_from_kmeans(centroids, local)
        log.info("netvlad: %d clusters from %d local features, alpha %.2f", cfg.clusters, len(local), alpha)

    def fit_pca(images: ImageList) -> None:
        if cfg.reduction != "pca":
            return
        desc, _ = _describe_sample(model, train_net, images, cfg.pca_images, cfg.training.seed + 1, "PCA")
        mean, proj = fit_pca_whitening(desc, cfg.out_dim)
        pca = cast(PCAWhitening, cast(nn.Sequential, model.net.aggregation)[1])
        pca.mean.copy_(torch.from_numpy(mean))
        pca.projection.copy_(torch.from_numpy(proj))

    return _train_triplets(model, request, train_net, before=init_clusters, after=fit_pca)


def _train_triplets(
    model: R,
    request: TrainRequest,
    train_net: nn.Module,
    *,
    before: Callable[[ImageList], None] | None = None,
    after: Callable[[ImageList], None] | None = None,
) -> R:
    """The shared recipe: ``before(images)`` on a new run, triplet training of ``train_net``,
    ``after(images)`` on the best epoch's network, then save."""
    from vprkit_netvlad.mining import PartialMiner, training_positives
    from vprkit_netvlad.trainer import TripletTrainer

    tcfg = model.config.training
    run = TrainingRun.start(request, tcfg, distributed=False, owner=f"retriever {model.name!r}")
    images = run.images
    positives = training_positives(
        images.utm, tcfg.positive_radius_m, images.heading, tcfg.positive_max_heading_diff_deg
    )
    miner = PartialMiner(images.utm, positives, tcfg.negative_radius_m, tcfg.neg_samples_num, tcfg.negs_num_per_query)
    log.info(
        "%s: %d training images, %d usable as queries (a positive within %.0f m)",
        model.name,
        len(images),
        len(miner.query_rows),
        tcfg.positive_radius_m,
    )
    if before is not None and not (request.resume and (run.run_dir / "last.pt").is_file()):
        before(images)
    trainer = TripletTrainer(
        train_net,
        images,
        miner,
        tcfg,
        run.run_dir,
        **run.trainer_options(run.retriever_validation(train_net, model.transform)),
    )
    return run.train(
        model,
        trainer,
        after_best=(lambda: after(images)) if after is not None else None,
        training_queries=len(miner.query_rows),
    )


def _describe_sample(
    model: NetVLADRetriever, net: nn.Module, images: ImageList, n: int, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(n', ...)`` outputs of ``net`` on up to ``n`` random training images (eval transform at
    the training size), and their rows."""
    from vprkit.models.extract import extract_descriptors

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(images), min(n, len(images)), replace=False))
    log.info("%s: describing %d training images for %s", model.name, len(rows), what)
    return extract_descriptors(
        net,
        images.subset(rows),
        square_transform(model.config.training.image_size),
        batch_size=model.config.training.cache_batch_size,
        device=model.device,
    ), rows


class _LocalFeatures(nn.Module):
    """Backbone → ``(B·k, C)`` L2-normalised local features at ``k`` random locations per image."""

    def __init__(self, backbone: nn.Module, per_image: int, seed: int):
        super().__init__()
        self.backbone: Any = backbone  # a timm-style module with forward_features
        self.per_image = per_image
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = torch.nn.functional.normalize(self.backbone.forward_features(images), dim=1).flatten(2)  # (B, C, N)
        b, c, n = maps.shape
        k = min(self.per_image, n)
        idx = torch.rand(b, n, generator=self.gen).argsort(dim=1)[:, :k].to(maps.device)
        return maps.gather(2, idx[:, None, :].expand(b, c, k)).transpose(1, 2).reshape(b * k, c)
