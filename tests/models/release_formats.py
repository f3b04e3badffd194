"""The authors' release formats, re-built here from their published descriptions (key layouts,
ordering rules), with torchvision modules and random weights: the reference every import test
compares vprkit against. Nothing here is vprkit code.

- CosPlace (gmberton/CosPlace @ 33ce8d0): ``GeoLocalizationNet`` = torchvision backbone
  (ResNet ``children()[:-2]``, VGG16 ``features.children()[:-2]``) + ``aggregation`` =
  (L2Norm, GeM(p), Flatten, Linear, L2Norm); test images: no resize, ImageNet normalisation.
- D&C (ga1i13o/Divide-and-Classify @ e7b777c): ``GeoClassNet`` = torchvision EfficientNet
  ``features`` + global average pool + (Linear C→C, L2Norm); one AAMC head per group; groups and
  classes in the order of a dict / set filled while walking the sorted training paths; test
  images: ``Resize(256)`` (shorter side), ImageNet normalisation; scores: raw ``W_k x``
  concatenated over the groups in that order.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision import transforms as T

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class L2Norm(nn.Module):
    def forward(self, x):
        return F.normalize(x, p=2.0, dim=1)


class GeM(nn.Module):
    def __init__(self, p=3.0, eps=1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.ones(1) * p)
        self.eps = eps

    def forward(self, x):
        return F.avg_pool2d(x.clamp(min=self.eps).pow(self.p), (x.size(-2), x.size(-1))).pow(1.0 / self.p)


class Flatten(nn.Module):
    def forward(self, x):
        return x[:, :, 0, 0]


def randomise_batch_norm(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


class CosPlaceNet(nn.Module):
    """The official CosPlace model of ``backbone`` ("ResNet18", "ResNet50", "VGG16")."""

    def __init__(self, backbone: str, dim: int):
        super().__init__()
        tv = getattr(torchvision.models, backbone.lower())(weights=None)
        if backbone.startswith("ResNet"):
            layers, channels = list(tv.children())[:-2], (512 if backbone == "ResNet18" else 2048)
        else:
            layers, channels = list(tv.features.children())[:-2], 512
        self.backbone = nn.Sequential(*layers)
        self.aggregation = nn.Sequential(L2Norm(), GeM(p=2.7), Flatten(), nn.Linear(channels, dim), L2Norm())

    def forward(self, x):
        return self.aggregation(self.backbone(x))


COSPLACE_TEST = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
DNC_TEST = T.Compose([T.Resize(256), T.ToTensor(), T.Normalize(MEAN, STD)])


class DncNet(nn.Module):
    """The official D&C network: EfficientNet-B0 features, average pool, Linear C→C, L2Norm."""

    def __init__(self):
        super().__init__()
        self.backbone = torchvision.models.efficientnet_b0(weights=None).features
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), Flatten())
        self.classifier = nn.Sequential(nn.Linear(1280, 1280), L2Norm())
        for name, child in self.backbone.named_children():  # the official freeze: features 0 … 4
            if name == "5":
                break
            for p in child.parameters():
                p.requires_grad = False

    def forward(self, x):
        return self.classifier(self.pool(self.backbone(x)))


def standard_name(east: float, north: float, heading: float = 0.0, pano: str = "p") -> str:
    return f"@{east:09.2f}@{north:010.2f}@10@S@@@{pano}@@{heading:g}@@@@@@.jpg"


def official_dnc_groups(paths: list[str], M: int = 20, N: int = 2, min_images: int = 10) -> list[list[tuple[int, int]]]:
    """The official D&C class table, re-typed from its rules: walk the sorted paths, class =
    (int(east // M * M), int(north // M * M)) from the '@' fields 1 and 2, keep classes with ≥
    min_images images, add each image's class to the set of its group (a dict of sets in
    insertion order), then list each set."""
    paths = sorted(paths)
    ids = []
    for p in paths:
        fields = p.split("@")
        e, n = float(fields[1]), float(fields[2])
        ce, cn = int(e // M * M), int(n // M * M)
        ids.append(((ce, cn), (ce % (M * N) // M, cn % (M * N) // M)))
    per_class = defaultdict(list)
    for p, (class_id, _) in zip(paths, ids):
        per_class[class_id].append(p)
    kept = {k for k, v in per_class.items() if len(v) >= min_images}
    groups = defaultdict(set)
    for class_id, group_id in ids:
        if class_id in kept:
            groups[group_id].add(class_id)
    return [list(c) for c in groups.values()]


def official_dnc_scores(net: DncNet, heads: list[torch.Tensor], image) -> tuple[torch.Tensor, torch.Tensor]:
    """(descriptor (1, C), raw scores (1, Σ S_k) in the release's group and row order)."""
    with torch.no_grad():
        desc = net(DNC_TEST(image)[None])
        return desc, torch.cat([desc @ w.T for w in heads], dim=1)


#: The arguments every D&C training run of the release stores (partition and heads).
DNC_RELEASE_ARGS = dict(
    M=20, N=2, min_images_per_class=10, classifier_type="AAMC", lmcc_s=100.0, lmcc_m=0.2, test_resize=256
)


def dnc_train_args(**schedule) -> argparse.Namespace:
    """The arguments Namespace of a D&C training run: the release's, its optimiser settings, and the
    given ``schedule`` (``epochs_num``, ``iterations_per_epoch``, ``batch_size``, ``train_resize``)."""
    return argparse.Namespace(
        **DNC_RELEASE_ARGS, lr=1e-4, classifier_lr=0.01, scheduler_patience=10, seed=0, **schedule
    )


def dnc_checkpoint(
    net: DncNet,
    heads: list[torch.Tensor],
    *,
    full: bool = False,
    prefix: str = "",
    args: argparse.Namespace | None = None,
    epoch: int = 3,
) -> dict:
    """A D&C file in the release layout: the best-model dict, or the full training checkpoint
    (with Adam states after one step, the arguments Namespace, the epoch)."""
    model_sd = {f"{prefix}{k}": v.clone() for k, v in net.state_dict().items()}
    ckpt = {"model_state_dict": model_sd, "classifiers_state_dict": [{"weight": w.clone()} for w in heads]}
    if not full:
        return ckpt
    params = [nn.Parameter(w.clone()) for w in heads]
    net_copy = DncNet()
    net_copy.load_state_dict(net.state_dict())
    opt = torch.optim.Adam(net_copy.parameters(), lr=1e-4)
    head_opts = [torch.optim.Adam([p], lr=0.01) for p in params]
    x = torch.randn(2, 3, 32, 32)
    loss = sum((net_copy(x) @ p.T).sum() for p in params)
    loss.backward()
    opt.step()
    for o in head_opts:
        o.step()
    ckpt.update(
        {
            "epoch_num": epoch,
            "optimizer_state_dict": opt.state_dict(),
            "optimizers_state_dict": [o.state_dict() for o in head_opts],
            "args": args or argparse.Namespace(**DNC_RELEASE_ARGS),
            "best_train_loss": 3.25,
        }
    )
    return ckpt


def random_points(
    rng: np.random.Generator, n: int, east0: float = 550_000.0, north0: float = 4_180_000.0, side: float = 200.0
) -> tuple[np.ndarray, np.ndarray]:
    """Points denser in one corner, so some 20 m cells fall under 10 images and are dropped."""
    u = rng.uniform(0, 1, (n, 2)) ** 1.6
    return (east0 + side * u[:, 0]).round(2), (north0 + side * u[:, 1]).round(2)


class NetVLADLayer(nn.Module):
    """pytorch-NetVlad's layer (Nanne/pytorch-NetVlad, vladv1): L2 over channels, 1×1 conv without
    bias + softmax over clusters, residuals to the centroids summed one cluster at a time,
    intra-normalisation, flatten cluster-major, L2."""

    def __init__(self, clusters: int = 64, dim: int = 512):
        super().__init__()
        self.conv = nn.Conv2d(dim, clusters, kernel_size=(1, 1), bias=False)
        self.centroids = nn.Parameter(torch.rand(clusters, dim))

    def forward(self, x):
        n, c = x.shape[:2]
        x = F.normalize(x, p=2, dim=1)
        assign = F.softmax(self.conv(x).view(n, self.centroids.shape[0], -1), dim=1)
        flat = x.view(n, c, -1)
        vlad = torch.zeros(n, self.centroids.shape[0], c)
        for k in range(self.centroids.shape[0]):
            residual = flat - self.centroids[k][None, :, None]
            vlad[:, k] = (residual * assign[:, k : k + 1, :]).sum(-1)
        vlad = F.normalize(vlad, p=2, dim=2).view(n, -1)
        return F.normalize(vlad, p=2, dim=1)


class NetVLADNet(nn.Module):
    """pytorch-NetVlad's model: ``encoder`` = VGG16 ``features.children()[:-2]``, ``pool`` = NetVLAD."""

    def __init__(self, clusters: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(*list(torchvision.models.vgg16(weights=None).features.children())[:-2])
        self.pool = NetVLADLayer(clusters, 512)

    def forward(self, x):
        return self.pool(self.encoder(x))


def netvlad_checkpoint(net: NetVLADNet, *, parallel: bool = True) -> dict:
    """A pytorch-NetVlad ``checkpoint.pth.tar``: the state dict (encoder keys under ``module.`` when
    it ran in DataParallel), epoch, recalls (NumPy scalars), best score, optimizer, parallel flag."""
    state = {(k.replace("encoder.", "encoder.module.", 1) if parallel else k): v for k, v in net.state_dict().items()}
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    return {
        "epoch": 5,
        "state_dict": state,
        "recalls": {1: np.float64(0.8), 5: np.float64(0.9)},
        "best_score": np.float64(0.9),
        "optimizer": opt.state_dict(),
        "parallel": parallel,
    }
