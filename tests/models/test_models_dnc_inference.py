"""D&C inference by hand: joint top-K over all groups and the groups' agreement confidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vprkit.registry import create_classifier, create_partitioner


@pytest.fixture
def classifier():
    # 4 cells of 20 m in a 2×2 square → one class per group of the N = 2 partition
    cells = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    pts = np.repeat(cells * 20.0 + 10.0, 10, axis=0)
    part = create_partitioner("dnc", min_images_per_class=10).fit(pts[:, 0], pts[:, 1])
    clf = create_classifier("dnc", backbone="tinycnn", descriptor_dim=2).build(part)
    return clf


def test_joint_topk_uses_raw_prototype_scores(classifier):
    part = classifier.partition
    assert part.num_groups == 4 and [len(c) for c in classifier.group_classes] == [1, 1, 1, 1]
    # raw scores W x: prototype lengths matter (official inference), cosine ignores them
    protos = {0: [3.0, 0.0], 1: [0.0, 1.0], 2: [1.0, 1.0], 3: [-1.0, 0.0]}
    with torch.no_grad():
        for g, w in protos.items():
            classifier.heads[g].weight.copy_(torch.tensor([w]))
    x = torch.tensor([[0.6, 0.8]])
    pred = classifier.classify_descriptors(x, k=4)
    group_of = part.group_of_class[pred.classes[0]].tolist()
    assert group_of == [0, 2, 1, 3]  # scores 1.8, 1.4, 0.8, -0.6
    assert pred.scores[0].tolist() == pytest.approx([1.8, 1.4, 0.8, -0.6])
    assert np.array_equal(pred.coords[0], part.class_coords[pred.classes[0]])
    classifier.config.score_mode = "cosine"
    cos = classifier.classify_descriptors(x, k=2)
    assert part.group_of_class[cos.classes[0]].tolist() == [2, 1]  # cos 0.99, 0.8 beat 0.6
    # every group has one class, so the groups' top-1 coordinates are the 4 cell centres
    assert pred.confidence[0] == pytest.approx(np.sqrt(200.0))
    assert pred.abstain(10.0).tolist() == [True]


def test_k_is_capped_at_the_number_of_classes(classifier):
    pred = classifier.classify(torch.randn(2, 3, 32, 32), k=50)
    assert pred.classes.shape == (2, 4) and pred.coords.shape == (2, 4, 2) and pred.scores.dtype == np.float32
