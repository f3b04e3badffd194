"""The group-per-epoch engine: exact resume after a mid-epoch crash, checkpoints, plateau stop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from training_testdata import alternating_groups, images_on_a_line

from vprkit.data.image_list import ImageList
from vprkit.errors import ConfigError, DataError
from vprkit.models.descriptor import build_descriptor_net
from vprkit.models.heads import ArcFaceHead
from vprkit.training.augment import train_transform
from vprkit.training.checkpoint import load_checkpoint
from vprkit.training.config import TrainingConfig
from vprkit.training.data import ImageDataset, group_data_from_labels, sample_epoch
from vprkit.training.engine import GroupTrainer


def make_images(root: Path, n: int = 24, size: int = 20, seed: int = 0) -> ImageList:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        rel = f"img_{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / rel)
        paths.append(rel)
    return images_on_a_line(root, paths, np.repeat(np.arange(n // 2) * 30.0, 2)[:n])


def build(images: ImageList, run_dir: Path, **overrides):
    torch.manual_seed(0)
    per_group = len(images) // 4
    groups = alternating_groups(len(images), per_group)
    net = build_descriptor_net("tinycnn", "avg_whiten", out_dim=16)
    heads = nn.ModuleList([ArcFaceHead(16, per_group, s=30, m=0.2) for _ in groups])
    settings = {
        "epochs": 2,
        "iterations_per_epoch": 6,
        "batch_size": 4,
        "image_size": 16,
        "augmentation": "dnc",
        "num_workers": 0,
        "device": "cpu",
        "deterministic": True,
    }
    cfg = TrainingConfig(**{**settings, **overrides})
    dataset = ImageDataset(images, train_transform(cfg.augmentation, cfg.image_size))
    return net, heads, GroupTrainer(net, heads, groups, dataset, cfg, run_dir)


class Crash(RuntimeError):
    pass


def test_resume_after_mid_epoch_crash_gives_identical_weights(tmp_path):
    images = make_images(tmp_path)
    net_a, heads_a, trainer_a = build(images, tmp_path / "a", checkpoint_every=2)
    trainer_a.fit()

    _, _, trainer_b = build(images, tmp_path / "b", checkpoint_every=2)

    def crash(epoch, iteration):
        if epoch == 1 and iteration == 2:  # after step 3 of epoch 1; last checkpoint after step 2
            raise Crash()

    trainer_b.on_iteration = crash
    with pytest.raises(Crash):
        trainer_b.fit()
    ckpt = load_checkpoint(tmp_path / "b" / "last.pt")
    assert (ckpt["state"]["epoch"], ckpt["state"]["iteration"]) == (1, 2)

    # a fresh process would rebuild everything from scratch with a different init RNG stream
    torch.manual_seed(123)
    net_c, heads_c, trainer_c = build(images, tmp_path / "b", checkpoint_every=2)
    state = trainer_c.fit(resume=True)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    for a, c in zip(
        list(net_a.state_dict().values()) + list(heads_a.state_dict().values()),
        list(net_c.state_dict().values()) + list(heads_c.state_dict().values()),
        strict=True,
    ):
        assert torch.equal(a, c)
    assert state["history"][1]["loss"] == pytest.approx(trainer_a.state["history"][1]["loss"], abs=0)
    # the head optimizer of group 0, untouched in epoch 1, kept its state across the crash
    assert torch.equal(
        trainer_a.head_opts[0].state_dict()["state"][0]["exp_avg"],
        trainer_c.head_opts[0].state_dict()["state"][0]["exp_avg"],
    )


def test_resume_refuses_changed_schedule(tmp_path):
    images = make_images(tmp_path, n=8)
    _, _, trainer = build(images, tmp_path / "r")
    trainer.cfg.epochs = 1
    trainer.fit()
    _, _, other = build(images, tmp_path / "r", seed=5)
    with pytest.raises(ConfigError, match="seed"):
        other.fit(resume=True)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    images = make_images(tmp_path, n=8)
    _, _, trainer = build(images, tmp_path / "empty")
    with pytest.raises(DataError, match="nothing to resume"):
        trainer.fit(resume=True)


def test_plateau_scheduler_stops_at_lr_floor(tmp_path):
    images = make_images(tmp_path, n=8)
    _, _, trainer = build(
        images, tmp_path / "p", plateau_patience=0, plateau_factor=0.01, min_lr=1e-6, backbone_lr=1e-5
    )
    trainer.cfg.epochs = 10
    state = trainer.fit()
    assert state["stopped"] and len(state["history"]) < 10


def test_sampler_draws_class_then_image_deterministically():
    labels = np.array([0, 0, 0, 1, -1, 2, 2, 1])
    group = group_data_from_labels(labels, 3)
    assert group.offsets.tolist() == [0, 3, 5, 7]
    a = sample_epoch(group, 3000, seed=1, epoch=4)
    b = sample_epoch(group, 3000, seed=1, epoch=4)
    assert np.array_equal(a.rows, b.rows) and np.array_equal(a.seeds, b.seeds)
    assert np.array_equal(labels[a.rows], a.labels)  # each row belongs to its drawn class
    # classes uniform (not images): class 0 has 3 images but is drawn ~1/3 of the time
    assert np.allclose(np.bincount(a.labels) / 3000, 1 / 3, atol=0.04)
    assert not np.array_equal(a.rows, sample_epoch(group, 3000, seed=1, epoch=4, rank=1).rows)


def test_class_without_images_is_refused():
    with pytest.raises(DataError, match="class 1"):
        group_data_from_labels(np.array([0, 0, 2]), 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_on_cuda_trains_and_resumes(tmp_path):
    images = make_images(tmp_path, n=8)
    _, _, trainer = build(images, tmp_path / "gpu", device="cuda", amp=True, deterministic=False)
    trainer.cfg.epochs = 1
    state = trainer.fit()
    assert trainer.use_amp and np.isfinite(state["history"][0]["loss"])
    assert load_checkpoint(tmp_path / "gpu" / "last.pt")["scaler"] is not None
