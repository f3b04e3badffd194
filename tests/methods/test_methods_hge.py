"""HGE: three heads (coarse, medium, fine), summed CEs, fine cells scored by summed log-softmax."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from classifier_testdata import trained_classifier

from vprkit.training.api import resolve_training_config


def test_hge_paper_defaults():
    cfg = resolve_training_config("classifier", "hge")
    p = cfg.partition
    assert (p.tau_min, p.tau_max_coarse, p.tau_max_medium, p.tau_max_fine) == (100, 10000, 5000, 2500)


def test_hierarchical_score_is_the_log_of_the_product_of_probabilities():
    from vprkit_hge.classifier import hierarchical_scores

    g = torch.Generator().manual_seed(0)
    coarse, medium, fine = (
        torch.randn(2, 2, generator=g),
        torch.randn(2, 3, generator=g),
        torch.randn(2, 5, generator=g),
    )
    columns = torch.tensor([[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [1, 2, 4]])
    got = hierarchical_scores([coarse, medium, fine], columns)
    p = [F.softmax(t, dim=1) for t in (coarse, medium, fine)]
    want = torch.log(p[0][:, columns[:, 0]] * p[1][:, columns[:, 1]] * p[2][:, columns[:, 2]])
    assert torch.allclose(got, want, atol=1e-6)
    # a confident coarse head outweighs a slightly preferred fine cell of the other branch
    logits = [torch.tensor([[5.0, 0.0]]), torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 0.0, 0.5, 0.0]])]
    assert int(hierarchical_scores(logits, columns).argmax()) in (0, 1, 2)


def test_hge_levels_loss_and_ranking(synthcity_tiny, tmp_path_factory):
    from vprkit_hge.classifier import level_columns

    from vprkit.training.recipe import load_train_split

    model, _ = trained_classifier("hge", synthcity_tiny, tmp_path_factory)
    part = model.partition
    sizes = [h.out_features for h in model.heads]
    assert sizes == [part.children["coarse"].num_classes, part.children["medium"].num_classes, part.num_classes]
    assert sizes[0] <= sizes[1] <= sizes[2]
    # the hierarchy (cell-id ancestry) agrees with where the coarser partitions put the same images
    cols = level_columns(part)
    kept = part.train_labels >= 0
    for level, child in enumerate(part.children.values()):
        assert np.array_equal(cols[part.train_labels[kept], level], child.train_labels[kept])

    x = F.normalize(torch.randn(4, model.descriptor_dim, generator=torch.Generator().manual_seed(2)), dim=1)
    rows = torch.from_numpy(np.flatnonzero(kept)[[0, 50, 100, 200]])
    loss = model.loss_module(load_train_split(synthcity_tiny))(x, rows)
    targets = torch.from_numpy(cols[part.train_labels[rows.numpy()]])
    want = sum(F.cross_entropy(h(x), targets[:, lvl]) for lvl, h in enumerate(model.heads))
    assert torch.allclose(loss, want)
    pred = model.classify_descriptors(x, part.num_classes)
    scores = model.class_scores(x)
    assert np.array_equal(pred.classes[:, 0], scores.argmax(1).numpy())
    # Σ_j exp(score_j) ≤ 1: a product of probabilities over nested cells, never raw logits
    assert torch.all(torch.exp(scores).sum(1) <= 1.0 + 1e-5)


class _Crash(Exception):
    pass


def test_joint_training_resumes_exactly_after_a_crash(synthcity_tiny, tmp_path_factory, tmp_path):
    """The joint trainer (all heads every step) keeps GroupTrainer's exact resume."""
    from classifier_testdata import FAST, TINY_PARTITIONS
    from vprkit_hge.classifier import HgeClassifier

    from vprkit.training.augment import train_transform
    from vprkit.training.joint import JointTrainer, RowImageDataset, sampling_group
    from vprkit.training.recipe import load_train_split

    model, _ = trained_classifier("hge", synthcity_tiny, tmp_path_factory)
    images = load_train_split(synthcity_tiny)
    cfg = resolve_training_config(
        "classifier",
        "hge",
        overrides=FAST
        + TINY_PARTITIONS["hge"]
        + ["training.epochs=2", "training.iterations_per_epoch=3", "training.checkpoint_every=2"],
    )

    def trainer(run_dir, seed=0, on_iteration=None):
        torch.manual_seed(seed)
        clf = HgeClassifier(cfg).build(model.partition)
        group = sampling_group(model.partition.train_labels, model.partition.num_classes, "class")
        data = RowImageDataset(images, train_transform("dnc", cfg.training.image_size))
        return clf, JointTrainer(
            clf.net, clf.loss_module(images), group, data, cfg.training, run_dir, on_iteration=on_iteration
        )

    a, trainer_a = trainer(tmp_path / "a")
    trainer_a.fit()

    def crash(epoch, iteration):
        if (epoch, iteration) == (1, 2):  # after the third step of epoch 1; last checkpoint after step 2
            raise _Crash()

    _, trainer_b = trainer(tmp_path / "b", on_iteration=crash)
    with pytest.raises(_Crash):
        trainer_b.fit()
    c, trainer_c = trainer(tmp_path / "b", seed=123)
    state = trainer_c.fit(resume=True)
    assert state["epoch"] == 2
    for x, y in zip(
        list(a.net.state_dict().values()) + list(a.heads.state_dict().values()),
        list(c.net.state_dict().values()) + list(c.heads.state_dict().values()),
    ):
        assert torch.equal(x, y)
    assert state["history"][1]["loss"] == trainer_a.state["history"][1]["loss"]
