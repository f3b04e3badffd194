"""PlaNet: one linear softmax head over the S2 cells, cross-entropy, cells ranked by log-probability."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from classifier_testdata import trained_classifier

from vprkit.training.api import resolve_training_config


def test_planet_paper_defaults():
    cfg = resolve_training_config("classifier", "planet")
    assert (cfg.partition.tau_min, cfg.partition.tau_max, cfg.partition.lvl_min, cfg.partition.coord_mode) == (
        100,
        2500,
        2,
        "mean",
    )
    assert (cfg.pretrained, cfg.training.batch_size, cfg.training.iterations_per_epoch) == (False, 64, 2000)
    assert (cfg.training.backbone_lr, cfg.training.head_lr, cfg.training.sampling) == (1e-4, 0.01, "class")


def test_planet_head_loss_and_ranking(synthcity_tiny, tmp_path_factory):
    model, _ = trained_classifier("planet", synthcity_tiny, tmp_path_factory)
    part = model.partition
    assert part.method == "s2" and len(model.heads) == 1 and model.heads[0].out_features == part.num_classes
    x = F.normalize(torch.randn(4, model.descriptor_dim, generator=torch.Generator().manual_seed(1)), dim=1)
    logits = model.heads[0](x)
    pred = model.classify_descriptors(x, 3)
    expected = torch.argsort(logits, dim=1, descending=True)[:, :3].numpy()
    assert np.array_equal(pred.classes, expected)
    np.testing.assert_allclose(np.exp(model.class_scores(x).detach().numpy()).sum(1), 1.0, rtol=1e-5)
    assert np.isnan(pred.confidence).all()

    from vprkit.training.recipe import load_train_split

    loss = model.loss_module(load_train_split(synthcity_tiny))
    rows = torch.from_numpy(np.flatnonzero(part.train_labels >= 0)[:4])
    want = F.cross_entropy(logits, torch.from_numpy(part.train_labels)[rows])
    assert torch.allclose(loss(x, rows), want)


def test_planet_image_sampling_draws_kept_images_only():
    from vprkit.training.data import sample_epoch
    from vprkit.training.joint import sampling_group

    labels = np.array([0, -1, 1, 1, 2, -1, 2])
    by_image = sampling_group(labels, 3, "image")
    assert by_image.n_classes == 1 and sorted(by_image.rows.tolist()) == [0, 2, 3, 4, 6]
    rows = sample_epoch(by_image, 500, seed=0, epoch=0).rows
    assert set(rows.tolist()) == {0, 2, 3, 4, 6}
    by_class = sampling_group(labels, 3, "class")
    assert by_class.offsets.tolist() == [0, 1, 3, 5]
