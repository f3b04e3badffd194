"""CosPlace partition: hand-worked classes and groups, N·N·L groups, heading wrap, missing headings."""

import numpy as np
import pytest

from vprkit import create_partitioner
from vprkit.errors import DataError


def test_known_points_give_known_classes_and_groups():
    # M=10, α=30, N=5, L=2. (15, 25, 45°) → cell (1, 2, 1): group tuple ((1·5)+2)·2 + 1 = 15.
    # (3, 3, 359°) → (0, 0, 11): tuple (0·5+0)·2 + 11 mod 2 = 1. (3, 3, -1°) wraps to 359° → same class.
    # Groups are numbered by first appearance: the first image's tuple 15 is group 0, tuple 1 group 1.
    east = np.array([15.0, 3.0, 3.0])
    north = np.array([25.0, 3.0, 3.0])
    heading = np.array([45.0, 359.0, -1.0])
    part = create_partitioner("cosplace", min_images_per_class=1, groups_num=None).fit(east, north, heading)
    np.testing.assert_array_equal(part.class_keys, [[0, 0, 330], [10, 20, 30]])
    np.testing.assert_array_equal(part.group_of_class, [1, 0])
    assert part.info["group_tuples"] == [15, 1]
    np.testing.assert_array_equal(part.train_labels, [1, 0, 0])
    np.testing.assert_array_equal(part.class_coords, [[5, 5], [15, 25]])
    assert part.num_groups == 2  # only the groups that have a class
    labels, groups = part.assign(np.array([19.0, 9.0, 9.0]), np.array([29.0, 0.5, 0.5]), np.array([59.9, 330.0, 720.0]))
    assert labels.tolist() == [1, 0, -1] and groups.tolist() == [0, 1, -1]  # 720° wraps to 0° → bin 0: not a class


def official_trained_groups(east, north, heading, M=10, alpha=30, N=5, L=2, min_images=10, groups_num=8):
    """The official CosPlace rule, re-written here from its description (a loop over images in
    file-list order): classes are (E, N, H) cell corners; a class survives with ≥ min_images
    images; groups are a dict of sets filled while walking the images, so their order is that of
    first appearance; the first groups_num are trained. Returns [set of class tuples] per group."""
    from collections import defaultdict

    ids = []
    for e, n, h in zip(east.tolist(), north.tolist(), heading.tolist()):
        ce, cn, ch = int(e // M * M), int(n // M * M), int(h // alpha * alpha)
        ids.append(((ce, cn, ch), (ce % (M * N) // M, cn % (M * N) // M, ch % (alpha * L) // alpha)))
    count = defaultdict(int)
    for class_id, _ in ids:
        count[class_id] += 1
    groups = defaultdict(set)
    for class_id, group_id in ids:
        if count[class_id] >= min_images:
            groups[group_id].add(class_id)
    return list(groups.values())[:groups_num]


@pytest.mark.parametrize("seed", [0, 1])
def test_trained_groups_are_the_official_first_appearing_ones(seed):
    rng = np.random.default_rng(seed)
    n = 30000
    east, north = rng.uniform(0, 150, n).round(2), rng.uniform(0, 150, n).round(2)  # ~11 images per class
    heading = rng.uniform(0, 360, n).round(1) % 360  # 360.0 would meet the documented wrap deviation
    official = official_trained_groups(east, north, heading)
    part = create_partitioner("cosplace").fit(east, north, heading)
    assert part.num_groups == 8
    ours = []
    for g in range(part.num_groups):
        keys = part.class_keys[part.group_of_class == g]
        ours.append({(int(e), int(nn), int(h)) for e, nn, h in keys})
    assert ours == official
    # not the lowest group tuples: with this geometry tuple 0 .. 7 is not the walk's order
    assert part.info["group_tuples"] != list(range(8))
    assert part.num_classes == sum(len(g) for g in official)


def test_groups_cover_every_combination():
    rng = np.random.default_rng(0)
    east, north, heading = rng.uniform(0, 100, 60000), rng.uniform(0, 100, 60000), rng.uniform(0, 360, 60000)
    full = create_partitioner("cosplace", groups_num=None, min_images_per_class=1).fit(east, north, heading)
    assert sorted(full.info["group_tuples"]) == list(range(5 * 5 * 2))
    cells = np.column_stack(
        [full.class_keys[:, 0] / 10, full.class_keys[:, 1] / 10, full.class_keys[:, 2] / 30]
    ).astype(int)
    expected = ((cells[:, 0] % 5) * 5 + cells[:, 1] % 5) * 2 + cells[:, 2] % 2
    np.testing.assert_array_equal(np.asarray(full.info["group_tuples"])[full.group_of_class], expected)
    kept = create_partitioner("cosplace", min_images_per_class=1).fit(east, north, heading)
    assert kept.num_groups == 8 and set(kept.group_of_class.tolist()) == set(range(8))
    first8 = np.isin(expected, full.info["group_tuples"][:8])
    assert kept.num_classes == int(first8.sum())
    assert kept.dropped_by_reason["untrained_groups"] == int(full.class_counts[~first8].sum())


def test_missing_headings_are_a_clear_error():
    east, north = np.zeros(3), np.zeros(3)
    with pytest.raises(DataError, match="needs headings"):
        create_partitioner("cosplace").fit(east, north)
    with pytest.raises(DataError, match="no heading"):
        create_partitioner("cosplace").fit(east, north, np.array([0.0, np.nan, 1.0]))


def test_only_the_walk_order_matters_not_the_input_order():
    rng = np.random.default_rng(2)
    east, north, heading = rng.uniform(0, 80, 8000), rng.uniform(0, 80, 8000), rng.uniform(0, 360, 8000)
    a = create_partitioner("cosplace").fit(east, north, heading)
    perm = rng.permutation(8000)
    b = create_partitioner("cosplace").fit(east[perm], north[perm], heading[perm], walk_order=perm)
    assert a.fingerprint() == b.fingerprint()
    np.testing.assert_array_equal(a.train_labels[perm], b.train_labels)
    np.testing.assert_array_equal(a.assign(east, north, heading)[0], a.train_labels)


def test_no_class_survives_gives_an_empty_partition():
    part = create_partitioner("cosplace").fit(np.array([1.0, 50.0]), np.array([1.0, 50.0]), np.array([0.0, 90.0]))
    assert part.num_classes == 0 and part.dropped == 2 and part.train_labels.tolist() == [-1, -1]
    assert part.assign(np.array([1.0]), np.array([1.0]), np.array([0.0]))[0].tolist() == [-1]
