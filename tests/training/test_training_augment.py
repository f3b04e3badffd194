"""The papers' augmentations and the per-sample seeding that makes them reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from vprkit.data.image_list import ImageList
from vprkit.training.augment import cosplace_train_transform, dnc_train_transform, train_transform
from vprkit.training.data import ImageDataset


def test_dnc_and_cosplace_parameters():
    dnc = dnc_train_transform(48).transforms
    crop = next(t for t in dnc if isinstance(t, T.RandomResizedCrop))
    assert crop.scale == (0.66, 1.0) and tuple(crop.size) == (48, 48)
    assert not any(isinstance(t, T.ColorJitter) for t in dnc)
    cos = cosplace_train_transform(32).transforms
    jitter = next(t for t in cos if isinstance(t, T.ColorJitter))
    for factor in (jitter.brightness, jitter.contrast, jitter.saturation):
        assert factor == pytest.approx((0.3, 1.7))
    assert jitter.hue == pytest.approx((-0.5, 0.5))
    assert next(t for t in cos if isinstance(t, T.RandomResizedCrop)).scale == (0.5, 1.0)
    with pytest.raises(ValueError):
        train_transform("mixup", 32)


def test_same_seed_same_crop_and_global_rng_untouched(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    nan = np.full(1, np.nan)
    images = ImageList(
        root=tmp_path,
        paths=np.array(["a.png"]),
        east=np.zeros(1),
        north=np.zeros(1),
        zone_number=10,
        zone_letter="S",
        lat=nan,
        lon=nan,
        heading=nan,
    )
    ds = ImageDataset(images, cosplace_train_transform(24))
    torch.manual_seed(5)
    before = torch.get_rng_state()
    a, label = ds[(0, 3, 1234)]
    assert torch.equal(torch.get_rng_state(), before)  # augmentation does not consume the global RNG
    b, _ = ds[(0, 3, 1234)]
    c, _ = ds[(0, 3, 999)]
    assert a.shape == (3, 24, 24) and label == 3
    assert torch.equal(a, b) and not torch.equal(a, c)
