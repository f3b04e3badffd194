"""CosPlace partition: hand-worked classes and groups, N·N·L groups, heading wrap, missing headings."""

import numpy as np
import pytest

from vprkit import create_partitioner
from vprkit.errors import DataError


def test_known_points_give_known_classes_and_groups():
    # M=10, α=30, N=5, L=2. (15, 25, 45°) → cell (1, 2, 1): group ((1·5)+2)·2 + 1 = 15.
    # (3, 3, 359°) → (0, 0, 11): group (0·5+0)·2 + 11 mod 2 = 1. (3, 3, -1°) wraps to 359° → same class.
    east = np.array([15.0, 3.0, 3.0])
    north = np.array([25.0, 3.0, 3.0])
    heading = np.array([45.0, 359.0, -1.0])
    part = create_partitioner("cosplace", min_images_per_class=1, groups_num=None).fit(east, north, heading)
    np.testing.assert_array_equal(part.class_keys, [[0, 0, 330], [10, 20, 30]])
    np.testing.assert_array_equal(part.group_of_class, [1, 15])
    np.testing.assert_array_equal(part.train_labels, [1, 0, 0])
    np.testing.assert_array_equal(part.class_coords, [[5, 5], [15, 25]])
    assert part.num_groups == 50
    labels, groups = part.assign(np.array([19.0, 9.0, 9.0]), np.array([29.0, 0.5, 0.5]), np.array([59.9, 330.0, 720.0]))
    assert labels.tolist() == [1, 0, -1] and groups.tolist() == [15, 1, -1]  # 720° wraps to 0° → bin 0: not a class


def test_groups_cover_every_combination_and_first_groups_are_kept():
    rng = np.random.default_rng(0)
    east, north, heading = rng.uniform(0, 100, 60000), rng.uniform(0, 100, 60000), rng.uniform(0, 360, 60000)
    full = create_partitioner("cosplace", groups_num=None, min_images_per_class=1).fit(east, north, heading)
    assert sorted(set(full.group_of_class.tolist())) == list(range(5 * 5 * 2))
    cells = np.column_stack([full.class_keys[:, 0] / 10, full.class_keys[:, 1] / 10, full.class_keys[:, 2] / 30]).astype(int)
    expected = ((cells[:, 0] % 5) * 5 + cells[:, 1] % 5) * 2 + cells[:, 2] % 2
    np.testing.assert_array_equal(full.group_of_class, expected)
    kept = create_partitioner("cosplace", min_images_per_class=1).fit(east, north, heading)
    assert kept.num_groups == 8 and set(kept.group_of_class.tolist()) == set(range(8))
    assert kept.num_classes == int((full.group_of_class < 8).sum())
    assert kept.dropped_by_reason["untrained_groups"] == int(full.class_counts[full.group_of_class >= 8].sum())


def test_missing_headings_are_a_clear_error():
    east, north = np.zeros(3), np.zeros(3)
    with pytest.raises(DataError, match="needs headings"):
        create_partitioner("cosplace").fit(east, north)
    with pytest.raises(DataError, match="no heading"):
        create_partitioner("cosplace").fit(east, north, np.array([0.0, np.nan, 1.0]))


def test_order_independent():
    rng = np.random.default_rng(2)
    east, north, heading = rng.uniform(0, 80, 8000), rng.uniform(0, 80, 8000), rng.uniform(0, 360, 8000)
    a = create_partitioner("cosplace").fit(east, north, heading)
    perm = rng.permutation(8000)
    b = create_partitioner("cosplace").fit(east[perm], north[perm], heading[perm])
    assert a.fingerprint() == b.fingerprint()
    np.testing.assert_array_equal(a.train_labels[perm], b.train_labels)
    np.testing.assert_array_equal(a.assign(east, north, heading)[0], a.train_labels)


def test_no_class_survives_gives_an_empty_partition():
    part = create_partitioner("cosplace").fit(np.array([1.0, 50.0]), np.array([1.0, 50.0]), np.array([0.0, 90.0]))
    assert part.num_classes == 0 and part.dropped == 2 and part.train_labels.tolist() == [-1, -1]
    assert part.assign(np.array([1.0]), np.array([1.0]), np.array([0.0]))[0].tolist() == [-1]
