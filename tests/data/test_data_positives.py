"""Positives within a radius: exact against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from vprkit.data.positives import positives_within
from vprkit.errors import DataError


def test_matches_brute_force():
    rng = np.random.default_rng(0)
    origin = np.array([550_000.0, 4_180_000.0])  # UTM-sized coordinates
    db = rng.uniform(0, 500, (3000, 2)) + origin
    q = rng.uniform(-30, 530, (300, 2)) + origin
    pos = positives_within(q, db, 25.0)
    d = np.linalg.norm(q[:, None] - db[None], axis=2)
    for i in range(len(q)):
        expect = np.flatnonzero(d[i] <= 25.0)
        got = pos[i]
        assert sorted(got.tolist()) == expect.tolist()
        assert np.all(np.diff(d[i, got]) >= 0)  # nearest first
    assert pos.counts.sum() == (d <= 25.0).sum()
    assert len(pos.as_list()) == 300 and len(pos.query_ids()) == len(pos.indices)


def test_no_positives_and_empty_inputs():
    pos = positives_within(np.array([[0.0, 0.0]]), np.array([[1000.0, 0.0]]))
    assert pos.counts.tolist() == [0] and pos.as_list()[0].size == 0
    assert len(positives_within(np.empty((0, 2)), np.array([[0.0, 0.0]]))) == 0


def test_nan_rows_are_refused():
    with pytest.raises(DataError, match="NaN"):
        positives_within(np.array([[np.nan, 0.0]]), np.array([[0.0, 0.0]]))


def test_groups_separate_zones():
    q = np.array([[500_000.0, 4_000_000.0]])
    db = np.array([[500_001.0, 4_000_000.0], [500_002.0, 4_000_000.0]])
    pos = positives_within(q, db, 25.0, query_groups=np.array(["10S"]), database_groups=np.array(["33U", "10S"]))
    assert pos[0].tolist() == [1]
    with pytest.raises(DataError, match="both"):
        positives_within(q, db, query_groups=np.array(["10S"]))
