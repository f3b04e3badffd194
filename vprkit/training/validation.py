"""Validation during training: descriptors of a split, then LR@N of a classifier or of retrieval.

LR@N (METHODS.md §0) comes from :func:`vprkit.evaluation.localization_recall`; for retrieval it
equals R@N, so it also selects CosPlace's best epoch ("best val R@1").
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vprkit.data.image_list import ImageList
from vprkit.evaluation import DEFAULT_NS, localization_recall
from vprkit.models.transforms import apply_by_shape

__all__ = ["EvalImages", "extract_descriptors", "retrieval_lr", "subsample_queries"]

log = logging.getLogger("vprkit.training")


class EvalImages(Dataset):
    """``ImageList`` rows → ``(3, H, W)`` tensors through an eval transform."""

    def __init__(self, images: ImageList, transform: Callable):
        from vprkit.training.data import ImageDataset

        self._reader = ImageDataset(images, transform)
        self.transform = transform

    def __len__(self) -> int:
        return len(self._reader)

    def __getitem__(self, row: int) -> torch.Tensor:
        return self.transform(self._reader.load(row))


@torch.no_grad()
def extract_descriptors(
    net: Callable[[torch.Tensor], torch.Tensor],
    images: ImageList,
    transform: Callable,
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> np.ndarray:
    """``(n, D)`` float32 descriptors of every image of ``images`` (in order)."""
    if isinstance(net, nn.Module):
        net.eval()
    # a batch is a list: with an aspect-keeping test transform its images may differ in size
    loader = DataLoader(EvalImages(images, transform), batch_size=batch_size, num_workers=num_workers, collate_fn=list)
    chunks = [apply_by_shape(lambda x: net(x.to(device)), batch).float().cpu().numpy() for batch in loader]
    dim = chunks[0].shape[1] if chunks else 0
    return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)


def retrieval_lr(
    database_desc: np.ndarray,
    database_utm: np.ndarray,
    query_desc: np.ndarray,
    query_utm: np.ndarray,
    ns=DEFAULT_NS,
    radius: float = 25.0,
) -> dict[str, float]:
    """LR@N of exhaustive inner-product retrieval (faiss flat index) → ``{"LR@1": ..}`` in percent."""
    import faiss

    k = min(max(ns), len(database_desc))
    index = faiss.IndexFlatIP(database_desc.shape[1])
    index.add(np.ascontiguousarray(database_desc, dtype=np.float32))
    _, rows = index.search(np.ascontiguousarray(query_desc, dtype=np.float32), k)
    pred = database_utm[rows]  # (Q, k, 2)
    return {f"LR@{n}": v for n, v in localization_recall(pred, query_utm, ns, radius).items()}


def subsample_queries(queries: ImageList, max_queries: int | None, seed: int = 0) -> ImageList:
    """At most ``max_queries`` rows, chosen deterministically (validation cost control)."""
    if max_queries is None or len(queries) <= max_queries:
        return queries
    rows = np.sort(np.random.default_rng(seed).choice(len(queries), max_queries, replace=False))
    return queries.subset(rows)
