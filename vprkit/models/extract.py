"""Descriptors of a whole image list with a model's eval transform: what a bundle's database,
validation during training and the benchmarks extract (batched, in list order)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vprkit.data.image_list import ImageList
from vprkit.data.images import open_image
from vprkit.models.transforms import apply_by_shape

__all__ = ["EvalImages", "extract_descriptors"]


class EvalImages(Dataset):
    """``ImageList`` rows → ``(3, H, W)`` tensors through an eval transform."""

    def __init__(self, images: ImageList, transform: Callable[[Image.Image], torch.Tensor]):
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, row: int) -> torch.Tensor:
        return self.transform(open_image(self.images.root / str(self.images.paths[row])))


@torch.no_grad()
def extract_descriptors(
    net: Callable[[torch.Tensor], torch.Tensor],
    images: ImageList,
    transform: Callable[[Image.Image], torch.Tensor],
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
