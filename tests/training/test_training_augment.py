"""The papers' augmentations and the per-sample seeding that makes them reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from vprkit_boq.config import BoQTrainingConfig
from vprkit_dnc.classifier_config import DncTrainingConfig
from vprkit_salad.config import SALADTrainingConfig

from vprkit.config import ConfigError, build_config, load_config, save_config
from vprkit.data.image_list import ImageList
from vprkit.training.augment import (
    AUGMENTATIONS,
    PRESETS,
    AugmentationConfig,
    ChannelGain,
    build_augmentation,
    cosplace_train_transform,
    dnc_train_transform,
    resolve_augmentation,
    train_transform,
)
from vprkit.training.config import TrainingConfig
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


# --- composable augmentation ------------------------------------------------------------------


def _photo(seed: int = 0, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def _seeded(transform, image: Image.Image, seed: int = 7) -> torch.Tensor:
    torch.manual_seed(seed)
    return transform(image)


def _reference_pipelines(size: int) -> dict[str, T.Compose]:
    """The papers' pipelines written out with torchvision, as the official code builds them."""
    norm = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    return {
        "dnc": T.Compose([T.RandomResizedCrop(size, scale=(1 - 0.34, 1), antialias=True), T.ToTensor(), norm]),
        "cosplace": T.Compose(
            [
                T.ColorJitter(brightness=0.7, contrast=0.7, saturation=0.7, hue=0.5),
                T.RandomResizedCrop(size, scale=(1 - 0.5, 1), antialias=True),
                T.ToTensor(),
                norm,
            ]
        ),
        "none": T.Compose([T.Resize((size, size), antialias=True), T.ToTensor(), norm]),
    }


@pytest.mark.parametrize("preset", ["dnc", "cosplace", "none"])
def test_paper_presets_give_the_official_pixels(preset):
    image = _photo()
    ours = train_transform(preset, 24)
    reference = _reference_pipelines(24)[preset]
    for seed in range(5):
        assert torch.equal(_seeded(ours, image, seed), _seeded(reference, image, seed))


def test_mapping_starts_from_its_preset_and_overrides_fields():
    config = resolve_augmentation({"preset": "dnc", "brightness": 0.4, "gain": [0.9, 1.1]})
    assert config.crop_scale == (0.66, 1.0) and config.brightness == 0.4 and config.gain == (0.9, 1.1)
    assert resolve_augmentation("photometric") == AugmentationConfig(preset="photometric")
    assert resolve_augmentation({}) == AugmentationConfig()  # no preset: every step off
    assert set(AUGMENTATIONS) == set(PRESETS) >= {"dnc", "cosplace", "photometric", "none"}


@pytest.mark.parametrize(
    ("step", "value"),
    [
        ("brightness", 0.5),
        ("contrast", 0.5),
        ("saturation", 0.5),
        ("hue", 0.2),
        ("gain", (0.7, 1.3)),
        ("grayscale", 1.0),
        ("hflip", 1.0),
        ("blur", 1.0),
        ("noise", 0.2),
        ("jpeg_quality", (5, 10)),
        ("crop_scale", (0.2, 0.3)),
    ],
)
def test_every_step_changes_the_image_and_is_reproducible(step, value):
    image = _photo(1)
    plain = build_augmentation(AugmentationConfig(), 24)
    with_step = build_augmentation(AugmentationConfig(**{step: value}), 24)
    out = _seeded(with_step, image)
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32
    assert not torch.equal(out, _seeded(plain, image))
    assert torch.equal(out, _seeded(with_step, image))


def test_hflip_mirrors_and_grayscale_equalises_channels():
    image = _photo(2)
    plain = _seeded(build_augmentation(AugmentationConfig(), 24), image)
    flipped = _seeded(build_augmentation(AugmentationConfig(hflip=1.0), 24), image)
    assert torch.equal(flipped, plain.flip(-1))
    gray = _seeded(build_augmentation(AugmentationConfig(grayscale=1.0), 24), image)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    raw = gray * std + mean
    assert torch.allclose(raw[0], raw[1], atol=1e-5) and torch.allclose(raw[1], raw[2], atol=1e-5)


def test_channel_gain_scales_each_channel_within_its_range():
    flat = Image.new("RGB", (16, 16), (100, 100, 100))
    torch.manual_seed(3)
    out = np.asarray(ChannelGain(0.8, 1.2)(flat)).reshape(-1, 3)
    assert (out == out[0]).all()  # one gain per channel, the same over the image
    assert ((out[0] >= 80) & (out[0] <= 120)).all() and len(set(out[0].tolist())) == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mixup", "unknown augmentation 'mixup'"),
        ({"brightnes": 0.4}, "did you mean brightness?"),
        ({"gain": [1.2, 0.9]}, "gain must be (lo, hi)"),
        ({"hue": 0.7}, "hue"),
        ({"crop_scale": [0.5, 1.5]}, "crop_scale must lie in (0, 1]"),
        ({"jpeg_quality": [50, 120]}, "jpeg_quality must lie in 1–100"),
        ({"preset": "strong"}, "unknown augmentation preset 'strong'"),
        (3, "preset name or a mapping"),
    ],
)
def test_bad_augmentation_is_one_clear_line(value, message):
    with pytest.raises(ConfigError) as info:
        build_config(TrainingConfig, {}, {"augmentation": value})
    text = str(info.value)
    assert message in text and "\n" not in text and text.count("augmentation") >= 1


def test_method_configs_take_presets_mappings_and_keep_their_recipe(tmp_path):
    # a mapping that names no preset starts from the method's own recipe ...
    dnc = build_config(DncTrainingConfig, {}, {"augmentation": {"brightness": 0.4}})
    assert isinstance(dnc.augmentation, AugmentationConfig)
    assert dnc.augmentation.crop_scale == (0.66, 1.0) and dnc.augmentation.brightness == 0.4
    cos = build_config(TrainingConfig, {}, {"augmentation": {"gain": [0.9, 1.1]}})
    assert cos.augmentation.preset == "cosplace" and cos.augmentation.hue == 0.5
    # ... and survives the YAML round trip every run folder makes
    path = save_config(dnc, tmp_path / "config.yaml")
    assert load_config(DncTrainingConfig, path) == dnc
    # ``--set training.augmentation.brightness=0.4`` on top of a preset named in the file keeps the preset
    joint = build_config(DncTrainingConfig, {"augmentation": "cosplace"}, {"augmentation": {"brightness": 0.1}})
    assert joint.augmentation.preset == "cosplace" and joint.augmentation.brightness == 0.1
    # the methods' own RandAugment names are accepted where they belong, and only there
    assert build_config(SALADTrainingConfig, {}, {}).augmentation == "salad"
    assert build_config(BoQTrainingConfig, {}, {"augmentation": "photometric"}).augmentation == "photometric"
    with pytest.raises(ConfigError, match="unknown augmentation 'salad'"):
        build_config(TrainingConfig, {}, {"augmentation": "salad"})
