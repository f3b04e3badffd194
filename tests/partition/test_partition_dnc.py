"""D&C partition: hand-worked cells and groups, non-adjacent groups, order independence, save/load."""

import numpy as np
import pytest

from vprkit import create_partitioner
from vprkit.partition import Partition


def test_known_points_give_known_cells_and_groups():
    # M=20: (5,5)→cell(0,0); (25,5)→cell(1,0); (-5,45)→cell(-1,2); (39.9,19.9)→cell(1,0).
    east = np.array([5.0, 25.0, -5.0, 39.9])
    north = np.array([5.0, 5.0, 45.0, 19.9])
    part = create_partitioner("dnc", M=20, N=2, min_images_per_class=1).fit(east, north)
    # Classes sorted by (cell_e, cell_n): (-1,2), (0,0), (1,0).
    np.testing.assert_array_equal(part.class_keys, [[-20, 40], [0, 0], [20, 0]])
    np.testing.assert_array_equal(part.train_labels, [1, 2, 0, 2])
    # group = (e mod 2)·2 + (n mod 2): (-1,2)→(1,0)→2, (0,0)→0, (1,0)→2.
    np.testing.assert_array_equal(part.group_of_class, [2, 0, 2])
    np.testing.assert_array_equal(part.class_coords, [[-10, 50], [10, 10], [30, 10]])
    np.testing.assert_array_equal(part.class_counts, [1, 1, 2])
    assert part.num_groups == 4 and part.classes_per_group.tolist() == [1, 0, 2, 0]
    labels, groups = part.assign(np.array([0.0, 21.0, 500.0]), np.array([19.99, 1.0, 500.0]))
    assert labels.tolist() == [1, 2, -1] and groups.tolist() == [0, 2, -1]


def test_min_images_drops_and_mean_mode():
    east = np.array([1.0, 3.0, 5.0, 30.0])
    north = np.array([1.0, 3.0, 8.0, 1.0])
    part = create_partitioner("dnc", min_images_per_class=2, coord_mode="mean").fit(east, north)
    assert part.num_classes == 1 and part.dropped == 1
    assert part.train_labels.tolist() == [0, 0, 0, -1]
    np.testing.assert_allclose(part.class_coords, [[3.0, 4.0]])


def test_no_two_cells_of_a_group_are_adjacent():
    rng = np.random.default_rng(0)
    part = create_partitioner("dnc", min_images_per_class=1).fit(rng.uniform(0, 400, 20000), rng.uniform(0, 400, 20000))
    cells = np.floor(part.class_keys / 20).astype(int)
    same = part.group_of_class[:, None] == part.group_of_class[None, :]
    chebyshev = np.abs(cells[:, None, :] - cells[None, :, :]).max(axis=2)
    np.fill_diagonal(same, False)
    assert part.num_classes == 400
    assert (chebyshev[same] >= 2).all()


def test_order_independent_and_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    east = 550000 + rng.normal(0, 100, 5000)
    north = 4180000 + rng.normal(0, 100, 5000)
    a = create_partitioner("dnc").fit(east, north)
    perm = rng.permutation(5000)
    b = create_partitioner("dnc").fit(east[perm], north[perm])
    assert a.fingerprint() == b.fingerprint()
    np.testing.assert_array_equal(a.train_labels[perm], b.train_labels)
    path = a.save(tmp_path / "dnc.npz")
    c = Partition.load(path)
    assert c.fingerprint() == a.fingerprint()
    np.testing.assert_array_equal(c.assign(east, north)[0], a.train_labels)
    assert c.summary() == a.summary()


def test_nan_coordinates_are_refused():
    from vprkit.errors import DataError

    with pytest.raises(DataError, match="NaN"):
        create_partitioner("dnc").fit(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
