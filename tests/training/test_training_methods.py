"""The dnc classifier and cosplace retriever trained end to end on a tiny dataset; save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vprkit.errors import DataError
from vprkit.registry import create_classifier, create_retriever
from vprkit.training.api import resolve_training_config, train_model

FAST = [
    "training.epochs=4",
    "training.iterations_per_epoch=3",
    "training.batch_size=16",
    "training.image_size=32",
    "training.num_workers=0",
    "training.device=cpu",
    "backbone=tinycnn",
]


def test_dnc_trains_saves_and_loads(tiny_vpr_dataset, tmp_path):
    model = train_model("classifier", "dnc", tiny_vpr_dataset, tmp_path / "dnc", overrides=FAST)
    assert model.partition.num_groups == 4 and model.descriptor_dim == 128
    history = model.training_summary["history"]
    assert len(history) == 4 and [h["group"] for h in history] == [0, 1, 2, 3]
    assert all("LR@1" in h for h in history)
    for name in ("weights.safetensors", "config.yaml", "partition.npz", "manifest.json", "training/last.pt"):
        assert (tmp_path / "dnc" / name).is_file(), name

    from vprkit_dnc.classifier import DncClassifier

    loaded = DncClassifier.load(tmp_path / "dnc")
    assert loaded.fingerprint() == model.fingerprint()
    images = torch.randn(3, 3, 32, 32)
    a, b = model.classify(images, 5), loaded.classify(images, 5)
    assert np.array_equal(a.classes, b.classes) and a.coords.shape == (3, 5, 2)
    assert a.confidence.shape == (3,) and np.all(a.confidence >= 0)
    # the joint top-k is sorted and the coordinates are the partition's class coordinates
    assert np.all(np.diff(a.scores, axis=1) <= 0)
    assert np.array_equal(a.coords, model.partition.class_coords[a.classes])


def test_dnc_confidence_is_zero_when_groups_agree():
    from vprkit_dnc.classifier import group_spread

    pts = np.array([[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], [[0, 0], [20, 0], [0, 20], [20, 20]]])
    assert group_spread(pts).tolist() == pytest.approx([0.0, np.sqrt(200.0)])


def test_edited_model_directory_is_refused(tiny_vpr_dataset, tmp_path):
    model = create_classifier("dnc", backbone="tinycnn")
    from vprkit.training.recipe import fit_partition, load_train_split

    model.build(fit_partition("dnc", model.config.partition, load_train_split(tiny_vpr_dataset)))
    model.save(tmp_path / "m")
    cfg = (tmp_path / "m" / "config.yaml").read_text().replace("s: 100.0", "s: 64.0")
    (tmp_path / "m" / "config.yaml").write_text(cfg)
    with pytest.raises(DataError, match="edited"):
        type(model).load(tmp_path / "m")


def test_cosplace_trains_and_discards_heads(tiny_vpr_dataset, tmp_path):
    overrides = [
        *FAST,
        "fc_output_dim=32",
        "partition.M=20",
        "partition.N=2",
        "partition.L=1",
        "partition.alpha=360",
        "partition.groups_num=2",
        "training.epochs=2",
    ]
    model = train_model("retriever", "cosplace", tiny_vpr_dataset, tmp_path / "cp", overrides=overrides)
    assert model.training_summary["partition"]["num_groups"] == 2
    from safetensors.torch import load_file

    keys = load_file(str(tmp_path / "cp" / "weights.safetensors"))
    assert all(k.startswith("net.") for k in keys)  # heads are not part of the retriever
    desc = model.encode(torch.randn(2, 3, 32, 32))
    assert desc.shape == (2, 32) and torch.allclose(desc.norm(dim=1), torch.ones(2), atol=1e-5)
    loaded = type(model).load(tmp_path / "cp")
    assert loaded.fingerprint() == model.fingerprint()


def test_config_resolution_and_paper_defaults():
    dnc = resolve_training_config("classifier", "dnc")
    assert (dnc.s, dnc.m, dnc.easy_margin, dnc.score_mode) == (100.0, 0.2, True, "raw")
    assert (dnc.training.iterations_per_epoch, dnc.training.batch_size, dnc.training.backbone_lr) == (2000, 64, 1e-4)
    assert (dnc.training.head_lr, dnc.training.plateau_patience, dnc.partition.M, dnc.partition.N) == (
        0.01,
        10,
        20.0,
        2,
    )
    cp = resolve_training_config("retriever", "cosplace", overrides=["training.epochs=3"])
    assert (cp.s, cp.m, cp.fc_output_dim, cp.backbone) == (30.0, 0.4, 512, "resnet18")
    assert (cp.training.iterations_per_epoch, cp.training.batch_size, cp.training.backbone_lr) == (10_000, 32, 1e-5)
    assert cp.training.epochs == 3 and cp.partition.groups_num == 8


def test_cosplace_needs_headings(tmp_path):
    from PIL import Image

    from vprkit.data.filenames import format_filename

    folder = tmp_path / "images" / "train"
    folder.mkdir(parents=True)
    for i in range(12):
        Image.new("RGB", (8, 8)).save(
            folder / format_filename(549000.0 + i, 4178000.0, 10, "S", 37.7, -122.4, ext=".png")
        )
    with pytest.raises(DataError, match="heading"):
        train_model("retriever", "cosplace", tmp_path, tmp_path / "out", overrides=FAST)
    assert create_retriever("cosplace", backbone="tinycnn", fc_output_dim=16).descriptor_dim == 16
