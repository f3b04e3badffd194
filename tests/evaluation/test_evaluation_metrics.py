"""LR@N and R@N worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vprkit.errors import DataError
from vprkit.evaluation.metrics import first_hit_rank, localization_recall, recall_at_n


def test_lr_at_n_by_hand():
    truth = np.array([[0.0, 0.0], [100.0, 100.0], [500.0, 0.0]])
    pred = np.full((3, 3, 2), np.nan)
    pred[0] = [[10, 10], [1000, 0], [0, 0]]  # hit at rank 0 (14.1 m)
    pred[1] = [[0, 0], [100, 124], [100, 100]]  # hit at rank 1 (24 m)
    pred[2, 0] = [526, 0]  # 26 m: miss; the rest is padding
    assert first_hit_rank(pred, truth).tolist() == [0, 1, 3]
    assert localization_recall(pred, truth, ns=(1, 2, 5)) == pytest.approx({1: 100 / 3, 2: 200 / 3, 5: 200 / 3})


def test_radius_is_inclusive_and_configurable():
    truth = np.zeros((1, 2))
    pred = np.array([[[25.0, 0.0]]])
    assert localization_recall(pred, truth, ns=(1,))[1] == 100.0
    assert localization_recall(pred, truth, ns=(1,), radius=10)[1] == 0.0


def test_shape_errors_are_clear():
    with pytest.raises(DataError, match=r"\(Q, K, 2\)"):
        localization_recall(np.zeros((2, 2)), np.zeros((2, 2)))


def test_recall_at_n_with_csr_positives():
    pred = np.array([[5, 2, 7], [1, 3, -1], [0, 0, 0]])
    offsets = np.array([0, 2, 3, 3])  # q0: {7, 9}; q1: {3}; q2: none
    rows = np.array([7, 9, 3])
    assert recall_at_n(pred, offsets, rows, ns=(1, 2, 3)) == pytest.approx({1: 0.0, 2: 100 / 3, 3: 200 / 3})
